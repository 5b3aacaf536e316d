// Command gatehouse-bench drives a running Gatehouse server through a workload and
// prints throughput and latency per phase. Modes:
//
//	gatehouse-bench scim    -url http://127.0.0.1:8080 -token SECRET -n 100000 -c 16 [-pid PID]
//	gatehouse-bench harness -db sqlite:/tmp/bench.db -addr 127.0.0.1:8088
//	gatehouse-bench api     [-db postgres://…] [-size issue10|small] [-d 10s] [-c 16]
//
// "api" seeds issue 10's world and measures POST /api/v1/check on a server it
// starts in a process of its own (this binary's "api-server" mode, rate limits
// off), beside a fixed-answer handler driven by the same client: the first check
// of an unloaded org, the first pass over 100,000 distinct questions, warm checks
// at c=16 and c=1, the same under a SCIM writer at 10 and 100 changes a second,
// batches of 1,000 right after a membership change, and the server's RSS.
//
// "harness" runs the real internal/server with the SCIM handler mounted and prints a
// fresh SCIM token, for as long as `gatehouse serve` does not mount SCIM itself.
// More modes (an "api" mode) are added to the modes table.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

type mode struct {
	help string
	run  func(ctx context.Context, args []string) error
}

var modes = map[string]mode{
	"scim":    {"provisioning workload against /scim/v2", runSCIM},
	"harness": {"serve SCIM on the real server for benchmarking", runHarness},
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gatehouse-bench MODE [flags]; modes:")
	var names []string
	for n := range modes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, modes[n].help)
	}
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		usage()
		os.Exit(2)
	}
	m, ok := modes[os.Args[1]]
	if !ok {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-bench:", err)
		os.Exit(1)
	}
}
