// Package benchcpu reports a benchmark's CPU time per op. On a shared, busy
// machine wall time measures the neighbours as much as the code, and a server
// whose every core is busy serves at the rate its CPU per request allows.
package benchcpu

import (
	"syscall"
	"testing"
)

// PerOp reports the process's CPU time (user and system, every goroutine) per op
// beside the wall time, from when it is called to when the returned function is.
func PerOp(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
