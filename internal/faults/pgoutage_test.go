package faults

import (
	"fmt"
	"net/url"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// outcome is one SCIM create as the load saw it.
type outcome struct {
	start time.Time
	r     reply
	name  string
}

// TestPostgresOutage: serve reaches PostgreSQL through a proxy the test cuts (every
// connection dropped, new ones refused) for a few seconds in the middle of a SCIM
// load. During the outage SCIM answers 503 in SCIM error JSON, fast; /readyz fails;
// afterwards the same process answers 2xx again by itself; every acknowledged user
// is there and every user is whole. With -faults.pg-restart the real server is
// restarted too (scripts/faults.sh --pg-restart).
func TestPostgresOutage(t *testing.T) {
	needBinary(t)
	t.Parallel()
	t.Run("ProxyCut", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		u, _ := url.Parse(dsn)
		p := storetest.NewCutProxy(t, u.Host)
		via := *u
		via.Host = p.Addr()
		q := via.Query()
		q.Set("connect_timeout", "2")
		via.RawQuery = q.Encode()
		outage := size(outageFor, 3*time.Second, 20*time.Second)
		pgFault(t, dsn, via.String(), true, func() {
			p.Cut()
			time.Sleep(outage)
			p.Restore(t)
		})
	})
	if *pgRestart != "" {
		t.Run("RealRestart", func(t *testing.T) {
			dsn := storetest.PostgresDSN(t)
			pgFault(t, dsn, dsn, false, func() {
				out, err := exec.Command("sh", "-c", *pgRestart).CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v\n%s", *pgRestart, err, out)
				}
			})
		})
	}
}

// pgFault runs a SCIM load against serve on serveDSN, calls fault in the middle of
// it, and checks the answers, the recovery and the database (through dsn).
func pgFault(t *testing.T, dsn, serveDSN string, want503 bool, fault func()) {
	scimTok, _ := setupOrg(t, dsn)
	srv := serve(t, serveDSN)
	c := httpClient(64)
	load := size(loadFor, time.Second, 10*time.Second)

	var (
		mu       sync.Mutex
		outcomes []outcome
		seq      atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for w := 0; w < size(workers, 8, 32); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				name := fmt.Sprintf("u%07d@acme.test", seq.Add(1))
				start := time.Now()
				r := do(c, "POST", srv.base+"/scim/v2/Users", scimTok, scimType, newUserBody(name))
				mu.Lock()
				outcomes = append(outcomes, outcome{start: start, r: r, name: name})
				mu.Unlock()
				if r.status == 503 {
					time.Sleep(20 * time.Millisecond) // as a SCIM client backs off
				}
			}
		}()
	}
	time.Sleep(load)
	faultStart := time.Now()
	readyDuring := make(chan int, 1)
	go func() {
		// /readyz while the fault lasts (for the cut: the database is unreachable).
		time.Sleep(500 * time.Millisecond)
		r := do(c, "GET", srv.base+"/readyz", "", "", nil)
		readyDuring <- r.status
	}()
	fault()
	faultEnd := time.Now()
	// Recovery, by the same process: 2xx again within 15 s.
	recovered := time.Time{}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		for _, o := range outcomes {
			if o.start.After(faultEnd) && o.r.status == 201 {
				recovered = o.start
				break
			}
		}
		mu.Unlock()
		if !recovered.IsZero() {
			break
		}
	}
	time.Sleep(load / 2)
	stop.Store(true)
	wg.Wait()
	if recovered.IsZero() {
		t.Fatal("no 2xx within 15 s after the database came back: the server did not recover")
	}
	if !srv.running() {
		t.Fatal("serve exited during the outage")
	}
	if r := do(c, "GET", srv.base+"/readyz", "", "", nil); r.status != 200 {
		t.Errorf("/readyz after recovery: %d", r.status)
	}
	if st := <-readyDuring; want503 && st != 503 {
		t.Errorf("/readyz during the outage: %d; want 503", st)
	}

	var ok, unavailable, slowest int
	var worst time.Duration
	acked := []string{}
	for _, o := range outcomes {
		switch {
		case o.r.err != nil:
			t.Errorf("%s: transport error %v after %s: the server must answer", o.name, o.r.err, o.r.took)
		case o.r.status == 201:
			ok++
			acked = append(acked, o.name)
		case o.r.status == 503:
			unavailable++
			if !scimError(o.r.body, 503) {
				t.Errorf("503 without SCIM error JSON: %s", o.r.body)
			}
			if o.r.took > worst {
				worst = o.r.took
			}
			if o.r.took > 5*time.Second {
				slowest++
			}
		default:
			t.Errorf("%s: %d %s; want 201 or 503", o.name, o.r.status, o.r.body)
		}
	}
	if slowest > 0 {
		t.Errorf("%d answers of 503 took over 5 s (client timeout 15 s): an outage must fail fast", slowest)
	}
	if want503 && unavailable == 0 {
		t.Error("no request saw the outage")
	}
	for _, name := range acked {
		if findUser(t, c, srv.base, scimTok, name) != 1 {
			t.Errorf("acknowledged user %s is missing", name)
		}
	}
	srv.stop(t)
	cnt := checkWhole(t, dsn)
	t.Logf("fault lasted %s; %d created, %d answered 503 (slowest %s); recovered %s after; %d users, all whole",
		faultEnd.Sub(faultStart).Round(time.Millisecond), ok, unavailable, worst.Round(time.Millisecond), recovered.Sub(faultEnd).Round(time.Millisecond), cnt.users)
}
