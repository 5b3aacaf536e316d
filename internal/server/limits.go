package server

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// Limits are the request-rate limits; a zero Rate turns one off.
type Limits struct {
	Limiter *ratelimit.Limiter
	// TrustedProxies are the load balancers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SCIMPerToken and APIPerToken bound each bearer token, counted per instance.
	SCIMPerToken ratelimit.Rate
	APIPerToken  ratelimit.Rate
	// PerIP bounds each client address on the SCIM and API paths, per instance, so
	// that a client cannot escape the token limit by sending many bad tokens.
	PerIP ratelimit.Rate
	// LoginPerIP bounds each client address on the login paths, counted in the
	// database so the bound holds across every instance.
	LoginPerIP ratelimit.Rate
}

// limit applies Limits by path: /scim/v2 answers in SCIM error JSON, /api in
// problem+json, /sso with a plain page; each with Retry-After.
func (s *Server) limit(next http.Handler) http.Handler {
	l := s.cfg.Limits
	if l == nil || l.Limiter == nil {
		return next
	}
	ip := func(r *http.Request) string { return ratelimit.ClientIP(r, l.TrustedProxies) }
	scim := chain(next,
		l.Limiter.Middleware(l.SCIMPerToken.Rule("scim-token"), ratelimit.BearerKey, rejectSCIM),
		l.Limiter.Middleware(l.PerIP.Rule("scim-ip"), ip, rejectSCIM))
	api := chain(next,
		l.Limiter.Middleware(l.APIPerToken.Rule("api-token"), ratelimit.BearerKey, rejectProblem),
		l.Limiter.Middleware(l.PerIP.Rule("api-ip"), ip, rejectProblem))
	login := l.Limiter.Middleware(shared(l.LoginPerIP.Rule("login-ip")), ip, rejectPage)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/scim/"):
			scim.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/api/"):
			api.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/sso/"):
			login.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func shared(r ratelimit.Rule) ratelimit.Rule { r.Shared = true; return r }

func chain(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

func retryText(d time.Duration) string {
	return fmt.Sprintf("too many requests; retry in %d seconds", int(math.Ceil(d.Seconds())))
}

// rejectSCIM answers in RFC 7644 §3.12 error JSON (status as a string).
func rejectSCIM(w http.ResponseWriter, _ *http.Request, retry time.Duration) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429","detail":%q}`, retryText(retry))
}

// rejectProblem answers in RFC 9457 problem+json.
func rejectProblem(w http.ResponseWriter, _ *http.Request, retry time.Duration) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, `{"type":"about:blank","title":"Too Many Requests","status":429,"detail":%q}`, retryText(retry))
}

// rejectPage answers a browser with a plain page.
func rejectPage(w http.ResponseWriter, _ *http.Request, retry time.Duration) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, "<!doctype html><title>Too many sign-in attempts</title><h1>Too many sign-in attempts</h1><p>%s.</p>", retryText(retry))
}
