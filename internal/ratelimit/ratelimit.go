// Package ratelimit throttles requests per key (an API or SCIM token, a client IP)
// with fixed-window counters.
//
// Two kinds of state, chosen per rule: Shared rules count in the database, so every
// instance behind a load balancer sees the same count (login throttling, where an
// attacker would otherwise multiply the limit by the number of instances); local
// rules count in this process, for the high-rate SCIM and API paths where a database
// write per request would cost more than the limit protects. A rejected request gets
// 429 with Retry-After, in the error format of the caller's protocol.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Rule is one limit: at most Limit events per Window for each key.
type Rule struct {
	Name   string // names the rule in keys and logs: "scim", "api", "login"
	Limit  int64  // 0 disables the rule
	Window time.Duration
	Shared bool // count in the database rather than in this process
}

// Limiter applies rules. Its zero value is not usable; build it with New.
type Limiter struct {
	store  store.RateLimits
	now    func() time.Time
	logger *slog.Logger

	mu        sync.Mutex
	local     map[string]*window
	lastSweep time.Time
	lastPrune time.Time
}

type window struct {
	start time.Time
	hits  int64
}

// New returns a Limiter. st may be nil when no rule is Shared.
func New(st store.RateLimits, logger *slog.Logger, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{store: st, now: now, logger: logger, local: map[string]*window{}}
}

// Allow counts one event for key under rule and reports whether it is within the
// limit; when it is not, retryAfter says when the window ends. A database error
// lets the request through (and is logged): throttling must not turn a database
// hiccup into an outage of its own.
func (l *Limiter) Allow(ctx context.Context, rule Rule, key string) (ok bool, retryAfter time.Duration) {
	if rule.Limit <= 0 || rule.Window <= 0 {
		return true, 0
	}
	now := l.now()
	start := now.Truncate(rule.Window)
	retryAfter = start.Add(rule.Window).Sub(now)
	k := rule.Name + ":" + key
	if rule.Shared && l.store != nil {
		hits, err := l.store.Hit(ctx, k, rule.Window)
		if err != nil {
			l.logger.Warn("rate limit: counting failed; letting the request through", "rule", rule.Name, "err", err)
			return true, 0
		}
		l.maybePrune(ctx, now)
		return hits <= rule.Limit, retryAfter
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now, max(rule.Window, time.Minute))
	w := l.local[k]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start}
		l.local[k] = w
	}
	w.hits++
	return w.hits <= rule.Limit, retryAfter
}

// sweep drops local windows idle for an hour, at most once per every (a minute or
// the rule's window if longer): a walk over every key each second, with per-second
// rules, would cost more than the limiter saves under a flood of addresses.
func (l *Limiter) sweep(now time.Time, every time.Duration) {
	if now.Sub(l.lastSweep) < every {
		return
	}
	l.lastSweep = now
	for k, w := range l.local {
		if now.Sub(w.start) > time.Hour {
			delete(l.local, k)
		}
	}
}

// maybePrune deletes old shared windows, at most once a minute per instance.
func (l *Limiter) maybePrune(ctx context.Context, now time.Time) {
	l.mu.Lock()
	due := now.Sub(l.lastPrune) > time.Minute
	if due {
		l.lastPrune = now
	}
	l.mu.Unlock()
	if due {
		if err := l.store.PruneRateLimits(ctx, now.Add(-time.Hour)); err != nil {
			l.logger.Warn("rate limit: pruning failed", "err", err)
		}
	}
}

// RejectFunc writes the 429 answer in the protocol's own format. RetryAfter is set.
type RejectFunc func(w http.ResponseWriter, r *http.Request, retryAfter time.Duration)

// Middleware limits requests under rule, keyed by key(r); an empty key is not limited.
func (l *Limiter) Middleware(rule Rule, key func(*http.Request) string, reject RejectFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if rule.Limit <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if k == "" {
				next.ServeHTTP(w, r)
				return
			}
			ok, retry := l.Allow(r.Context(), rule, k)
			if !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
				reject(w, r, retry)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ClientIP is the address of the client: the connection's peer, or, when the peer
// is a trusted proxy, the last address in X-Forwarded-For that is not itself a
// trusted proxy. Untrusted peers cannot choose their key by sending the header.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// BearerKey keys a request by a hash of its bearer token, so that no secret is kept
// in the limiter's keys; a request without one is keyed by nothing (not limited here:
// pair it with a per-IP rule).
func BearerKey(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(tok))
	return "tok:" + hex.EncodeToString(sum[:12])
}
