package scim

import (
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestConcurrentProvisioners: 16 provisioners create users and change the same
// group's membership at once; nothing is lost and nothing is duplicated.
func TestConcurrentProvisioners(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		g := e.createGroup("Everyone")
		const workers, perWorker = 16, 12
		var wg sync.WaitGroup
		ids := make([][]string, workers)
		errs := make(chan string, workers*perWorker*3)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < perWorker; i++ {
					r := e.doAsync("POST", "/Users", fmt.Sprintf(`{"userName":"w%d-u%d@example.com","active":true}`, w, i))
					if r.status != 201 {
						errs <- fmt.Sprintf("create: %d %s", r.status, r.body)
						continue
					}
					id := r.json["id"].(string)
					ids[w] = append(ids[w], id)
					// Add every user; then remove every third one again, as a
					// remove-then-add delta with the next add in one request.
					body := `{"Operations":[{"op":"add","path":"members","value":[{"value":"` + id + `"}]}]}`
					if i%3 == 2 {
						prev := ids[w][i-1]
						body = `{"Operations":[{"op":"remove","path":"members[value eq \"` + prev + `\"]"},{"op":"add","path":"members","value":[{"value":"` + id + `"}]}]}`
					}
					if r := e.doAsync("PATCH", "/Groups/"+g, body); r.status != 204 {
						errs <- fmt.Sprintf("patch: %d %s", r.status, r.body)
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for m := range errs {
			t.Error(m)
		}
		want := map[string]bool{}
		for _, list := range ids {
			for i, id := range list {
				removed := i%3 == 1 // removed by the next request
				if !removed {
					want[id] = true
				}
			}
		}
		r := e.do("GET", "/Users?count=0", "").must(t, 200)
		if r.field("totalResults") != float64(workers*perWorker) { // the org admin is not the directory's
			t.Errorf("users: %v, want %d", r.field("totalResults"), workers*perWorker)
		}
		gr := e.do("GET", "/Groups/"+g, "").must(t, 200)
		got := map[string]bool{}
		for _, m := range gr.field("members").([]any) {
			id := m.(map[string]any)["value"].(string)
			if got[id] {
				t.Errorf("member %s twice", id)
			}
			got[id] = true
		}
		if len(got) != len(want) {
			t.Errorf("group has %d members, want %d", len(got), len(want))
		}
		for id := range want {
			if !got[id] {
				t.Errorf("member %s lost", id)
			}
		}
		wantVersion := fmt.Sprintf(`W/"%d"`, 1+workers*perWorker)
		if gr.field("meta.version") != wantVersion {
			t.Errorf("group version %v, want %s (one bump per PATCH)", gr.field("meta.version"), wantVersion)
		}
	})
}
