package gatehouse_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
)

// guideExample extracts the complete Go program of docs/applications.md: the go
// code block that starts with its command comment.
func guideExample(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile("docs/applications.md")
	if err != nil {
		t.Fatal(err)
	}
	const open = "```go\n// Command gatehouse-events"
	_, rest, ok := bytes.Cut(doc, []byte(open))
	if !ok {
		t.Fatal("docs/applications.md has no example program (a go block starting with // Command gatehouse-events)")
	}
	code, _, ok := bytes.Cut(rest, []byte("\n```\n"))
	if !ok {
		t.Fatal("the example program's code block does not end")
	}
	return append([]byte("// Command gatehouse-events"), append(code, '\n')...)
}

// example is the guide's program running as a subprocess: its output lines
// (one per event; logs on stderr).
type example struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr chan string
}

func startExample(t *testing.T, bin, mode string, env ...string) *example {
	t.Helper()
	cmd := exec.Command(bin, mode)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ex := &example{cmd: cmd, lines: make(chan string, 100), stderr: make(chan string, 100)}
	for r, ch := range map[io.Reader]chan string{stdout: ex.lines, stderr: ex.stderr} {
		go func() {
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				ch <- sc.Text()
			}
			close(ch)
		}()
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return ex
}

// next returns the program's next output line.
func (ex *example) next(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatal("the example program stopped writing")
		}
		return l
	case <-time.After(15 * time.Second):
		t.Fatal("the example program wrote nothing for 15 s")
	}
	return ""
}

// stop sends SIGTERM and wants a clean exit.
func (ex *example) stop(t *testing.T) {
	t.Helper()
	ex.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- ex.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the example program exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the example program did not stop on SIGTERM")
	}
}

