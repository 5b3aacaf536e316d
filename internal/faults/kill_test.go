package faults

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// acked is what the server acknowledged with a 2xx: it must survive anything.
type acked struct {
	mu      sync.Mutex
	users   map[string]string // userName -> id
	members map[string][]string
}

func (a *acked) user(name, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users[name] = id
}

func (a *acked) member(gid, uid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.members[gid] = append(a.members[gid], uid)
}

func (a *acked) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.users)
}

// provision runs SCIM clients until ctx ends or the server stops answering: each
// creates users and adds every one it created to a group, recording the 2xx answers.
func provision(ctx context.Context, c *http.Client, base, token string, groups []string, n int, seq *atomic.Int64, got *acked) (served *atomic.Int64, wg *sync.WaitGroup) {
	wg, served = &sync.WaitGroup{}, &atomic.Int64{}
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k := seq.Add(1)
				name := fmt.Sprintf("u%07d@acme.test", k)
				r := do(c, "POST", base+"/scim/v2/Users", token, scimType, newUserBody(name))
				if r.err != nil && r.status == 0 {
					return // the server is gone
				}
				if r.status/100 != 2 {
					continue
				}
				got.user(name, idOf(r.body))
				served.Add(1)
				uid := idOf(r.body)
				if uid == "" {
					continue // the body was cut short by the kill: the create still counts
				}
				gid := groups[k%int64(len(groups))]
				r = do(c, "PATCH", base+"/scim/v2/Groups/"+gid, token, scimType, addMemberBody(uid))
				if r.err != nil && r.status == 0 {
					return
				}
				if r.status/100 == 2 {
					got.member(gid, uid)
				}
			}
		}()
	}
	return served, wg
}

// TestSIGKILLDuringSCIMLoad kills serve with SIGKILL in the middle of a SCIM
// provisioning load on SQLite, several times over one database file, and checks
// after each restart: PRAGMA integrity_check is ok, every user and membership that
// got a 2xx is there (read back over SCIM), and every user is whole.
func TestSIGKILLDuringSCIMLoad(t *testing.T) {
	needBinary(t)
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	dsn := "sqlite:" + path
	scimTok, _ := setupOrg(t, dsn)
	c := httpClient(64)

	srv := serve(t, dsn)
	var groups []string
	for i := 0; i < 4; i++ {
		r := do(c, "POST", srv.base+"/scim/v2/Groups", scimTok, scimType, jsonBody(map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": fmt.Sprintf("team-%d", i),
		}))
		if r.status != 201 {
			t.Fatalf("create group: %d %v %s", r.status, r.err, r.body)
		}
		groups = append(groups, idOf(r.body))
	}
	got := &acked{users: map[string]string{}, members: map[string][]string{}}
	var seq atomic.Int64
	nRounds, load, nWorkers := size(rounds, 2, 10), size(loadFor, time.Second, 10*time.Second), size(workers, 8, 32)
	for round := 0; round < nRounds; round++ {
		if round > 0 {
			srv = serve(t, dsn)
		}
		ctx, cancel := context.WithCancel(context.Background())
		before := got.count()
		served, wg := provision(ctx, c, srv.base, scimTok, groups, nWorkers, &seq, got)
		// Kill after the load time, once some writes were acknowledged this round.
		deadline := time.Now().Add(load)
		for time.Now().Before(deadline) || served.Load() < 20 {
			if time.Since(deadline) > 30*time.Second {
				t.Fatalf("round %d: only %d writes acknowledged", round, served.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		srv.signal(t, syscall.SIGKILL)
		srv.wait(t, 10*time.Second)
		cancel()
		wg.Wait()
		t.Logf("round %d: killed after %d acknowledged creates (%d in all)", round, got.count()-before, got.count())

		if err := store.IntegrityCheck(context.Background(), path); err != nil {
			t.Fatalf("round %d: integrity check after SIGKILL: %v", round, err)
		}
	}

	srv = serve(t, dsn)
	got.mu.Lock()
	defer got.mu.Unlock()
	// Read every acknowledged user back over SCIM, by filter, with the load's clients.
	names := make(chan string)
	var vg sync.WaitGroup
	for w := 0; w < nWorkers; w++ {
		vg.Add(1)
		go func() {
			defer vg.Done()
			for name := range names {
				if n := findUserE(c, srv.base, scimTok, name); n != 1 {
					t.Errorf("acknowledged user %s: %d found", name, n)
				}
			}
		}()
	}
	for name := range got.users {
		names <- name
	}
	close(names)
	vg.Wait()
	nMembers := 0
	for _, gid := range groups {
		have := groupMembers(t, c, srv.base, scimTok, gid)
		for _, uid := range got.members[gid] {
			nMembers++
			if !have[uid] {
				t.Errorf("acknowledged membership %s in %s is lost", uid, gid)
			}
		}
	}
	srv.stop(t)
	cnt := checkWhole(t, dsn)
	t.Logf("%d rounds: %d acknowledged users and %d memberships all present; %d users in the database, all whole",
		nRounds, len(got.users), nMembers, cnt.users)
}
