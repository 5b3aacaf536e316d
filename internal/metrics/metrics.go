// Package metrics defines Gatehouse's Prometheus metrics and the HTTP middleware
// that records them. One Metrics value is built per server (no global registry), so
// tests and several servers in one process do not share counters.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector. Nil-safe: methods on a nil *Metrics do nothing, so
// packages can take an optional *Metrics without checks at every call.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	scimOps   *prometheus.CounterVec
	logins    *prometheus.CounterVec
	decisions *prometheus.CounterVec

	// series caches each (route, method, status)'s counter and histogram, so that a
	// request costs no label hashing: the label set is bounded by the route table.
	series         sync.Map // seriesKey → *series
	decisionSeries sync.Map // [decision, reason] → prometheus.Counter
}

type seriesKey struct {
	route, method string
	status        int
}

type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// New registers Gatehouse's collectors, the Go runtime's and the process's.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		scimOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_scim_operations_total",
			Help: "SCIM operations by directory, resource, operation and outcome (ok or the SCIM error type).",
		}, []string{"directory", "resource", "operation", "outcome"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_logins_total",
			Help: "SSO logins by connection, protocol and outcome (ok or the refusal reason).",
		}, []string{"connection", "protocol", "outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_decisions_total",
			Help: "Access decisions by outcome (allow, deny, draft_only) and reason code.",
		}, []string{"decision", "reason"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.scimOps, m.logins, m.decisions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RegisterDB adds the connection pool's statistics (open, in use, idle, waits).
func (m *Metrics) RegisterDB(name string, db *sql.DB) {
	if m == nil {
		return
	}
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// IndexStats are the decision index's figures (decisions/index.Stats).
type IndexStats struct {
	Orgs, Bytes, BoundBytes            int64
	Loads, Reloads, Applies, Evictions int64
}

// RegisterDecisionIndex exports the decision index's figures, read from stats at
// each scrape: its estimated bytes beside the process-wide bound (serve's
// --decision-memory), the orgs loaded, and its loads, reloads, catch-ups and
// evictions.
func (m *Metrics) RegisterDecisionIndex(stats func() IndexStats) {
	if m == nil {
		return
	}
	var mu sync.Mutex
	var last IndexStats
	var at time.Time
	// One Stats per scrape, however many series read it.
	read := func() IndexStats {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(at) > time.Second {
			last, at = stats(), time.Now()
		}
		return last
	}
	gauge := func(name, help string, f func(IndexStats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f(read())) })
	}
	counter := func(name, help string, f func(IndexStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(read())) })
	}
	m.reg.MustRegister(
		gauge("gatehouse_decision_index_bytes", "Estimated memory the decision index holds for all loaded orgs.", func(s IndexStats) int64 { return s.Bytes }),
		gauge("gatehouse_decision_index_bound_bytes", "The decision index's memory bound (--decision-memory; 0: none).", func(s IndexStats) int64 { return s.BoundBytes }),
		gauge("gatehouse_decision_index_orgs", "Orgs loaded in the decision index.", func(s IndexStats) int64 { return s.Orgs }),
		counter("gatehouse_decision_index_loads_total", "Full loads of an org into the decision index.", func(s IndexStats) int64 { return s.Loads }),
		counter("gatehouse_decision_index_reloads_total", "Full loads of an org already loaded, after a change the index could not apply.", func(s IndexStats) int64 { return s.Reloads }),
		counter("gatehouse_decision_index_applies_total", "Catch-ups of a loaded org, change by change.", func(s IndexStats) int64 { return s.Applies }),
		counter("gatehouse_decision_index_evictions_total", "Orgs evicted from the decision index (memory bound, idle, or on request).", func(s IndexStats) int64 { return s.Evictions }),
	)
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SCIM counts one SCIM operation.
func (m *Metrics) SCIM(directory, resource, operation, outcome string) {
	if m == nil {
		return
	}
	m.scimOps.WithLabelValues(directory, resource, operation, outcome).Inc()
}

// Login counts one login attempt.
func (m *Metrics) Login(connection, protocol, outcome string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(connection, protocol, outcome).Inc()
}

// Decision counts one access decision.
func (m *Metrics) Decision(decision, reason string) {
	if m == nil {
		return
	}
	k := [2]string{decision, reason}
	c, ok := m.decisionSeries.Load(k)
	if !ok {
		c, _ = m.decisionSeries.LoadOrStore(k, m.decisions.WithLabelValues(decision, reason))
	}
	c.(prometheus.Counter).Inc()
}

// Middleware records every request by its route pattern (never the raw path, which
// holds ids and would explode the label set).
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.seriesOf(route, r.Method, sw.status).observe(time.Since(start))
	})
}

func (m *Metrics) seriesOf(route, method string, status int) *series {
	k := seriesKey{route, method, status}
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	s, _ := m.series.LoadOrStore(k, &series{
		requests: m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
		latency:  m.latency.WithLabelValues(route, method),
	})
	return s.(*series)
}

func (s *series) observe(d time.Duration) {
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
