package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/webhooks/webhookstest"
)

// TestServeDeliversWebhooks: serve runs a deliverer and stops it in its drain;
// the URL policy is strict unless its flags say otherwise.
func TestServeDeliversWebhooks(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.test")
			tok := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "api", "--name", "app"))
			rc := webhookstest.New(t, time.Now)
			call := func(base, method, path string, body any) (int, map[string]any) {
				t.Helper()
				raw, _ := json.Marshal(body)
				req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				out := map[string]any{}
				b, _ := io.ReadAll(res.Body)
				json.Unmarshal(b, &out)
				return res.StatusCode, out
			}

			// By default: https to public addresses only.
			srv := startServe(t, "--db", b.dsn)
			if code, p := call(srv.base, "POST", "/api/v1/webhooks", map[string]any{"url": rc.URL()}); code != 422 || !strings.Contains(p["detail"].(string), "must use https://") {
				t.Fatalf("http to loopback by default: %d %v", code, p)
			}
			if err := srv.stop(t); err != nil {
				t.Fatal(err)
			}

			srv = startServe(t, "--db", b.dsn, "--webhook-allow-http-loopback", "--webhook-timeout", "2s")
			if code, p := call(srv.base, "POST", "/api/v1/webhooks", map[string]any{"url": "https://10.1.1.1/"}); code != 422 || !strings.Contains(p["detail"].(string), "private") {
				t.Fatalf("a private target with loopback allowed: %d %v", code, p)
			}
			code, hook := call(srv.base, "POST", "/api/v1/webhooks", map[string]any{"url": rc.URL(), "event_types": []string{"group.created"}})
			if code != 201 {
				t.Fatalf("create: %d %v", code, hook)
			}
			rc.SetSecret(hook["secret"].(string))
			if code, _ := call(srv.base, "POST", "/api/v1/groups", map[string]any{"name": "engineers"}); code != 201 {
				t.Fatalf("group: %d", code)
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				got, _, bad := rc.Snapshot()
				if len(bad) != 0 {
					t.Fatalf("refused deliveries: %v", bad)
				}
				if len(got) == 1 && got[0].Type == "group.created" && got[0].Data["name"] == "engineers" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("received %v", got)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := srv.stop(t); err != nil {
				t.Fatal(err)
			}
			var started, stopped bool
			for _, l := range logLines(t, srv.logs) {
				started = started || l["msg"] == "webhook deliverer started" && l["allow_http_loopback"] == true && l["attempt_timeout"] == "2s"
				stopped = stopped || l["msg"] == "webhook deliverer stopped"
			}
			if !started || !stopped {
				t.Fatalf("the deliverer's start and stop are not logged:\n%s", srv.logs)
			}
		})
	}
}
