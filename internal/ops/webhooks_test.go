package ops

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
)

func auditLen(t *testing.T, st store.Store, orgID string) int {
	t.Helper()
	evs, err := st.ListAudit(ctx, orgID, store.AuditQuery{Page: store.Page{Limit: store.MaxLimit}})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func ptr[T any](v T) *T { return &v }

// TestWebhookURLPolicy: a URL the network policy refuses is refused with its
// reason when a webhook is created or pointed elsewhere, and nothing changes; a
// URL the operator allowed goes through.
func TestWebhookURLPolicy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.SQL) {
		o, _ := newOrg(t, st)
		strict := &Ops{Store: st, Secrets: storetest.Box(t)}
		loop := &Ops{Store: st, Secrets: storetest.Box(t), WebhookPolicy: webhooks.Policy{AllowHTTPLoopback: true}}
		before := auditLen(t, st, o.ID)
		for _, c := range []struct{ url, want string }{
			{"https://10.1.2.3/hook", "private address"},
			{"https://169.254.169.254/latest", "link-local"},
			{"http://127.0.0.1:9/hook", "https://"},
			{"https://[::1]/hook", "loopback"},
			{"ftp://example.com/x", "https://"},
			{"  ", "needs a URL"},
		} {
			_, err := strict.CreateWebhook(ctx, actor, o.ID, WebhookInput{URL: ptr(c.url)})
			wantErr(t, err, core.ErrInvalid)
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("create %q: %v, want it to say %q", c.url, err, c.want)
			}
		}
		// A bad type is named before any lookup.
		_, err := strict.CreateWebhook(ctx, actor, o.ID, WebhookInput{URL: ptr("https://10.1.2.3/"), EventTypes: &[]string{"user.exploded"}})
		if err == nil || !strings.Contains(err.Error(), "user.exploded") {
			t.Fatalf("bad type: %v", err)
		}
		if ws, _ := st.ListWebhooks(ctx, o.ID); len(ws) != 0 || auditLen(t, st, o.ID) != before {
			t.Fatalf("refused creates wrote %d webhooks, %d audit events", len(ws), auditLen(t, st, o.ID)-before)
		}

		nw, err := loop.CreateWebhook(ctx, actor, o.ID, WebhookInput{URL: ptr(" http://127.0.0.1:9/hook "), EventTypes: &[]string{"user.*"}, Description: ptr("app")})
		if err != nil {
			t.Fatal(err)
		}
		if nw.URL != "http://127.0.0.1:9/hook" || !strings.HasPrefix(nw.Secret, "whsec_") || !nw.Active || nw.Description != "app" {
			t.Fatalf("created %+v", nw)
		}
		if _, err := webhooks.ParseSecret(nw.Secret); err != nil {
			t.Fatalf("secret %q: %v", nw.Secret, err)
		}
		// Pointing it at a private address is refused and changes nothing, even
		// with loopback allowed.
		n := auditLen(t, st, o.ID)
		_, err = loop.UpdateWebhook(ctx, actor, o.ID, nw.ID, WebhookInput{URL: ptr("https://192.168.1.10/hook"), Description: ptr("moved")})
		wantErr(t, err, core.ErrInvalid)
		if got, _ := st.GetWebhook(ctx, o.ID, nw.ID); got.URL != nw.URL || got.Description != "app" || got.Version != nw.Version || auditLen(t, st, o.ID) != n {
			t.Fatalf("a refused update changed the webhook: %+v", got)
		}
		// Pausing and retyping need no URL check.
		w, err := strict.UpdateWebhook(ctx, actor, o.ID, nw.ID, WebhookInput{Active: ptr(false), EventTypes: &[]string{"grant.created"}})
		if err != nil || w.Active || len(w.EventTypes) != 1 || w.URL != nw.URL {
			t.Fatalf("pause: %+v %v", w, err)
		}
		_, err = strict.UpdateWebhook(ctx, actor, o.ID, "nope", WebhookInput{Active: ptr(true)})
		wantErr(t, err, core.ErrNotFound)
	})
}

func TestWebhookSecretRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.SQL) {
		o, _ := newOrg(t, st)
		op := &Ops{Store: st, Secrets: storetest.Box(t), WebhookPolicy: webhooks.Policy{AllowHTTPLoopback: true}}
		nw, err := op.CreateWebhook(ctx, actor, o.ID, WebhookInput{URL: ptr("http://localhost:9/")})
		if err != nil {
			t.Fatal(err)
		}
		rot, err := op.RotateWebhookSecret(ctx, actor, o.ID, nw.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if rot.Secret == nw.Secret || !strings.HasPrefix(rot.Secret, "whsec_") || rot.PreviousSecretExpiresAt.IsZero() || rot.Version != nw.Version+1 {
			t.Fatalf("rotated %+v", rot)
		}
		_, err = op.RotateWebhookSecret(ctx, actor, o.ID, nw.ID, 30*24*time.Hour)
		wantErr(t, err, core.ErrInvalid)

		none := &Ops{Store: st}
		if _, err := none.CreateWebhook(ctx, actor, o.ID, WebhookInput{URL: ptr("https://example.com/")}); err != ErrNoSecrets {
			t.Fatalf("create without a sealer: %v", err)
		}
		if _, err := none.RotateWebhookSecret(ctx, actor, o.ID, nw.ID, 0); err != ErrNoSecrets {
			t.Fatalf("rotate without a sealer: %v", err)
		}
	})
}
