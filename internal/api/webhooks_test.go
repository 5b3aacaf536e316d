package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks/webhookstest"
)

func receivedTypes(rc *webhookstest.Receiver) []string {
	got, _, _ := rc.Snapshot()
	var out []string
	for _, e := range got {
		out = append(out, e.Type)
	}
	return out
}

// TestWebhooksAPI: create (secret shown once), read, change, refuse what the
// network policy refuses without changing anything, rotate, see deliveries and a
// dead letter made by a real deliverer, redeliver it from the API, delete; members
// and other orgs are kept out.
func TestWebhooksAPI(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewWebhookEnv(t, b)
		ctx := context.Background()
		rc := webhookstest.New(t, time.Now)
		auditLen := func() int {
			evs, err := e.St.ListAudit(ctx, e.Org.ID, store.AuditQuery{Page: store.Page{Limit: store.MaxLimit}})
			if err != nil {
				t.Fatal(err)
			}
			return len(evs)
		}

		// Refused URLs: a clear reason, and nothing written.
		before := auditLen()
		for url, want := range map[string]string{
			"https://10.0.0.7/hook":          "private address",
			"https://169.254.169.254/":       "link-local",
			"http://example.com/hook":        "https://",
			"https://[fd00::1]/hook":         "unique local",
			"https://0.0.0.0/hook":           "never allowed",
			"https://224.0.0.1/hook":         "multicast",
			"https://100.64.0.1/hook":        "carrier-grade NAT",
			"https://[::ffff:10.0.0.1]/hook": "private address",
		} {
			r := e.API("POST", "/api/v1/webhooks", map[string]any{"url": url}).Want(t, 422)
			if !strings.Contains(r.Str("detail"), want) {
				t.Errorf("%s: %s, want %q", url, r.Raw, want)
			}
		}
		e.API("POST", "/api/v1/webhooks", map[string]any{"url": rc.URL(), "event_types": []string{"user.nope"}}).Want(t, 422)
		e.API("POST", "/api/v1/webhooks", map[string]any{"url": rc.URL(), "secret": "mine"}).Want(t, 400)
		if n := len(e.API("GET", "/api/v1/webhooks", nil).Want(t, 200).Items()); n != 0 || auditLen() != before {
			t.Fatalf("refused creates left %d webhooks and %d audit events", n, auditLen()-before)
		}

		created := e.API("POST", "/api/v1/webhooks", map[string]any{"url": rc.URL(), "event_types": []string{"group.*"}, "description": "app"}).Want(t, 201)
		id, secret := created.Str("id"), created.Str("secret")
		if id == "" || !strings.HasPrefix(secret, "whsec_") || created.Body["active"] != true || created.Body["cursor"].(float64) != float64(gen(t, e)) {
			t.Fatalf("created: %s", created.Raw)
		}
		rc.SetSecret(secret)
		got := e.API("GET", "/api/v1/webhooks/"+id, nil).Want(t, 200)
		list := e.API("GET", "/api/v1/webhooks", nil).Want(t, 200)
		for _, raw := range [][]byte{got.Raw, list.Raw} {
			if strings.Contains(string(raw), secret) || strings.Contains(string(raw), `"secret"`) {
				t.Fatalf("the secret is shown again: %s", raw)
			}
		}
		if got.Str("url") != rc.URL() || got.Str("description") != "app" {
			t.Fatalf("get: %s", got.Raw)
		}

		// A change to a refused URL is refused whole: the description stays too.
		v := got.Body["version"]
		r := e.API("PATCH", "/api/v1/webhooks/"+id, map[string]any{"url": "https://192.168.0.10/", "description": "moved"}).Want(t, 422)
		if !strings.Contains(r.Str("detail"), "private address") {
			t.Fatalf("patch refused: %s", r.Raw)
		}
		if g := e.API("GET", "/api/v1/webhooks/"+id, nil).Want(t, 200); g.Body["version"] != v || g.Str("description") != "app" {
			t.Fatalf("a refused change changed: %s", g.Raw)
		}
		e.API("PATCH", "/api/v1/webhooks/"+id, map[string]any{"event_types": []string{"*"}}).Want(t, 422)
		e.API("POST", "/api/v1/webhooks/"+id+"/rotate", map[string]any{"overlap_seconds": 700000}).Want(t, 422)

		// A real deliverer on a clock the test moves: a receiver that fails turns
		// the event into a dead letter after the retry window.
		clk := webhookstest.NewClock(time.Now())
		d, err := webhooks.New(webhooks.Options{Store: e.St, Secrets: storetest.Box(t), Policy: webhooks.Policy{AllowHTTPLoopback: true},
			Logger: apitest.Logger(t), Now: clk.Now, BackoffBase: time.Second, RetryWindow: time.Minute, AttemptTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		rc.SetStatus(http.StatusServiceUnavailable)
		e.API("POST", "/api/v1/groups", map[string]any{"name": "first"}).Want(t, 201)
		failing := gen(t, e)
		webhookstest.RunOnce(t, d)
		clk.Add(2 * time.Minute)
		webhookstest.RunOnce(t, d)
		dls := e.API("GET", "/api/v1/webhooks/"+id+"/dead-letters", nil).Want(t, 200).Items()
		if len(dls) != 1 || dls[0]["seq"].(float64) != float64(failing) || dls[0]["attempts"].(float64) != 2 || dls[0]["last_status"].(float64) != 503 {
			t.Fatalf("dead letters: %v", dls)
		}
		ds := e.API("GET", "/api/v1/webhooks/"+id+"/deliveries", nil).Want(t, 200).Items()
		if len(ds) != 2 || ds[0]["outcome"] != "dead_lettered" || ds[1]["outcome"] != "failed" || ds[1]["status"].(float64) != 503 {
			t.Fatalf("deliveries: %v", ds)
		}
		p1 := e.API("GET", "/api/v1/webhooks/"+id+"/deliveries?limit=1", nil).Want(t, 200)
		p2 := e.API("GET", "/api/v1/webhooks/"+id+"/deliveries?limit=1&after="+p1.Str("next"), nil).Want(t, 200)
		if p1.Items()[0]["id"] != ds[0]["id"] || p2.Items()[0]["id"] != ds[1]["id"] {
			t.Fatalf("delivery pages: %s %s", p1.Raw, p2.Raw)
		}

		// Redelivered from the API once the receiver is back, with the events
		// that came since.
		rc.SetStatus(0) // 204
		e.API("POST", "/api/v1/groups", map[string]any{"name": "second"}).Want(t, 201)
		seq := strconv.FormatInt(failing, 10)
		e.API("POST", "/api/v1/webhooks/"+id+"/dead-letters/999999/redeliver", nil).Want(t, 404)
		e.API("POST", "/api/v1/webhooks/"+id+"/dead-letters/x/redeliver", nil).Want(t, 400)
		rd := e.API("POST", "/api/v1/webhooks/"+id+"/dead-letters/"+seq+"/redeliver", nil).Want(t, 202)
		if rd.Str("redeliver_requested_at") == "" {
			t.Fatalf("redeliver: %s", rd.Raw)
		}
		if n := len(e.API("GET", "/api/v1/webhooks/"+id+"/dead-letters?pending=true", nil).Want(t, 200).Items()); n != 1 {
			t.Fatalf("%d pending redeliveries", n)
		}
		webhookstest.RunOnce(t, d)
		if got := receivedTypes(rc); len(got) != 2 || got[0] != "group.created" || got[1] != "group.created" {
			t.Fatalf("received %v", got)
		}
		dls = e.API("GET", "/api/v1/webhooks/"+id+"/dead-letters", nil).Want(t, 200).Items()
		if dls[0]["redelivered_at"] == nil || dls[0]["redeliver_requested_at"] != nil {
			t.Fatalf("after the redelivery: %v", dls)
		}
		if r := e.API("GET", "/api/v1/webhooks/"+id+"/deliveries?seq="+seq, nil).Want(t, 200).Items(); len(r) != 3 || r[0]["redelivery"] != true || r[0]["outcome"] != "delivered" {
			t.Fatalf("attempts at %s: %v", seq, r)
		}

		// Rotation: the new secret once, and the old one still signs alongside.
		rot := e.API("POST", "/api/v1/webhooks/"+id+"/rotate", map[string]any{"overlap_seconds": 3600}).Want(t, 200)
		if rot.Str("secret") == secret || !strings.HasPrefix(rot.Str("secret"), "whsec_") || rot.Str("previous_secret_expires_at") == "" {
			t.Fatalf("rotate: %s", rot.Raw)
		}
		e.API("POST", "/api/v1/groups", map[string]any{"name": "third"}).Want(t, 201)
		webhookstest.RunOnce(t, d) // the receiver still checks with the old secret
		rc.SetSecret(rot.Str("secret"))
		e.API("POST", "/api/v1/groups", map[string]any{"name": "fourth"}).Want(t, 201)
		webhookstest.RunOnce(t, d)
		if got, _, bad := rc.Snapshot(); len(got) != 4 || len(bad) != 0 {
			t.Fatalf("after rotation received %v, refused %v", got, bad)
		}

		// Pause and resume.
		if p := e.API("PATCH", "/api/v1/webhooks/"+id, map[string]any{"active": false}).Want(t, 200); p.Body["active"] != false {
			t.Fatalf("pause: %s", p.Raw)
		}
		e.API("POST", "/api/v1/webhooks/"+id+"/dead-letters/"+seq+"/redeliver", nil).Want(t, 422)
		e.API("PATCH", "/api/v1/webhooks/"+id, map[string]any{"active": true}).Want(t, 200)

		// Members and other orgs are kept out.
		ann := e.User("ann")
		asAnn := e.Session(ann)
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/webhooks"}, {"GET", "/api/v1/webhooks/" + id}, {"POST", "/api/v1/webhooks"},
			{"GET", "/api/v1/webhooks/" + id + "/deliveries"}, {"POST", "/api/v1/webhooks/" + id + "/rotate"},
			{"POST", "/api/v1/webhooks/" + id + "/dead-letters/" + seq + "/redeliver"}, {"DELETE", "/api/v1/webhooks/" + id},
		} {
			apitest.Call(t, e.Srv.URL, c.method, c.path, nil, asAnn).Want(t, 403)
		}
		sys := core.Actor{Kind: core.ActorSystem}
		other, _, err := e.St.CreateOrg(ctx, sys, "globex", "Globex", "admin@globex.test")
		if err != nil {
			t.Fatal(err)
		}
		_, tok, err := e.St.CreateToken(ctx, sys, other.ID, store.TokenAPI, "b", "")
		if err != nil {
			t.Fatal(err)
		}
		asOther := apitest.WithToken(tok)
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/webhooks/" + id}, {"PATCH", "/api/v1/webhooks/" + id}, {"GET", "/api/v1/webhooks/" + id + "/dead-letters"},
			{"POST", "/api/v1/webhooks/" + id + "/dead-letters/" + seq + "/redeliver"}, {"DELETE", "/api/v1/webhooks/" + id},
		} {
			var body any
			if c.method == "PATCH" {
				body = map[string]any{"active": false}
			}
			apitest.Call(t, e.Srv.URL, c.method, c.path, body, asOther).Want(t, 404)
		}
		if n := len(apitest.Call(t, e.Srv.URL, "GET", "/api/v1/webhooks", nil, asOther).Want(t, 200).Items()); n != 0 {
			t.Fatalf("another org lists %d webhooks", n)
		}

		e.API("DELETE", "/api/v1/webhooks/"+id, nil).Want(t, 204)
		e.API("GET", "/api/v1/webhooks/"+id, nil).Want(t, 404)
		e.API("GET", "/api/v1/webhooks/"+id+"/deliveries", nil).Want(t, 404)
		e.API("DELETE", "/api/v1/webhooks/"+id, nil).Want(t, 404)
		// Every change was audited, so it is in the stream too.
		p := readEvents(t, e, "types=webhook.*")
		want := "[webhook.created webhook.redelivery_requested webhook.secret_rotated webhook.updated webhook.updated webhook.deleted]"
		if got := strings.Join(p.types, " "); "["+got+"]" != want {
			t.Fatalf("webhook events %v, want %s", p.types, want)
		}
	})
}
