package storetest

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/secrets"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jmoiron/sqlx"
)

// Box returns a secrets.Box under a fixed test key, to seal and open webhook
// secrets in tests.
func Box(t testing.TB) *secrets.Box {
	t.Helper()
	b, err := secrets.NewBox([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawGet reads one value straight from a SQL backend's tables, for the two facts
// the contract cannot show (the secret's sealed form, rows a delete must cascade
// to). A backend without SQL tables skips the case.
func rawGet(t *testing.T, s subject, dest any, query string, args ...any) error {
	t.Helper()
	b, ok := s.Contract.(interface{ DB() *sqlx.DB })
	if !ok {
		t.Skip("the backend has no SQL tables to inspect")
	}
	return b.DB().GetContext(ctx, dest, b.DB().Rebind(query), args...)
}

func newWebhook(t *testing.T, s subject, orgID, url string, types ...string) (store.Webhook, string) {
	t.Helper()
	w, secret, err := s.CreateWebhook(ctx, adm, store.Webhook{OrgID: orgID, URL: url, EventTypes: types}, Box(t))
	if err != nil {
		t.Fatalf("create webhook %s: %v", url, err)
	}
	return w, secret
}

// lastSeq is the org's last change.
func lastSeq(t *testing.T, s subject, orgID string) int64 {
	t.Helper()
	return must[int64](t)(s.OrgGeneration(ctx, orgID))
}

// attempt builds a delivery attempt at the event with seq.
func attempt(w store.Webhook, seq int64, n int, outcome store.Outcome, at time.Time) store.WebhookDelivery {
	return store.WebhookDelivery{OrgID: w.OrgID, WebhookID: w.ID, Seq: seq, EventID: fmt.Sprintf("event-%d", seq),
		EventType: "group.created", Attempt: n, Outcome: outcome, StartedAt: at, FinishedAt: at.Add(30 * time.Millisecond)}
}

func claim(t *testing.T, s subject, l store.Lease) []store.ClaimedWebhook {
	t.Helper()
	return must[[]store.ClaimedWebhook](t)(s.ClaimWebhooks(ctx, l, 10))
}

var webhookTests = []test{
	{"Webhook/CreateGetList", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		newGroup(t, s, o.ID, "eng")
		w, secret := newWebhook(t, s, o.ID, " https://hooks.example.com/in?token=abc ", "user.*", "grant.deleted", "user.*")
		key, ok := strings.CutPrefix(secret, "whsec_")
		if raw, err := base64.StdEncoding.DecodeString(key); !ok || err != nil || len(raw) != 32 {
			t.Fatalf("secret %q is not whsec_ + base64 of 32 bytes", secret)
		}
		if w.URL != "https://hooks.example.com/in?token=abc" || !slices.Equal(w.EventTypes, []string{"grant.deleted", "user.*"}) ||
			!w.Active || w.Version != 1 || w.Attempts != 0 || !w.NextAttemptAt.IsZero() {
			t.Fatalf("created = %+v", w)
		}
		// The cursor is the webhook's own creation event: it gets every later change.
		created := audits(t, s, o.ID, "webhook.create")
		if len(created) != 1 || w.Cursor != created[0].Seq || w.Cursor != lastSeq(t, s, o.ID) || created[0].TargetID != w.ID {
			t.Fatalf("cursor %d, creation event %+v", w.Cursor, created)
		}
		if u := created[0].Details["url"]; u != "https://hooks.example.com/in?%E2%80%A6" && u != "https://hooks.example.com/in?…" {
			t.Fatalf("audited url %q keeps the query", u)
		}
		got := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID))
		if got.URL != w.URL || got.Cursor != w.Cursor || !slices.Equal(got.EventTypes, w.EventTypes) || !got.CreatedAt.Equal(w.CreatedAt) {
			t.Fatalf("get = %+v, want %+v", got, w)
		}
		all, _ := newWebhook(t, s, o.ID, "https://other.example.com/")
		if all.EventTypes == nil || len(all.EventTypes) != 0 {
			t.Fatalf("every-type webhook types = %#v", all.EventTypes)
		}
		if l := must[[]store.Webhook](t)(s.ListWebhooks(ctx, o.ID)); !slices.Equal(ids(l, func(w store.Webhook) string { return w.ID }), []string{w.ID, all.ID}) {
			t.Fatalf("list = %+v", l)
		}
		// The secret is stored sealed, and only opens as this webhook's secret.
		var sealed string
		ok2 := rawGet(t, s, &sealed, `SELECT secret_sealed FROM webhooks WHERE id = ?`, w.ID)
		if ok2 != nil || strings.Contains(sealed, strings.TrimPrefix(secret, "whsec_")) {
			t.Fatalf("sealed %q: %v", sealed, ok2)
		}
		if pt, err := Box(t).Open(sealed, store.WebhookSecretLabel(w.ID)); err != nil || string(pt) != secret {
			t.Fatalf("open: %q %v", pt, err)
		}
		if _, err := Box(t).Open(sealed, store.WebhookSecretLabel(all.ID)); err == nil {
			t.Fatal("the secret opened as another webhook's")
		}
	}},
	{"Webhook/Invalid", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		create := func(w store.Webhook) error {
			_, _, err := s.CreateWebhook(ctx, adm, w, Box(t))
			return err
		}
		for _, bad := range []store.Webhook{
			{URL: ""}, {URL: "ftp://files.example.com/"}, {URL: "hooks.example.com/in"}, {URL: "https:///path"},
			{URL: "https://user:pass@hooks.example.com/"}, {URL: "https://hooks.example.com/#frag"},
			{URL: "https://hooks.example.com/" + strings.Repeat("a", 2100)}, {URL: "mailto:a@example.com"},
			{URL: "https://hooks.example.com/", EventTypes: []string{"user.craeted"}},
			{URL: "https://hooks.example.com/", EventTypes: []string{"*"}},
			{URL: "https://hooks.example.com/", Description: strings.Repeat("d", 501)},
		} {
			bad.OrgID = o.ID
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return create(bad) })
		}
		wantErr(t, create(store.Webhook{OrgID: "no-such-org", URL: "https://hooks.example.com/"}), core.ErrNotFound)
		if l := must[[]store.Webhook](t)(s.ListWebhooks(ctx, o.ID)); len(l) != 0 {
			t.Fatalf("invalid webhooks were stored: %+v", l)
		}
	}},
	{"Webhook/NotVisibleFromAnotherOrg", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		other, _ := newOrg(t, s, "other")
		w, _ := newWebhook(t, s, o.ID, "https://hooks.example.com/")
		newGroup(t, s, o.ID, "eng")
		now := time.Now()
		l := store.Lease{Owner: "a", Now: now, TTL: time.Minute}
		if c := claim(t, s, l); len(c) != 1 {
			t.Fatalf("claimed %d", len(c))
		}
		ok(t, s.RecordAttempt(ctx, l, attempt(w, w.Cursor+1, 1, store.OutcomeDeadLettered, now), time.Time{}))
		box := Box(t)
		for name, err := range map[string]error{
			"get":          second(s.GetWebhook(ctx, other.ID, w.ID)),
			"update":       second(s.UpdateWebhook(ctx, adm, other.ID, w.ID, func(w *store.Webhook) error { w.Active = false; return nil })),
			"delete":       s.DeleteWebhook(ctx, adm, other.ID, w.ID),
			"rotate":       second(s.RotateWebhookSecret(ctx, adm, other.ID, w.ID, box, 0)),
			"deliveries":   second(s.ListWebhookDeliveries(ctx, other.ID, w.ID, store.DeliveryQuery{})),
			"dead letters": second(s.ListDeadLetters(ctx, other.ID, w.ID, store.DeadLetterQuery{})),
			"redeliver":    second(s.RedeliverDeadLetter(ctx, adm, other.ID, w.ID, w.Cursor+1)),
		} {
			if err == nil {
				t.Fatalf("%s from another org: no error", name)
			}
			wantErr(t, err, core.ErrNotFound)
		}
		if l := must[[]store.Webhook](t)(s.ListWebhooks(ctx, other.ID)); len(l) != 0 {
			t.Fatalf("other org lists %+v", l)
		}
		// Delivery writes name the org too: another org's id holds no lease.
		a := attempt(w, w.Cursor+2, 1, store.OutcomeDelivered, now)
		a.OrgID = other.ID
		wantErr(t, s.RecordAttempt(ctx, l, a, time.Time{}), store.ErrLeaseLost)
		wantErr(t, s.SkipEvents(ctx, l, other.ID, w.ID, w.Cursor+2), store.ErrLeaseLost)
		if got := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID)); got.Cursor != w.Cursor+1 || got.Version != 1 {
			t.Fatalf("webhook changed from another org: %+v", got)
		}
	}},
	{"Webhook/Update", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w, _ := newWebhook(t, s, o.ID, "https://hooks.example.com/", "user.*")
		newGroup(t, s, o.ID, "eng")
		now := time.Now()
		l := store.Lease{Owner: "a", Now: now, TTL: time.Minute}
		claim(t, s, l)
		ok(t, s.RecordAttempt(ctx, l, attempt(w, w.Cursor+1, 1, store.OutcomeFailed, now), now.Add(time.Hour)))
		if got := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID)); got.Attempts != 1 || !got.NextAttemptAt.Equal(now.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("after a failure: %+v", got)
		}
		// A description change keeps the retries; a new URL restarts them.
		up := must[store.Webhook](t)(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error {
			w.Description, w.Cursor, w.Attempts = "CRM sync", 999, 0 // delivery state is not the admin's to set
			return nil
		}))
		if up.Description != "CRM sync" || up.Version != 2 || up.Cursor != w.Cursor || up.Attempts != 1 {
			t.Fatalf("described = %+v", up)
		}
		up = must[store.Webhook](t)(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error {
			w.URL, w.EventTypes = "https://new.example.com/in", []string{"grant.*", "user.created"}
			return nil
		}))
		if up.URL != "https://new.example.com/in" || !slices.Equal(up.EventTypes, []string{"grant.*", "user.created"}) ||
			up.Attempts != 0 || !up.NextAttemptAt.IsZero() || !up.FailingSince.IsZero() || up.Version != 3 {
			t.Fatalf("retargeted = %+v", up)
		}
		if got := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID)); got.Attempts != 0 || got.URL != up.URL || got.Version != 3 {
			t.Fatalf("read back = %+v", got)
		}
		e := audits(t, s, o.ID, "webhook.update")
		if len(e) != 2 || e[0].Details["url"] != "https://new.example.com/in" || e[0].Details["event_types"] == nil || e[1].Details["description"] != "CRM sync" {
			t.Fatalf("update events = %+v", e)
		}
		// Nothing changed, nothing written.
		before := auditCount(t, s, o.ID)
		same := must[store.Webhook](t)(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error { w.URL = " " + w.URL; return nil }))
		if same.Version != 3 || auditCount(t, s, o.ID) != before {
			t.Fatalf("a no-op update wrote: %+v", same)
		}
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error { w.URL = "http://[::1"; return nil }))
		})
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error { w.ID = "x"; return nil }))
		})
		unchanged(t, s, o.ID, core.ErrVersion, func() error {
			return second(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error { return core.ErrVersion }))
		})
		unchanged(t, s, o.ID, core.ErrNotFound, func() error {
			return second(s.UpdateWebhook(ctx, adm, o.ID, "nope", func(w *store.Webhook) error { return nil }))
		})
		// Paused webhooks are not claimed, and a resume makes the event due at once.
		must[store.Webhook](t)(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error { w.Active = false; return nil }))
		ok(t, s.ReleaseWebhook(ctx, "a", o.ID, w.ID))
		if c := claim(t, s, store.Lease{Owner: "b", Now: now.Add(2 * time.Hour), TTL: time.Minute}); len(c) != 0 {
			t.Fatalf("a paused webhook was claimed: %+v", c)
		}
		res := must[store.Webhook](t)(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error { w.Active = true; return nil }))
		if !res.Active || res.Cursor != w.Cursor {
			t.Fatalf("resumed = %+v", res)
		}
		if c := claim(t, s, store.Lease{Owner: "b", Now: now, TTL: time.Minute}); len(c) != 1 || c[0].Cursor != w.Cursor {
			t.Fatalf("a resumed webhook was not claimed with its cursor: %+v", c)
		}
	}},
	{"Webhook/DeleteCascades", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w, _ := newWebhook(t, s, o.ID, "https://hooks.example.com/")
		keep, _ := newWebhook(t, s, o.ID, "https://keep.example.com/")
		newGroup(t, s, o.ID, "eng")
		now := time.Now()
		l := store.Lease{Owner: "a", Now: now, TTL: time.Minute}
		claim(t, s, l)
		ok(t, s.RecordAttempt(ctx, l, attempt(w, w.Cursor+1, 3, store.OutcomeDeadLettered, now), time.Time{}))
		ok(t, s.RecordAttempt(ctx, l, attempt(keep, keep.Cursor+1, 1, store.OutcomeDelivered, now), time.Time{}))
		ok(t, s.DeleteWebhook(ctx, adm, o.ID, w.ID))
		wantErr(t, second(s.GetWebhook(ctx, o.ID, w.ID)), core.ErrNotFound)
		wantErr(t, s.DeleteWebhook(ctx, adm, o.ID, w.ID), core.ErrNotFound)
		var n int
		ok(t, rawGet(t, s, &n, `SELECT (SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = ?) + (SELECT COUNT(*) FROM webhook_dead_letters WHERE webhook_id = ?)`, w.ID, w.ID))
		if n != 0 {
			t.Fatalf("%d deliveries and dead letters outlived their webhook", n)
		}
		if d := must[[]store.WebhookDelivery](t)(s.ListWebhookDeliveries(ctx, o.ID, keep.ID, store.DeliveryQuery{})); len(d) != 1 {
			t.Fatalf("the other webhook's deliveries = %+v", d)
		}
		if e := audits(t, s, o.ID, "webhook.delete"); len(e) != 1 || e[0].TargetID != w.ID {
			t.Fatalf("delete events = %+v", e)
		}
	}},
	{"Webhook/RotateSecret", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w, first := newWebhook(t, s, o.ID, "https://hooks.example.com/")
		box := Box(t)
		next := must[string](t)(s.RotateWebhookSecret(ctx, adm, o.ID, w.ID, box, time.Hour))
		if next == first || !strings.HasPrefix(next, "whsec_") {
			t.Fatalf("rotated secret %q", next)
		}
		got := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID))
		if got.Version != 2 || got.PreviousSecretExpiresAt.IsZero() {
			t.Fatalf("rotated webhook = %+v", got)
		}
		newGroup(t, s, o.ID, "eng")
		open := func(sealed string) string {
			pt, err := box.Open(sealed, store.WebhookSecretLabel(w.ID))
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return string(pt)
		}
		// Both sign during the overlap…
		l := store.Lease{Owner: "a", Now: time.Now(), TTL: time.Minute}
		c := claim(t, s, l)
		if len(c) != 1 || open(c[0].SecretSealed) != next || open(c[0].PreviousSecretSealed) != first {
			t.Fatalf("claim during overlap = %+v", c)
		}
		ok(t, s.ReleaseWebhook(ctx, "a", o.ID, w.ID))
		// …and only the new one after it.
		c = claim(t, s, store.Lease{Owner: "a", Now: got.PreviousSecretExpiresAt.Add(time.Second), TTL: time.Minute})
		if len(c) != 1 || open(c[0].SecretSealed) != next || c[0].PreviousSecretSealed != "" {
			t.Fatalf("claim after overlap = %+v", c)
		}
		ok(t, s.ReleaseWebhook(ctx, "a", o.ID, w.ID))
		third := must[string](t)(s.RotateWebhookSecret(ctx, adm, o.ID, w.ID, box, 0))
		c = claim(t, s, store.Lease{Owner: "a", Now: time.Now(), TTL: time.Minute})
		if len(c) != 1 || open(c[0].SecretSealed) != third || c[0].PreviousSecretSealed != "" {
			t.Fatalf("claim after a rotation without overlap = %+v", c)
		}
		for _, bad := range []time.Duration{-time.Second, store.MaxSecretOverlap + time.Second} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error {
				_, err := s.RotateWebhookSecret(ctx, adm, o.ID, w.ID, box, bad)
				return err
			})
		}
		if e := audits(t, s, o.ID, "webhook.rotate_secret"); len(e) != 2 {
			t.Fatalf("rotation events = %d", len(e))
		}
	}},
	{"Webhook/LeaseGuardsTheCursor", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w, _ := newWebhook(t, s, o.ID, "https://hooks.example.com/")
		now := time.Now()
		a := store.Lease{Owner: "a", Now: now, TTL: time.Minute}
		if c := claim(t, s, a); len(c) != 0 {
			t.Fatalf("a webhook with nothing to deliver was claimed: %+v", c)
		}
		newGroup(t, s, o.ID, "eng")
		newGroup(t, s, o.ID, "ops")
		newGroup(t, s, o.ID, "data")
		c := claim(t, s, a)
		if len(c) != 1 || c[0].ID != w.ID || !c[0].LeaseExpiresAt.Equal(now.Add(time.Minute).Truncate(time.Microsecond)) || c[0].SecretSealed == "" {
			t.Fatalf("claim = %+v", c)
		}
		b := store.Lease{Owner: "b", Now: now.Add(time.Second), TTL: time.Minute}
		if c := claim(t, s, b); len(c) != 0 {
			t.Fatalf("a held lease was claimed again: %+v", c)
		}
		ok(t, s.RecordAttempt(ctx, a, attempt(w, w.Cursor+1, 1, store.OutcomeDelivered, now), time.Time{}))
		ok(t, s.SkipEvents(ctx, a, o.ID, w.ID, w.Cursor+2))
		// b holds no lease: its writes change nothing.
		wantErr(t, s.RecordAttempt(ctx, b, attempt(w, w.Cursor+3, 1, store.OutcomeDelivered, now), time.Time{}), store.ErrLeaseLost)
		wantErr(t, s.SkipEvents(ctx, b, o.ID, w.ID, w.Cursor+3), store.ErrLeaseLost)
		// An event at or before the cursor is not recorded again.
		wantErr(t, s.RecordAttempt(ctx, a, attempt(w, w.Cursor+1, 1, store.OutcomeDelivered, now), time.Time{}), store.ErrLeaseLost)
		if got := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID)); got.Cursor != w.Cursor+2 {
			t.Fatalf("cursor = %d, want %d", got.Cursor, w.Cursor+2)
		}
		// Writes extend the lease; once it expires another instance takes over and
		// the old holder's writes are refused.
		later := store.Lease{Owner: "b", Now: now.Add(61 * time.Second), TTL: time.Minute}
		if c := claim(t, s, later); len(c) != 1 {
			t.Fatalf("claim after lease expiry = %+v", c)
		}
		stale := store.Lease{Owner: "a", Now: now.Add(62 * time.Second), TTL: time.Minute}
		wantErr(t, s.RecordAttempt(ctx, stale, attempt(w, w.Cursor+3, 1, store.OutcomeDelivered, now), time.Time{}), store.ErrLeaseLost)
		ok(t, s.ReleaseWebhook(ctx, "a", o.ID, w.ID)) // not a's: left alone
		if c := claim(t, s, store.Lease{Owner: "c", Now: now.Add(63 * time.Second), TTL: time.Minute}); len(c) != 0 {
			t.Fatalf("a's release freed b's lease: %+v", c)
		}
		ok(t, s.RecordAttempt(ctx, later, attempt(w, w.Cursor+3, 1, store.OutcomeDelivered, now), time.Time{}))
		ok(t, s.ReleaseWebhook(ctx, "b", o.ID, w.ID))
		if c := claim(t, s, store.Lease{Owner: "c", Now: now.Add(63 * time.Second), TTL: time.Minute}); len(c) != 0 {
			t.Fatalf("a webhook at the end of the log was claimed: %+v", c)
		}
		d := must[[]store.WebhookDelivery](t)(s.ListWebhookDeliveries(ctx, o.ID, w.ID, store.DeliveryQuery{}))
		if len(d) != 2 || d[0].Seq != w.Cursor+3 || d[1].Seq != w.Cursor+1 || d[0].Outcome != store.OutcomeDelivered || d[0].DurationMS != 30 {
			t.Fatalf("deliveries = %+v", d)
		}
		// Delivery state is not an audited change: nothing was added to the log.
		if g := lastSeq(t, s, o.ID); g != w.Cursor+3 {
			t.Fatalf("generation = %d, want %d", g, w.Cursor+3)
		}
	}},
	{"Webhook/AdminChangeEndsTheLease", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w, _ := newWebhook(t, s, o.ID, "https://hooks.example.com/")
		newGroup(t, s, o.ID, "eng")
		newGroup(t, s, o.ID, "ops")
		now := time.Now()
		c := claim(t, s, store.Lease{Owner: "a", Now: now, TTL: time.Minute})
		if len(c) != 1 || c[0].Version != 1 {
			t.Fatalf("claim = %+v", c)
		}
		l := store.Lease{Owner: "a", Now: now, TTL: time.Minute, Version: c[0].Version}
		ok(t, s.RecordAttempt(ctx, l, attempt(w, w.Cursor+1, 1, store.OutcomeDelivered, now), time.Time{}))
		// The admin points the webhook elsewhere: the holder's next write is refused,
		// so nothing more is recorded as delivered to the old URL.
		must[store.Webhook](t)(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error { w.URL = "https://new.example.com/"; return nil }))
		wantErr(t, s.RecordAttempt(ctx, l, attempt(w, w.Cursor+2, 1, store.OutcomeDelivered, now), time.Time{}), store.ErrLeaseLost)
		wantErr(t, s.SkipEvents(ctx, l, o.ID, w.ID, w.Cursor+2), store.ErrLeaseLost)
		must[string](t)(s.RotateWebhookSecret(ctx, adm, o.ID, w.ID, Box(t), 0))
		l.Version = 2
		wantErr(t, s.RecordAttempt(ctx, l, attempt(w, w.Cursor+2, 1, store.OutcomeDelivered, now), time.Time{}), store.ErrLeaseLost)
		if got := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID)); got.Cursor != w.Cursor+1 || got.Version != 3 {
			t.Fatalf("after refused writes: %+v", got)
		}
		// Without a version (0) the lease alone decides.
		l.Version = 0
		ok(t, s.RecordAttempt(ctx, l, attempt(w, w.Cursor+2, 1, store.OutcomeDelivered, now), time.Time{}))
	}},
	{"Webhook/RetryDeadLetterRedeliver", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w, _ := newWebhook(t, s, o.ID, "https://hooks.example.com/")
		newGroup(t, s, o.ID, "eng")
		newGroup(t, s, o.ID, "ops")
		t0 := time.Now()
		l := store.Lease{Owner: "a", Now: t0, TTL: time.Minute}
		claim(t, s, l)
		f1 := attempt(w, w.Cursor+1, 1, store.OutcomeFailed, t0)
		f1.Status, f1.Error = 503, "503 Service Unavailable"
		ok(t, s.RecordAttempt(ctx, l, f1, t0.Add(10*time.Second)))
		ok(t, s.ReleaseWebhook(ctx, "a", o.ID, w.ID))
		if c := claim(t, s, store.Lease{Owner: "a", Now: t0.Add(5 * time.Second), TTL: time.Minute}); len(c) != 0 {
			t.Fatalf("claimed before its next attempt: %+v", c)
		}
		l = store.Lease{Owner: "a", Now: t0.Add(10 * time.Second), TTL: time.Minute}
		c := claim(t, s, l)
		if len(c) != 1 || c[0].Attempts != 1 || !c[0].FailingSince.Equal(t0.Truncate(time.Microsecond)) {
			t.Fatalf("retry claim = %+v", c)
		}
		f2 := attempt(w, w.Cursor+1, 2, store.OutcomeFailed, l.Now)
		f2.Error = "dial tcp: connection refused"
		ok(t, s.RecordAttempt(ctx, l, f2, l.Now.Add(time.Minute)))
		if got := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID)); got.Attempts != 2 || !got.FailingSince.Equal(t0.Truncate(time.Microsecond)) {
			t.Fatalf("after two failures = %+v", got)
		}
		l.Now = l.Now.Add(30 * time.Second) // within the lease, which each write extended
		dl := attempt(w, w.Cursor+1, 3, store.OutcomeDeadLettered, l.Now)
		dl.Status, dl.Error = 500, "500 Internal Server Error"
		ok(t, s.RecordAttempt(ctx, l, dl, time.Time{}))
		got := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID))
		if got.Cursor != w.Cursor+1 || got.Attempts != 0 || !got.FailingSince.IsZero() {
			t.Fatalf("after dead-lettering = %+v", got)
		}
		dls := must[[]store.DeadLetter](t)(s.ListDeadLetters(ctx, o.ID, w.ID, store.DeadLetterQuery{}))
		if len(dls) != 1 || dls[0].Seq != w.Cursor+1 || dls[0].Attempts != 3 || dls[0].LastStatus != 500 ||
			dls[0].LastError != "500 Internal Server Error" || dls[0].EventID != dl.EventID || !dls[0].RedeliverRequestedAt.IsZero() {
			t.Fatalf("dead letters = %+v", dls)
		}
		d := must[[]store.WebhookDelivery](t)(s.ListWebhookDeliveries(ctx, o.ID, w.ID, store.DeliveryQuery{}))
		if len(d) != 3 || d[0].Outcome != store.OutcomeDeadLettered || d[1].Error != f2.Error || d[2].Status != 503 || d[2].Attempt != 1 {
			t.Fatalf("deliveries = %+v", d)
		}
		if p := must[[]store.WebhookDelivery](t)(s.ListWebhookDeliveries(ctx, o.ID, w.ID, store.DeliveryQuery{Page: store.Page{After: d[0].ID, Limit: 1}})); len(p) != 1 || p[0].ID != d[1].ID {
			t.Fatalf("page after %s = %+v", d[0].ID, p)
		}
		// The cursor moved on: the next event is delivered.
		ok(t, s.RecordAttempt(ctx, l, attempt(w, w.Cursor+2, 1, store.OutcomeDelivered, l.Now), time.Time{}))
		ok(t, s.ReleaseWebhook(ctx, "a", o.ID, w.ID))
		if c := claim(t, s, l); len(c) != 0 {
			t.Fatalf("nothing to do, yet claimed: %+v", c)
		}

		// Redelivery: refused while paused, then queued once however often asked.
		must[store.Webhook](t)(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error { w.Active = false; return nil }))
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.RedeliverDeadLetter(ctx, adm, o.ID, w.ID, w.Cursor+1)) })
		must[store.Webhook](t)(s.UpdateWebhook(ctx, adm, o.ID, w.ID, func(w *store.Webhook) error { w.Active = true; return nil }))
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return second(s.RedeliverDeadLetter(ctx, adm, o.ID, w.ID, w.Cursor+2)) })
		r := must[store.DeadLetter](t)(s.RedeliverDeadLetter(ctx, adm, o.ID, w.ID, w.Cursor+1))
		if r.RedeliverRequestedAt.IsZero() || r.Seq != w.Cursor+1 {
			t.Fatalf("redeliver = %+v", r)
		}
		must[store.DeadLetter](t)(s.RedeliverDeadLetter(ctx, adm, o.ID, w.ID, w.Cursor+1))
		if e := audits(t, s, o.ID, "webhook.redeliver"); len(e) != 1 || e[0].Details["event_id"] != dl.EventID {
			t.Fatalf("redeliver events = %+v", e)
		}
		// A pending redelivery makes the webhook claimable with nothing new in the log.
		if p := must[[]store.DeadLetter](t)(s.ListDeadLetters(ctx, o.ID, w.ID, store.DeadLetterQuery{Pending: true})); len(p) != 1 {
			t.Fatalf("pending = %+v", p)
		}
		// Its cursor is behind the log by the update and redeliver events now:
		// deliver them first, then only the redelivery is left.
		l = store.Lease{Owner: "a", Now: l.Now.Add(time.Minute), TTL: time.Minute}
		claim(t, s, l)
		ok(t, s.SkipEvents(ctx, l, o.ID, w.ID, lastSeq(t, s, o.ID)))
		ok(t, s.ReleaseWebhook(ctx, "a", o.ID, w.ID))
		if c := claim(t, s, l); len(c) != 1 {
			t.Fatalf("a pending redelivery did not make the webhook due: %+v", c)
		}
		rf := attempt(w, w.Cursor+1, 4, store.OutcomeFailed, l.Now)
		rf.Redelivery, rf.Error = true, "timeout"
		ok(t, s.RecordAttempt(ctx, l, rf, time.Time{}))
		dls = must[[]store.DeadLetter](t)(s.ListDeadLetters(ctx, o.ID, w.ID, store.DeadLetterQuery{}))
		if dls[0].Attempts != 4 || dls[0].LastError != "timeout" || !dls[0].RedeliverRequestedAt.IsZero() || !dls[0].RedeliveredAt.IsZero() {
			t.Fatalf("after a failed redelivery = %+v", dls)
		}
		if g := must[store.Webhook](t)(s.GetWebhook(ctx, o.ID, w.ID)); g.Attempts != 0 {
			t.Fatalf("a redelivery counted against the stream: %+v", g)
		}
		must[store.DeadLetter](t)(s.RedeliverDeadLetter(ctx, adm, o.ID, w.ID, w.Cursor+1))
		rd := attempt(w, w.Cursor+1, 5, store.OutcomeDelivered, l.Now)
		rd.Redelivery, rd.Status = true, 204
		ok(t, s.RecordAttempt(ctx, l, rd, time.Time{}))
		dls = must[[]store.DeadLetter](t)(s.ListDeadLetters(ctx, o.ID, w.ID, store.DeadLetterQuery{}))
		if dls[0].Attempts != 5 || dls[0].RedeliveredAt.IsZero() || !dls[0].RedeliverRequestedAt.IsZero() || dls[0].LastStatus != 204 {
			t.Fatalf("after a redelivery = %+v", dls)
		}
		if d := must[[]store.WebhookDelivery](t)(s.ListWebhookDeliveries(ctx, o.ID, w.ID, store.DeliveryQuery{Seq: w.Cursor + 1})); len(d) != 5 || !d[0].Redelivery {
			t.Fatalf("attempts at the dead letter = %+v", d)
		}
		bad := attempt(w, w.Cursor+1, 6, store.OutcomeDeadLettered, l.Now)
		bad.Redelivery = true
		wantErr(t, s.RecordAttempt(ctx, l, bad, time.Time{}), core.ErrInvalid)
		bad = attempt(w, w.Cursor+1, 6, "lost", l.Now)
		wantErr(t, s.RecordAttempt(ctx, l, bad, time.Time{}), core.ErrInvalid)
	}},
	{"Webhook/ClaimRace", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		const hooks, claimants, rounds = 12, 6, 4
		for i := range hooks {
			newWebhook(t, s, o.ID, fmt.Sprintf("https://h%d.example.com/", i))
		}
		newGroup(t, s, o.ID, "eng")
		now := time.Now()
		for round := range rounds {
			var (
				mu    sync.Mutex
				owner = map[string]string{}
				wg    sync.WaitGroup
				start = make(chan struct{})
			)
			for c := range claimants {
				wg.Go(func() {
					<-start
					me := fmt.Sprintf("r%d-c%d", round, c)
					got, err := s.ClaimWebhooks(ctx, store.Lease{Owner: me, Now: now, TTL: time.Minute}, 3)
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					for _, w := range got {
						if prev, dup := owner[w.ID]; dup {
							t.Errorf("webhook %s leased to %s and %s", w.ID, prev, me)
						}
						owner[w.ID] = me
					}
				})
			}
			close(start)
			wg.Wait()
			if t.Failed() {
				return
			}
			if len(owner) == 0 || len(owner) > hooks {
				t.Fatalf("round %d: %d leases for %d webhooks", round, len(owner), hooks)
			}
			for id, me := range owner {
				ok(t, s.ReleaseWebhook(ctx, me, o.ID, id))
			}
			// Every lease went back: nothing is left held.
			if c := claim(t, s, store.Lease{Owner: "sweeper", Now: now, TTL: time.Minute}); len(c) != 10 {
				t.Fatalf("round %d: after release %d of %d claimable", round, len(c), hooks)
			} else {
				for _, w := range c {
					ok(t, s.ReleaseWebhook(ctx, "sweeper", o.ID, w.ID))
				}
			}
		}
	}},
	{"Webhook/Prune", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w, _ := newWebhook(t, s, o.ID, "https://hooks.example.com/")
		for range 5 {
			newGroup(t, s, o.ID, "g"+store.NewID())
		}
		t0 := time.Now()
		l := store.Lease{Owner: "a", Now: t0, TTL: time.Minute}
		claim(t, s, l)
		for i := range int64(5) {
			ok(t, s.RecordAttempt(ctx, l, attempt(w, w.Cursor+1+i, 1, store.OutcomeDelivered, t0.Add(time.Duration(i)*time.Hour)), time.Time{}))
		}
		if n := must[int64](t)(s.PruneWebhookDeliveries(ctx, t0.Add(150*time.Minute), 2)); n != 2 {
			t.Fatalf("pruned %d with limit 2", n)
		}
		if n := must[int64](t)(s.PruneWebhookDeliveries(ctx, t0.Add(150*time.Minute), 0)); n != 1 {
			t.Fatalf("pruned %d more", n)
		}
		d := must[[]store.WebhookDelivery](t)(s.ListWebhookDeliveries(ctx, o.ID, w.ID, store.DeliveryQuery{}))
		if len(d) != 2 || d[1].Seq != w.Cursor+4 {
			t.Fatalf("left = %+v", d)
		}
	}},
}
