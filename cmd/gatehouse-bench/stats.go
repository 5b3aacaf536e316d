package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// phase collects the latencies and failures of one workload phase.
type phase struct {
	name  string
	mu    sync.Mutex
	lat   []time.Duration
	fails int
	first string
	start time.Time
	end   time.Time
}

func newPhase(name string) *phase { return &phase{name: name, start: time.Now()} }

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
