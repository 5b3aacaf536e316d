package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// phase collects the latencies and failures of one workload phase.
type phase struct {
	name  string
	pid   int // server process, for its CPU time
	cpu0  float64
	self0 float64
	mu    sync.Mutex
	lat   []time.Duration
	fails int
	first string
	start time.Time
	end   time.Time
}

// serverPID is the -pid of the run; newPhase reads its CPU time.
var serverPID int

func newPhase(name string) *phase {
	return &phase{name: name, start: time.Now(), pid: serverPID, cpu0: procCPU(serverPID), self0: selfCPU()}
}

// procCPU is a process's user+system CPU time in seconds (0 without a pid).
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func (p *phase) record(d time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lat = append(p.lat, d)
	if err != nil {
		p.fails++
		if p.first == "" {
			p.first = err.Error()
		}
	}
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}

// report prints one line: requests, throughput, p50/p99/max latency, failures.
func (p *phase) report() {
	if p.end.IsZero() {
		p.end = time.Now()
	}
	sort.Slice(p.lat, func(i, j int) bool { return p.lat[i] < p.lat[j] })
	el := p.end.Sub(p.start)
	rate := float64(len(p.lat)) / el.Seconds()
	fmt.Printf("%-34s %8d req %8.2fs %9.0f/s  p50 %7s ms  p99 %7s ms  max %7s ms  fail %d\n",
		p.name, len(p.lat), el.Seconds(), rate, ms(pct(p.lat, 0.5)), ms(pct(p.lat, 0.99)), ms(pct(p.lat, 1)), p.fails)
	if p.pid > 0 && len(p.lat) > 0 {
		srv := procCPU(p.pid) - p.cpu0
		cli := selfCPU() - p.self0
		fmt.Printf("    server CPU %.1fs (%.0f µs/request), bench client CPU %.1fs\n", srv, srv*1e6/float64(len(p.lat)), cli)
	}
	if p.first != "" {
		fmt.Printf("    first failure: %.300s\n", p.first)
	}
}

// rssWatcher samples a process's resident memory; VmHWM is the kernel's own peak.
type rssWatcher struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	peak int64 // kB, sampled
}

func watchRSS(pid int) *rssWatcher {
	w := &rssWatcher{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if v := procStatus(pid, "VmRSS"); v > w.peak {
				w.peak = v
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *rssWatcher) close() (sampledPeakKB, hwmKB int64) {
	close(w.stop)
	<-w.done
	return w.peak, procStatus(w.pid, "VmHWM")
}

func procStatus(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key+":") {
			f := strings.Fields(strings.TrimPrefix(line, key+":"))
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// phaseResult is one phase's figures, kept to compare targets and runs.
type phaseResult struct {
	name  string
	rate  float64
	p99   time.Duration
	fails int
}

// result is the phase's figures; call it after report (which sorts).
func (p *phase) result() phaseResult {
	return phaseResult{name: p.name, rate: float64(len(p.lat)) / p.end.Sub(p.start).Seconds(), p99: pct(p.lat, 0.99), fails: p.fails}
}

// compare prints, per phase, the median throughput and p99 of Gatehouse and of
// the reference over the runs, and Gatehouse's share of the reference's rate.
func compare(got, ref []phaseResult) {
	median := func(rs []phaseResult, name string) (rate float64, p99 time.Duration, n int) {
		var rates []float64
		var p99s []time.Duration
		for _, r := range rs {
			if r.name == name {
				rates, p99s = append(rates, r.rate), append(p99s, r.p99)
			}
		}
		if len(rates) == 0 {
			return 0, 0, 0
		}
		sort.Float64s(rates)
		sort.Slice(p99s, func(i, j int) bool { return p99s[i] < p99s[j] })
		return rates[len(rates)/2], p99s[len(p99s)/2], len(rates)
	}
	fmt.Printf("\n%-40s %12s %12s %7s %12s %12s\n", "phase (medians)", "gatehouse/s", "reference/s", "share", "gh p99 ms", "ref p99 ms")
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.name] {
			continue
		}
		seen[r.name] = true
		gr, gp, runs := median(got, r.name)
		rr, rp, _ := median(ref, r.name)
		share := 0.0
		if rr > 0 {
			share = gr / rr
		}
		fmt.Printf("%-40s %12.0f %12.0f %7.2f %12s %12s  (%d runs)\n", r.name, gr, rr, share, ms(gp), ms(rp), runs)
	}
}
