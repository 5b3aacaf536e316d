package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDrains sends SIGTERM to serve in the middle of a load of concurrent
// SCIM requests, some of them slow uploads still sending their body. Every request
// the server accepted (it logged it, by the X-Request-Id the client chose) reached
// the client whole, with the status logged and a body that parses; the slow
// uploads all finish with 201 after the signal; requests the server never accepted
// fail at the client and are not in the log; the process exits 0 within the
// shutdown timeout (20 s).
func TestSIGTERMDrains(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	scimTok, _ := setupOrg(t, dsn)
	srv := serve(t, dsn)
	c := httpClient(64)

	type result struct {
		id, name string
		slow     bool
		r        reply
		end      time.Time
	}
	var (
		mu      sync.Mutex
		results []result
		seq     atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
		started sync.WaitGroup
	)
	record := func(res result) {
		res.end = time.Now()
		mu.Lock()
		results = append(results, res)
		mu.Unlock()
	}
	// Slow uploads: the body trickles in for a second longer than the load runs before
	// SIGTERM, so the signal arrives in the middle of every one.
	const slow = 4
	before := size(loadFor, 400*time.Millisecond, 10*time.Second)
	chunks := int((before + time.Second) / (150 * time.Millisecond))
	for i := 0; i < slow; i++ {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("slow-%d", i)
			name := fmt.Sprintf("slow%d@acme.test", i)
			pr, pw := io.Pipe()
			go func() {
				pw.Write([]byte("{"))
				started.Done()
				for k := 0; k < chunks; k++ {
					time.Sleep(150 * time.Millisecond)
					pw.Write([]byte(strings.Repeat(" ", 100)))
				}
				raw, _ := io.ReadAll(newUserBody(name))
				pw.Write(raw[1:])
				pw.Close()
			}()
			record(result{id: id, name: name, slow: true, r: do(c, "POST", srv.base+"/scim/v2/Users", scimTok, scimType, pr, "X-Request-Id", id)})
		}()
	}
	for w := 0; w < size(workers, 8, 32); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				k := seq.Add(1)
				id := fmt.Sprintf("fast-%d", k)
				res := result{id: id}
				if k%2 == 0 {
					res.r = do(c, "GET", srv.base+"/scim/v2/Users?count=20", scimTok, "", nil, "X-Request-Id", id)
				} else {
					res.name = fmt.Sprintf("u%07d@acme.test", k)
					res.r = do(c, "POST", srv.base+"/scim/v2/Users", scimTok, scimType, newUserBody(res.name), "X-Request-Id", id)
				}
				record(res)
				if res.r.err != nil {
					return // the server stopped accepting: this client gives up
				}
			}
		}()
	}
	started.Wait()
	time.Sleep(before) // the uploads are under way, the load is running
	sigterm := time.Now()
	srv.signal(t, syscall.SIGTERM)
	code := srv.wait(t, 25*time.Second)
	took := time.Since(sigterm)
	stop.Store(true)
	wg.Wait()
	if code != 0 {
		t.Fatalf("serve exited %d after SIGTERM", code)
	}
	if took > 20*time.Second {
		t.Errorf("serve took %s to drain; the shutdown timeout is 20 s", took)
	}

	logged := map[string]int{}
	for _, l := range strings.Split(srv.logs.String(), "\n") {
		var m struct {
			Msg    string `json:"msg"`
			ID     string `json:"request_id"`
			Status int    `json:"status"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && m.Msg == "request" {
			logged[m.ID] = m.Status
		}
	}
	var accepted, refused, afterSignal int
	var slowUsers []string
	for _, res := range results {
		status, ok := logged[res.id]
		switch {
		case ok && res.r.err != nil:
			t.Errorf("%s: the server answered %d but the client got %v: the response was cut", res.id, status, res.r.err)
		case ok && res.r.status != status:
			t.Errorf("%s: logged %d, client got %d", res.id, status, res.r.status)
		case ok:
			accepted++
			if !json.Valid(res.r.body) {
				t.Errorf("%s: %d with a body that is not whole JSON: %.200q", res.id, res.r.status, res.r.body)
			}
			if res.r.status/100 != 2 {
				t.Errorf("%s: %d %s", res.id, res.r.status, res.r.body)
			}
			if res.end.After(sigterm) {
				afterSignal++
			}
		case res.r.err == nil:
			t.Errorf("%s: the client got %d but the server never logged the request", res.id, res.r.status)
		default:
			refused++ // never accepted: the listener was closed
		}
		if res.slow {
			if res.r.status != http.StatusCreated || idOf(res.r.body) == "" || !res.end.After(sigterm) {
				t.Errorf("slow upload %s: %d %v %s (ended %s after SIGTERM); want 201, drained", res.id, res.r.status, res.r.err, res.r.body, res.end.Sub(sigterm))
			}
			slowUsers = append(slowUsers, res.name)
		}
	}
	t.Logf("SIGTERM: exit 0 after %s; %d requests answered whole (%d finished after the signal), %d refused before acceptance",
		took.Round(time.Millisecond), accepted, afterSignal, refused)

	srv = serve(t, dsn)
	for _, name := range slowUsers {
		if findUser(t, c, srv.base, scimTok, name) != 1 {
			t.Errorf("drained upload %s is not in the database", name)
		}
	}
	srv.stop(t)
	checkWhole(t, dsn)
}
