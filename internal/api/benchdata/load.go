package benchdata

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Load is one closed-loop load run: Concurrency workers, each sending its next
// request as soon as the previous answer is read, over keep-alive connections.
type Load struct {
	URL         string // full URL to POST to
	Token       string
	Concurrency int
	Duration    time.Duration
	// Body returns the JSON body of the worker's n-th request.
	Body func(worker, n int) []byte
	// Requests, when set, ends the run after that many requests instead of after
	// Duration, and n is then the request's number in the whole run (0 to
	// Requests-1, each once): a pass over a set of questions.
	Requests int
}

// Result sums up a run.
type Result struct {
	Requests, Errors int
	Elapsed          time.Duration
	PerSecond        float64
	P50, P99, Max    time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("%d requests (%d errors) in %v: %.0f/s, p50 %v, p99 %v, max %v",
		r.Requests, r.Errors, r.Elapsed.Round(time.Millisecond), r.PerSecond, r.P50, r.P99, r.Max)
}

// Run drives the load and measures every request's latency.
func (l Load) Run(ctx context.Context) (Result, error) {
	tr := &http.Transport{MaxIdleConns: l.Concurrency * 2, MaxIdleConnsPerHost: l.Concurrency * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		wg       sync.WaitGroup
		errs     atomic.Int64
		mu       sync.Mutex
		all      []time.Duration
		firstErr error
	)
	deadline := time.Now().Add(l.Duration)
	if l.Requests > 0 {
		deadline = time.Now().Add(24 * time.Hour)
	}
	var issued atomic.Int64
	start := time.Now()
	for w := range l.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<14)
			for n := 0; time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				if l.Requests > 0 {
					if n = int(issued.Add(1) - 1); n >= l.Requests {
						break
					}
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(l.Body(w, n)))
				req.Header.Set("Content-Type", "application/json")
				if l.Token != "" {
					req.Header.Set("Authorization", "Bearer "+l.Token)
				}
				t0 := time.Now()
				res, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if err == nil && res.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				lat = append(lat, time.Since(t0))
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(all) == 0 {
		return Result{}, fmt.Errorf("no request completed")
	}
	slices.Sort(all)
	q := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	r := Result{Requests: len(all), Errors: int(errs.Load()), Elapsed: elapsed, PerSecond: float64(len(all)) / elapsed.Seconds(),
		P50: q(0.50), P99: q(0.99), Max: all[len(all)-1]}
	if firstErr != nil {
		return r, fmt.Errorf("%d requests failed, the first with: %w", r.Errors, firstErr)
	}
	return r, nil
}

// FixedAnswer is the reference: a Go handler that reads the body and returns a
// constant decision, the fastest any check endpoint could be on this machine.
func FixedAnswer() http.Handler {
	answer := []byte(`{"decision":"allow","reason":"allowed","message":"fixed","explanation":[]}` + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	})
}
