package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // -pprof
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/scim"
)

// runHarness serves the SCIM handler on the real server (probes, request log, body
// limit, timeouts) over a store, creating an org, a directory and a SCIM token.
func runHarness(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	dsn := fs.String("db", "sqlite:gatehouse-bench.db", "database DSN")
	addr := fs.String("addr", "127.0.0.1:8088", "listen address")
	slug := fs.String("org", "bench", "organization slug (created if missing)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		return err
	}
	sys := core.Actor{Kind: core.ActorSystem, Name: "gatehouse-bench"}
	org, err := s.GetOrg(ctx, *slug)
	if err != nil {
		if org, _, err = s.CreateOrg(ctx, sys, *slug, "Bench", "admin@"+*slug+".example.com"); err != nil {
			return err
		}
	}
	dt, err := ops.New(s).ProvisionDirectory(ctx, sys, org.ID, "bench", "bench")
	if err != nil {
		return err
	}
	fmt.Println(dt.Token.Secret)
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }() // DefaultServeMux: pprof only
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := scim.NewHandler(s, logger)
	st, ok := any(s).(server.Pinger)
	if !ok {
		return fmt.Errorf("store cannot ping")
	}
	return server.New(server.Config{Addr: *addr}, st, logger, h).Run(ctx)
}
