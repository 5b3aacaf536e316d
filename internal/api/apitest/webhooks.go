package apitest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
)

// NewWebhookEnv is NewEnv whose operations can make webhooks: they seal secrets
// under storetest.Box's key and let webhooks reach loopback receivers over http
// (serve's --webhook-allow-http-loopback). Its long polls check for changes
// every 20 ms.
func NewWebhookEnv(t *testing.T, b storetest.Backend) *Env {
	t.Helper()
	e := NewEnv(t, b)
	h := NewHandler(t, e.St, e.Sess)
	h.Ops = &ops.Ops{Store: e.St, Secrets: storetest.Box(t), WebhookPolicy: webhooks.Policy{AllowHTTPLoopback: true}}
	h.EventPoll = 20 * time.Millisecond
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.H, e.Srv = h, srv
	return e
}
