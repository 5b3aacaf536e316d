package stack

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/decisions/index"
	"github.com/gatehouse-dev/gatehouse/internal/domains"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
	"github.com/gatehouse-dev/gatehouse/scim"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// DefaultWebhookTimeout bounds one webhook delivery attempt (the Standard
// Webhooks specification suggests 15 to 30 seconds).
const DefaultWebhookTimeout = 15 * time.Second

// Default rate limits of serve's flags: far above what a real IdP or application
// sends in normal work (an IdP's full sync runs at tens of requests a second, an
// application's checks at a few hundred), low enough that one token or address
// cannot take a whole instance from the others. Counted per second, so a minute's
// allowance cannot be spent in one burst.
var (
	DefaultSCIMRate  = ratelimit.PerSecond(1_200)  // SCIM, per token, per instance
	DefaultAPIRate   = ratelimit.PerSecond(5_000)  // API, per token, per instance
	DefaultIPRate    = ratelimit.PerSecond(10_000) // SCIM and API, per client address, per instance
	DefaultLoginRate = ratelimit.PerMinute(1_200)  // login, per client address, across instances
)

// Defaults of the decision index's bounds (serve's --decision-memory and
// --decision-idle). An org of 100,000 users and 100,000 resources holds about
// 64 MiB.
const (
	DefaultDecisionMemory = 256 << 20
	DefaultDecisionIdle   = time.Hour
)

// Options are serve's settings.
type Options struct {
	Addr     string
	Listener net.Listener // used instead of listening on Addr when set
	OnListen func(net.Addr)

	TLSCertFile, TLSKeyFile string
	ExternalURL             *url.URL
	Box                     *sso.Box // seals SSO secrets at rest

	TrustedProxies []netip.Prefix
	// Rate limits; the zero Rate is off (serve's flags default to the Default…
	// rates above).
	SCIMPerToken ratelimit.Rate
	APIPerToken  ratelimit.Rate
	PerIP        ratelimit.Rate
	LoginPerIP   ratelimit.Rate
	// RateClock is the rate limiter's clock (time.Now when nil); tests pin it so
	// that a flood falls in one window however fast the machine is.
	RateClock func() time.Time

	// SSORefreshEvery is how often each SSO connection's IdP metadata (SAML) or
	// discovery and keys (OIDC) are fetched again; sso.DefaultRefreshEvery when
	// zero, never when negative.
	SSORefreshEvery time.Duration

	// SSONetwork is the network policy of every request to an identity
	// provider (metadata, discovery, JWKS, token, userinfo) from the pages, the
	// API, logins and the refresher; the zero value is the strictest.
	SSONetwork sso.Network

	// WebhookPolicy is the network policy webhook URLs must pass, when saved and
	// when dialed; the zero value is the strictest.
	WebhookPolicy webhooks.Policy
	// WebhookTimeout bounds one delivery attempt (15 s when zero); a crashed
	// instance's webhooks are taken over after four times as long (the lease).
	WebhookTimeout time.Duration

	// DecisionMemory bounds the decision index's estimated bytes for the whole
	// process: past it the least recently used orgs are evicted, and loaded again
	// when next asked about. DefaultDecisionMemory when zero; negative: no bound.
	DecisionMemory int64
	// DecisionIdle evicts an org not asked about for this long;
	// DefaultDecisionIdle when zero, never when negative.
	DecisionIdle time.Duration

	// Mail, when set, sends invitation links by email (serve's --smtp-* flags).
	Mail ops.Mailer
	// DNSResolver is the DNS server (host:port) that email domain verification
	// asks (serve --dns-resolver); the system's resolver when empty.
	DNSResolver string

	// Extra are more mounts next to SSO, SCIM and the API (tests add handlers).
	Extra []server.Mounter
}

