package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The sizes default to a CI run of well under a minute; scripts/faults.sh passes
// -faults.long and may override each one.
var (
	long      = flag.Bool("faults.long", false, "run the long version (the defaults below grow)")
	loadFor   = flag.Duration("faults.load", 0, "load before each fault (default 1s; long 10s)")
	rounds    = flag.Int("faults.rounds", 0, "SIGKILL rounds on one SQLite file (default 2; long 10)")
	outageFor = flag.Duration("faults.outage", 0, "how long PostgreSQL stays unreachable (default 3s; long 20s)")
	workers   = flag.Int("faults.workers", 0, "concurrent clients (default 8; long 32)")
	floodN    = flag.Int("faults.flood", 0, "random bad requests per endpoint (default 40; long 2000)")
	pgRestart = flag.String("faults.pg-restart", "", "shell command that restarts the PostgreSQL server itself (e.g. 'pg_ctlcluster 16 main restart'); "+
		"when set, TestPostgresOutage also runs a real restart. Never in CI: the cluster is shared")
)

func size[T comparable](v *T, short, longer T) T {
	var zero T
	if *v != zero {
		return *v
	}
	if *long {
		return longer
	}
	return short
}

// binary is the gatehouse binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips: no binary
	}
	dir, err := os.MkdirTemp("", "gatehouse-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "the fault tests build gatehouse with the go command, which is not on PATH")
		os.RemoveAll(dir)
		os.Exit(1)
	}
	build := exec.Command(goTool, "build", "-o", binary, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needBinary skips a test under -short, where TestMain builds nothing.
func needBinary(t *testing.T) {
	t.Helper()
	if binary == "" {
		t.Skip("fault tests are skipped under -short")
	}
}

// secretKey seals SSO secrets; PostgreSQL has no key file next to the database.
const secretKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// cli runs one gatehouse command and returns its stdout.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// setupOrg creates the org acme with a SCIM token (directory okta) and an API token.
func setupOrg(t *testing.T, dsn string) (scimTok, apiTok string) {
	t.Helper()
	cli(t, "org", "create", "--db", dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.test")
	scimTok = lastLine(cli(t, "token", "create", "--db", dsn, "--org", "acme", "--kind", "scim", "--name", "okta", "--external-url", "http://127.0.0.1:8080"))
	apiTok = lastLine(cli(t, "token", "create", "--db", dsn, "--org", "acme", "--kind", "api", "--name", "app"))
	return scimTok, apiTok
}

// server is a `gatehouse serve` subprocess.
type server struct {
	cmd    *exec.Cmd
	base   string
	logs   *syncBuf
	exited chan struct{} // closed when the process is reaped; err holds Wait's result
	err    error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve starts the binary on a free loopback port and waits for its "listening" line.
func serve(t *testing.T, dsn string, extra ...string) *server {
	t.Helper()
	// The load here is one token's, many times what an IdP sends: serve's default
	// limits would throttle it, so they are raised explicitly (a test's own flags
	// come after and win).
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", dsn, "--secret-key", secretKey,
		"--rate-limit-scim", "1000000/s", "--rate-limit-api", "1000000/s", "--rate-limit-ip", "1000000/s"}, extra...)
	s := &server{cmd: exec.Command(binary, args...), logs: &syncBuf{}, exited: make(chan struct{})}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.Write([]byte(line + "\n"))
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "listening" {
				select {
				case addr <- m["addr"].(string):
				default:
				}
			}
		}
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("serve log (last 40 lines):\n%s", tail(s.logs.String(), 40))
		}
	})
	select {
	case a := <-addr:
		s.base = "http://" + a
		return s
	case <-s.exited:
		t.Fatalf("serve exited before listening: %v\n%s", s.err, s.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not listen within 30s:\n%s", s.logs)
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// signal sends sig to the process (SIGKILL, SIGTERM).
func (s *server) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (s *server) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("serve did not exit within %s", within)
		return -1
	}
}

func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and checks a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM", code)
	}
}

// reply is one HTTP exchange as the client saw it.
type reply struct {
	status int
	body   []byte
	header http.Header
	err    error // transport error, or a body cut short
	took   time.Duration
}

// httpClient is a client with a timeout well above what any answer should take, so
// that a hang shows as an error rather than a stuck test.
func httpClient(conns int) *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

// do sends one request; the body is read in full (a short read is an error).
func do(c *http.Client, method, url, token, ctype string, body io.Reader, hdr ...string) reply {
	start := time.Now()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return reply{err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, body: raw, header: resp.Header, err: err, took: time.Since(start)}
}

func jsonBody(v any) io.Reader {
	raw, _ := json.Marshal(v)
	return bytes.NewReader(raw)
}

const scimType = "application/scim+json"

func newUserBody(userName string) io.Reader {
	return jsonBody(map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName, "active": true,
		"emails": []map[string]any{{"value": userName, "primary": true}},
	})
}

func addMemberBody(userID string) io.Reader {
	return jsonBody(map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "add", "path": "members", "value": []map[string]string{{"value": userID}}}},
	})
}

// idOf reads "id" from a JSON body.
func idOf(body []byte) string {
	var m struct {
		ID string `json:"id"`
	}
	json.Unmarshal(body, &m)
	return m.ID
}

// scimError checks a body is RFC 7644 error JSON with the given status.
func scimError(body []byte, status int) bool {
	var m struct {
		Schemas []string `json:"schemas"`
		Status  string   `json:"status"`
	}
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	return len(m.Schemas) == 1 && m.Schemas[0] == "urn:ietf:params:scim:api:messages:2.0:Error" && m.Status == fmt.Sprint(status)
}