// TestApplicationsGuideExample compiles the guide's example program from the
// guide (go vet too) and runs it against a real API and deliverer: in stream
// mode it prints the events its filter keeps and, restarted, goes on from its
// saved cursor; in webhook mode it prints verified deliveries once each and
// refuses forged, stale and replayed ones.
func TestApplicationsGuideExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), guideExample(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/gatehouse-events\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "gatehouse-events")
	for _, args := range [][]string{{"vet", "."}, {"build", "-o", bin, "."}} {
		cmd := exec.Command(goTool, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s of the guide's example: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	e := apitest.NewWebhookEnv(t, storetest.Backend{Name: "sqlite", New: storetest.NewSQLite})
	group := func(name string) {
		t.Helper()
		e.API("POST", "/api/v1/groups", map[string]any{"name": name}).Want(t, 201)
	}
	gen := func() int64 {
		t.Helper()
		g, err := e.St.OrgGeneration(context.Background(), e.Org.ID)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	wantLine := func(ex *example, typ string) string {
		t.Helper()
		l := ex.next(t, ex.lines)
		if f := strings.Fields(l); len(f) != 4 || f[1] != typ {
			t.Fatalf("the example printed %q, want a %s event", l, typ)
		}
		return l
	}

	// Stream mode: the existing user.created, then groups as they come (the
	// long poll), with the cursor saved in the file.
	cursor := filepath.Join(dir, "cursor")
	streamEnv := []string{"GATEHOUSE_URL=" + e.Srv.URL, "GATEHOUSE_TOKEN=" + e.Token, "CURSOR_FILE=" + cursor, "EVENT_TYPES=group.*,user.*"}
	ex := startExample(t, bin, "stream", streamEnv...)
	wantLine(ex, "user.created")
	group("one")
	group("two")
	wantLine(ex, "group.created")
	wantLine(ex, "group.created")
	last := gen()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(cursor); strings.TrimSpace(string(b)) == strconv.FormatInt(last, 10) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(cursor)
			t.Fatalf("the cursor file holds %q, want %d", b, last)
		}
	}
	ex.stop(t)
	// Restarted, it goes on from the cursor: only what came since.
	group("three")
	ex = startExample(t, bin, "stream", streamEnv...)
	if l := wantLine(ex, "group.created"); !strings.HasPrefix(l, strconv.FormatInt(last+1, 10)+" ") {
		t.Fatalf("after a restart the example printed %q, want the event at seq %d", l, last+1)
	}
	ex.stop(t)
	// A cursor Gatehouse never gave is a permanent error, said clearly.
	os.WriteFile(cursor, []byte("999999\n"), 0o644)
	bad := exec.Command(bin, "stream")
	bad.Env = append(os.Environ(), streamEnv...)
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "past the end of the stream") {
		t.Fatalf("a bad cursor: %v\n%s", err, out)
	}

	// Webhook mode: the program verifies the deliveries of a real deliverer.
	hook := e.API("POST", "/api/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/", "event_types": []string{"group.*"}}).Want(t, 201)
	secret := hook.Str("secret")
	ex = startExample(t, bin, "webhook", "GATEHOUSE_WEBHOOK_SECRET="+secret, "LISTEN=127.0.0.1:0")
	l := ex.next(t, ex.stderr)
	_, addr, ok := strings.Cut(l, "listening on ")
	if !ok {
		t.Fatalf("the example logged %q, not its address", l)
	}
	endpoint := "http://" + addr + "/webhooks/gatehouse"
	e.API("PATCH", "/api/v1/webhooks/"+hook.Str("id"), map[string]any{"url": endpoint}).Want(t, 200)
	d, err := webhooks.New(webhooks.Options{Store: e.St, Secrets: storetest.Box(t), Policy: webhooks.Policy{AllowHTTPLoopback: true}, Logger: apitest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	group("four")
	group("five")
	if _, err := d.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantLine(ex, "group.created")
	wantLine(ex, "group.created")
	ds := e.API("GET", "/api/v1/webhooks/"+hook.Str("id")+"/deliveries", nil).Want(t, 200).Items()
	if len(ds) != 2 || ds[0]["outcome"] != "delivered" || ds[1]["outcome"] != "delivered" {
		t.Fatalf("deliveries: %v", ds)
	}

	// Forged, stale and replayed deliveries, sent by hand.
	evs, err := e.St.Changes(context.Background(), e.Org.ID, gen()-1, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("last event: %v %v", evs, err)
	}
	body := []byte(fmt.Sprintf(`{"id":%q,"seq":%d,"type":"group.created","target":{"kind":"group","id":"x"}}`, evs[0].ID, evs[0].Seq))
	key, err := webhooks.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	post := func(id, signedID string, ts int64, keys [][]byte) int {
		t.Helper()
		req, _ := http.NewRequest("POST", endpoint, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhooks.HeaderID, id)
		req.Header.Set(webhooks.HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(webhooks.HeaderSignature, webhooks.Sign(keys, signedID, ts, body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	now := time.Now().Unix()
	other := []byte("0123456789abcdef0123456789abcdef")
	for _, c := range []struct {
		name         string
		code         int
		id, signedID string
		ts           int64
		keys         [][]byte
	}{
		{"another key", 401, "new-id", "new-id", now, [][]byte{other}},
		{"stale", 401, "new-id", "new-id", now - 600, [][]byte{key}},
		{"signed for another id", 401, "new-id", "other-id", now, [][]byte{key}},
		{"a repeat of a handled event", 204, evs[0].ID, evs[0].ID, now, [][]byte{key}},
		{"two signatures, one good (a rotation)", 204, evs[0].ID, evs[0].ID, now, [][]byte{other, key}},
		{"a good delivery of a new event", 204, "brand-new-id", "brand-new-id", now, [][]byte{key}},
	} {
		if got := post(c.id, c.signedID, c.ts, c.keys); got != c.code {
			t.Errorf("%s: %d, want %d", c.name, got, c.code)
		}
	}
	// Only the new delivery was handled; the refused ones are logged.
	wantLine(ex, "group.created")
	ex.stop(t)
	if l, ok := <-ex.lines; ok {
		t.Fatalf("the example handled a delivery it should have refused or ignored: %q", l)
	}
}
