package gatehouse_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// proposalsExample extracts the proposals program of docs/applications.md: the go
// code block that starts with its command comment.
func proposalsExample(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile("docs/applications.md")
	if err != nil {
		t.Fatal(err)
	}
	const open = "```go\n// Command gatehouse-proposals"
	_, rest, ok := bytes.Cut(doc, []byte(open))
	if !ok {
		t.Fatal("docs/applications.md has no proposals example (a go block starting with // Command gatehouse-proposals)")
	}
	code, _, ok := bytes.Cut(rest, []byte("\n```\n"))
	if !ok {
		t.Fatal("the proposals example's code block does not end")
	}
	return append([]byte("// Command gatehouse-proposals"), append(code, '\n')...)
}

// TestApplicationsGuideProposalsExample compiles the guide's proposals program as
// it stands on the page and runs it against a real API: a Draft Contributor's
// edit is proposed, approved on behalf of a publisher, applied and reported; a
// Viewer is told why not; a review by a Viewer is refused with its reason.
func TestApplicationsGuideProposalsExample(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), proposalsExample(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/gatehouse-proposals\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool builds the guide's example: %v", err)
	}
	bin := filepath.Join(dir, "gatehouse-proposals")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the guide's example does not build: %v\n%s", err, out)
	}

	e := apitest.NewEnv(t, storetest.Backend{Name: "sqlite", New: storetest.NewSQLite})
	e.API("POST", "/api/v1/workspaces", map[string]any{"slug": "analytics", "environments": []string{"development", "production"}}).Want(t, 201)
	for _, p := range []struct{ name, role string }{{"dana", "draft_contributor"}, {"paul", "editor"}, {"vic", "viewer"}} {
		u := e.User(p.name)
		e.API("POST", "/api/v1/groups", map[string]any{"name": p.name + "s"}).Want(t, 201)
		e.API("PUT", "/api/v1/groups/"+p.name+"s/members/"+u.ID, nil).Want(t, 204)
		e.API("POST", "/api/v1/grants", map[string]any{"group": p.name + "s", "workspace": "analytics", "role": p.role}).Want(t, 201)
	}
	e.API("POST", "/api/v1/workspaces/analytics/resources", map[string]any{"type": "model", "id": "m-42", "environment": "production"}).Want(t, 201)

	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, append([]string{"-workspace", "analytics", "-model", "m-42", "-wait", "3s"}, args...)...)
		cmd.Env = append(os.Environ(), "GATEHOUSE_URL="+e.Srv.URL, "GATEHOUSE_TOKEN="+e.Token)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	out, code := run("-author", "dana@acme.test", "-reviewer", "paul@acme.test")
	for _, want := range []string{"decision: draft_only", "proposed: ", "approved: applying", "applied: "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("the example (exit %d) did not print %q:\n%s", code, want, out)
		}
	}
	ps, err := e.St.ListProposals(context.Background(), e.Org.ID, store.ProposalQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].State != store.ProposalApplied || !strings.HasPrefix(ps[0].Reference, "deploy-") || !strings.Contains(string(ps[0].Payload), "where paid") {
		t.Fatalf("after the example: %+v", ps)
	}
	// A Viewer is told why not, and proposes nothing.
	if out, code := run("-author", "vic@acme.test"); code != 1 || !strings.Contains(out, "decision: deny (role_forbids)") || !strings.Contains(out, "why: user") {
		t.Fatalf("a Viewer (exit %d):\n%s", code, out)
	}
	// A Viewer's review is refused with its reason; the proposal waits.
	if out, code := run("-author", "dana@acme.test", "-reviewer", "vic@acme.test"); code != 2 || !strings.Contains(out, "review refused: role_forbids") ||
		!strings.Contains(out, "still open") {
		t.Fatalf("a Viewer's review (exit %d):\n%s", code, out)
	}
}
