package index

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestWithFactsAreFacts: the Facts WithFacts builds in reused memory equal those
// Facts returns (nil and empty alike), for every user and workspace of a world as
// it changes, asked in turn so that each call reuses what the last one built.
func TestWithFactsAreFacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Backends()[0].New(t)
	w := newWorld(t, st, 7)
	ix := New(st, Options{})
	w.seed()
	compared := 0
	for step := range 40 {
		for range 3 {
			name, _ := w.randomOp()
			_ = w.op(name)
		}
		gen, err := st.OrgGeneration(ctx, w.org)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ix.At(ctx, w.org, gen)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range append(slices.Clone(w.users), w.goneUsers...) {
			for _, ws := range append(slices.Clone(w.workspaces), w.goneWorkspaces...) {
				want, wantErr := v.Facts(u, ws)
				called := false
				err := v.WithFacts(u, ws, func(f *core.Facts) {
					called = true
					if !reflect.DeepEqual(f, want) {
						t.Fatalf("step %d: WithFacts(%s, %s):\n got %+v\nwant %+v", step, u, ws, *f, *want)
					}
				})
				if (err == nil) != (wantErr == nil) || called != (wantErr == nil) {
					t.Fatalf("step %d: WithFacts(%s, %s): %v (called %v), Facts: %v", step, u, ws, err, called, wantErr)
				}
				if called {
					compared++
				}
			}
		}
	}
	if compared < 1000 {
		t.Fatalf("only %d facts compared", compared)
	}
}