// Build makes the server serve runs. Call the returned close after the server has
// stopped and before closing the store.
func Build(ctx context.Context, s *store.SQL, logger *slog.Logger, o Options) (*server.Server, func() error, error) {
	m := metrics.New()
	m.RegisterDB("gatehouse", s.DB().DB)
	// The decision index reads the org's change counter on every check: a prepared
	// statement on the reader pool.
	gens, err := s.NewGenerationReader(ctx)
	if err != nil {
		return nil, nil, err
	}
	ssoHandler := &sso.Handler{Store: s, Logger: logger, Now: time.Now, ExternalURL: o.ExternalURL, Box: o.Box, Metrics: m, Network: o.SSONetwork}
	// One authorizer (and its decision index) and one set of operations for the API and the
	// pages; the sso handler authenticates their browser sessions.
	io := o.indexOptions()
	engine := decisions.NewIndexed(s, gens, io)
	m.RegisterDecisionIndex(func() metrics.IndexStats {
		st := engine.Index().Stats()
		return metrics.IndexStats{Orgs: int64(len(st.Orgs)), Bytes: st.Bytes, BoundBytes: io.MaxBytes,
			Loads: st.Loads, Reloads: st.Reloads, Applies: st.Applies, Evictions: st.Evictions}
	})
	operations := &ops.Ops{Store: s, Now: time.Now, WebhookPolicy: o.WebhookPolicy, SSONetwork: o.SSONetwork, Mail: o.Mail,
		LinkURL: func(secret string) string { return sso.SignInLinkURL(o.ExternalURL, secret) }}
	if o.DNSResolver != "" {
		operations.DNS = &domains.Checker{Resolver: domains.NewResolver(o.DNSResolver)}
	}
	if o.Box != nil {
		operations.Secrets = o.Box
		operations.SSOSecrets = o.Box
	}
	setup := SSOSetup{Store: s, ExternalURL: o.ExternalURL}
	mounts := []server.Mounter{
		ssoHandler,
		&scim.Handler{Store: s, Logger: logger, Now: time.Now, BaseURL: o.ExternalURL.String(), Metrics: m},
		&api.Handler{Store: s, Logger: logger, Now: time.Now, Metrics: m,
			Decisions: engine, Ops: operations, Sessions: ssoHandler, SSO: setup, Generations: gens},
		&web.Handler{Store: s, Logger: logger, Now: time.Now,
			Decisions: engine, Ops: operations, Sessions: ssoHandler, SignIn: ssoHandler, SSO: setup, ExternalURL: o.ExternalURL.String()},
	}
	mounts = append(mounts, o.Extra...)
	logger.Info("sso network policy", "allow_loopback", o.SSONetwork.AllowLoopback, "allow_private", o.SSONetwork.AllowPrivate)
	stopRefresh := func() {}
	if o.SSORefreshEvery >= 0 {
		// IdP metadata and keys stay current on a schedule; instances share the
		// work through the database.
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		r := &sso.Refresher{Store: s, Logger: logger, Every: o.SSORefreshEvery, Network: o.SSONetwork}
		go func() { defer close(done); r.Run(rctx) }()
		stopRefresh = func() { cancel(); <-done }
	}
	stopDelivery, err := startDeliverer(ctx, s, logger, o)
	if err != nil {
		stopRefresh()
		gens.Close()
		return nil, nil, err
	}
	closeAll := func() error { stopDelivery(); stopRefresh(); return gens.Close() }
	return server.New(Config(s, logger, m, o), s, logger, mounts...), closeAll, nil
}

// indexOptions are the decision index's bounds from o.
func (o Options) indexOptions() index.Options {
	io := index.Options{MaxBytes: o.DecisionMemory, MaxIdle: o.DecisionIdle}
	if io.MaxBytes == 0 {
		io.MaxBytes = DefaultDecisionMemory
	}
	if io.MaxBytes < 0 {
		io.MaxBytes = 0
	}
	if io.MaxIdle == 0 {
		io.MaxIdle = DefaultDecisionIdle
	}
	if io.MaxIdle < 0 {
		io.MaxIdle = 0
	}
	return io
}

// startDeliverer runs this instance's webhook deliverer: one per instance, the
// instances sharing the webhooks through leases in the database. It stops
// claiming when ctx ends (serve's signal), so the drain begins at once; the
// returned stop waits for the attempts in flight to be recorded, at most one
// attempt's time, after which they are cut off and sent again later.
func startDeliverer(ctx context.Context, s *store.SQL, logger *slog.Logger, o Options) (func(), error) {
	if o.Box == nil {
		return nil, errors.New("stack: webhook delivery needs the secret key's Box")
	}
	timeout := o.WebhookTimeout
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	d, err := webhooks.New(webhooks.Options{Store: s, Secrets: o.Box, Policy: o.WebhookPolicy, Logger: logger,
		AttemptTimeout: timeout, LeaseTTL: 4 * timeout})
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	logger.Info("webhook deliverer started", "owner", d.Owner(), "attempt_timeout", timeout.String(),
		"allow_http_loopback", o.WebhookPolicy.AllowHTTPLoopback, "allow_private", o.WebhookPolicy.AllowPrivate)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout+5*time.Second)
		defer cancel()
		if err := d.Stop(sctx); err != nil {
			logger.Warn("webhook deliverer: attempts cut off at shutdown; they are sent again later", "err", err)
			return
		}
		logger.Info("webhook deliverer stopped")
	}, nil
}

// Config is the server configuration Build uses: listener, TLS, metrics and rate
// limits. The load tool serves its fixed-answer reference with it, so that the
// reference pays for the same middleware as the API.
func Config(s *store.SQL, logger *slog.Logger, m *metrics.Metrics, o Options) server.Config {
	return server.Config{
		Addr:        o.Addr,
		Listener:    o.Listener,
		OnListen:    o.OnListen,
		TLSCertFile: o.TLSCertFile,
		TLSKeyFile:  o.TLSKeyFile,
		Metrics:     m,
		Limits: &server.Limits{
			Limiter:        ratelimit.New(s, logger, o.RateClock),
			TrustedProxies: o.TrustedProxies,
			SCIMPerToken:   o.SCIMPerToken,
			APIPerToken:    o.APIPerToken,
			PerIP:          o.PerIP,
			LoginPerIP:     o.LoginPerIP,
		},
	}
}