// findUser asks SCIM for a userName and returns how many match.
func findUser(t *testing.T, c *http.Client, base, token, userName string) int {
	t.Helper()
	n := findUserE(c, base, token, userName)
	if n < 0 {
		t.Fatalf("find %s: SCIM did not answer a list", userName)
	}
	return n
}

// findUserE is findUser for other goroutines: -1 when SCIM did not answer a list.
func findUserE(c *http.Client, base, token, userName string) int {
	q := `userName eq "` + userName + `"`
	r := do(c, "GET", base+"/scim/v2/Users?filter="+url.QueryEscape(q), token, "", nil)
	var lr struct {
		TotalResults int `json:"totalResults"`
	}
	if r.err != nil || r.status != 200 || json.Unmarshal(r.body, &lr) != nil {
		return -1
	}
	return lr.TotalResults
}

// groupMembers reads a SCIM group's member ids.
func groupMembers(t *testing.T, c *http.Client, base, token, gid string) map[string]bool {
	t.Helper()
	r := do(c, "GET", base+"/scim/v2/Groups/"+gid, token, "", nil)
	if r.err != nil || r.status != 200 {
		t.Fatalf("group %s: %d %v %s", gid, r.status, r.err, r.body)
	}
	var g struct {
		Members []struct {
			Value string `json:"value"`
		} `json:"members"`
	}
	if err := json.Unmarshal(r.body, &g); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range g.Members {
		out[m.Value] = true
	}
	return out
}

// counts are the rows the bad-input flood must not change.
// Refused sign-ins are audited (sso.login_refused) by design: they are counted apart.
type counts struct{ users, groups, idpGroups, members, audit, refusals int }

// checkWhole opens the database directly and checks that every user has its
// user.create audit event and every IdP group membership its members.change event:
// a write is the row and its audit event in one transaction, so a row without its
// event is a partial write. It returns the row counts.
func checkWhole(t *testing.T, dsn string) counts {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := s.DB()
	var orphans int
	if err := db.GetContext(ctx, &orphans, `SELECT COUNT(*) FROM users WHERE id NOT IN
		(SELECT target_id FROM audit_events WHERE action = 'user.create')`); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d users have no user.create audit event: partial writes", orphans)
	}
	// SCIM group writes: each bumps the group's version with one idp_group.update
	// event in the same transaction, the count of members added in its details.
	var groups []struct {
		ID      string `db:"id"`
		Version int    `db:"version"`
	}
	if err := db.SelectContext(ctx, &groups, `SELECT id, version FROM idp_groups`); err != nil {
		t.Fatal(err)
	}
	var events []struct {
		Action  string `db:"action"`
		Target  string `db:"target_id"`
		Details string `db:"details"`
	}
	if err := db.SelectContext(ctx, &events, `SELECT action, target_id, details FROM audit_events WHERE target_kind = 'idp_group'`); err != nil {
		t.Fatal(err)
	}
	type tally struct {
		created           bool
		updates, added    int
		removedOrReplaced bool
	}
	byGroup := map[string]*tally{}
	for _, e := range events {
		g := byGroup[e.Target]
		if g == nil {
			g = &tally{}
			byGroup[e.Target] = g
		}
		var d struct {
			Added    int  `json:"members_added"`
			Removed  int  `json:"members_removed"`
			Replaced bool `json:"members_replaced"`
			Members  int  `json:"members"`
		}
		json.Unmarshal([]byte(e.Details), &d)
		switch e.Action {
		case "idp_group.create":
			g.created, g.added = true, g.added+d.Members
		case "idp_group.update", "idp_group.members.change":
			g.updates++
			g.added += d.Added
			g.removedOrReplaced = g.removedOrReplaced || d.Removed > 0 || d.Replaced
		}
	}
	var members []struct {
		Group string `db:"idp_group_id"`
		User  string `db:"user_id"`
	}
	if err := db.SelectContext(ctx, &members, `SELECT idp_group_id, user_id FROM idp_group_members`); err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{}
	for _, m := range members {
		rows[m.Group]++
	}
	for _, g := range groups {
		tl := byGroup[g.ID]
		if tl == nil || !tl.created {
			t.Errorf("group %s has no idp_group.create audit event: a partial write", g.ID)
			continue
		}
		if tl.updates != g.Version-1 {
			t.Errorf("group %s is at version %d but has %d update events: a partial write", g.ID, g.Version, tl.updates)
		}
		if !tl.removedOrReplaced && tl.added != rows[g.ID] {
			t.Errorf("group %s has %d member rows but its events added %d: a partial write", g.ID, rows[g.ID], tl.added)
		}
	}
	var c counts
	for q, dst := range map[string]*int{
		`SELECT COUNT(*) FROM users`: &c.users, `SELECT COUNT(*) FROM user_groups`: &c.groups,
		`SELECT COUNT(*) FROM idp_groups`:                                       &c.idpGroups,
		`SELECT COUNT(*) FROM audit_events WHERE action <> 'sso.login_refused'`: &c.audit,
		`SELECT COUNT(*) FROM audit_events WHERE action = 'sso.login_refused'`:  &c.refusals,
	} {
		if err := db.GetContext(ctx, dst, q); err != nil {
			t.Fatal(err)
		}
	}
	c.members = len(members)
	return c
}
