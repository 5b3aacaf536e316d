package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/logsink"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/server/stack"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
	"github.com/gatehouse-dev/gatehouse/sso"
)

func runServe(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	tuneGC()
	return serveWith(ctx, stderr, args, nil)
}

// serveGCPercent is the garbage collector's target (GOGC) of serve when the
// environment does not set one. A request allocates a few hundred short-lived
// objects (HTTP, JSON, rows), and at Go's default of 100 collecting them was about a
// tenth of the server's CPU; at 200 the heap may grow to three times what is live
// instead of twice. On SCIM load at 10,000 users (three alternating runs) a lookup
// cost 20% less server CPU and a PATCH 13% less, for 6 MB more RSS.
const serveGCPercent = 200

// tuneGC sets serveGCPercent unless GOGC is set, which then rules as it does for
// any Go program.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
}

// serveWith is serve with more mounts built from the opened store: tests add handlers
// (a slow one, to watch the drain) and reach the store (to close it under /readyz).
func serveWith(ctx context.Context, stderr io.Writer, args []string, extra func(*store.SQL) []server.Mounter) error {
	fs := newFlags("serve", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port)")
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	externalURL := fs.String("external-url", "", "public base URL of this server, as browsers and IdPs reach it (default http://ADDR)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain) file: serve HTTPS directly (with --tls-key)")
	tlsKey := fs.String("tls-key", "", "PEM private key file for --tls-cert")
	trusted := fs.String("trusted-proxies", "", "comma-separated CIDRs of load balancers whose X-Forwarded-For is believed")
	scimRate, apiRate, ipRate, loginRate := stack.DefaultSCIMRate, stack.DefaultAPIRate, stack.DefaultIPRate, stack.DefaultLoginRate
	fs.Var(ratelimit.RateFlag{Rate: &scimRate}, "rate-limit-scim", "SCIM requests per token, per instance: N/s or N/min, a bare N per minute (0: off)")
	fs.Var(ratelimit.RateFlag{Rate: &apiRate}, "rate-limit-api", "API requests per token, per instance: N/s or N/min, a bare N per minute (0: off)")
	fs.Var(ratelimit.RateFlag{Rate: &ipRate}, "rate-limit-ip", "SCIM and API requests per client address, per instance: N/s or N/min, a bare N per minute (0: off)")
	secretKey := fs.String("secret-key", "", "32 random bytes, hex or base64, sealing SSO secrets at rest; every instance needs the same (default: a key file next to a SQLite database)")
	fs.Var(ratelimit.RateFlag{Rate: &loginRate}, "rate-limit-login", "login requests per client address, across all instances: N/s or N/min, a bare N per minute (0: off)")
	ssoRefresh := fs.Duration("sso-refresh-interval", sso.DefaultRefreshEvery, "how often each SSO connection's IdP metadata (SAML) or discovery and keys (OIDC) are fetched again (0: never)")
	ssoLoopback := fs.Bool("sso-allow-loopback", false, "let SSO requests to identity providers (metadata, discovery, keys, token, userinfo) reach loopback addresses: an IdP on this host, development and tests")
	ssoPrivate := fs.Bool("sso-allow-private", false, "let SSO requests to identity providers reach private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): on-premises IdPs; org admins can then make the server reach those networks")
	hookLoopback := fs.Bool("webhook-allow-http-loopback", false, "let webhooks use plain http to a loopback host (localhost, 127.0.0.1, [::1]): for development")
	hookPrivate := fs.Bool("webhook-allow-private", false, "let webhooks reach private, loopback, link-local (cloud metadata included), CGNAT and ULA addresses: for receivers inside your own network")
	hookTimeout := fs.Duration("webhook-timeout", stack.DefaultWebhookTimeout, "how long a webhook receiver has to answer one delivery (1s to 5m); a crashed instance's webhooks move to another after four times as long")
	decMem := fs.String("decision-memory", formatBytes(stack.DefaultDecisionMemory), "memory the decision index may hold for all orgs together (e.g. 256MiB, 1GiB; 0: no bound); past it the least recently used orgs are evicted and loaded again when next asked about")
	decIdle := fs.Duration("decision-idle", stack.DefaultDecisionIdle, "evict an org from the decision index when not asked about for this long (0: never)")
	smtpAddr := fs.String("smtp-addr", "", "SMTP relay (host:port) that sends invitation links by email; without it the inviting admin is shown the link")
	smtpFrom := fs.String("smtp-from", "", "sender address of invitation emails, e.g. 'Gatehouse <gatehouse@example.com>' (required with --smtp-addr)")
	smtpUser := fs.String("smtp-username", "", "SMTP AUTH user name (optional; the password comes from GATEHOUSE_SMTP_PASSWORD)")
	dnsResolver := fs.String("dns-resolver", "", "DNS server (host:port) that email domain verification asks for TXT records (default: the system's resolver)")
	debugAddr := fs.String("debug-addr", "", "serve Go's profiler (net/http/pprof) on this loopback host:port, for performance work (off by default)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return &usageError{msg: "--tls-cert and --tls-key go together"}
	}
	if *tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey); err != nil {
			return &usageError{msg: fmt.Sprintf("--tls-cert/--tls-key: %v", err)}
		}
	}
	if *hookTimeout < time.Second || *hookTimeout > 5*time.Minute {
		return &usageError{msg: fmt.Sprintf("--webhook-timeout %s: want from 1s to 5m", *hookTimeout)}
	}
	memBound, err := parseBytes(*decMem)
	if err != nil {
		return &usageError{msg: fmt.Sprintf("--decision-memory %q: %v", *decMem, err)}
	}
	if *decIdle < 0 {
		return &usageError{msg: fmt.Sprintf("--decision-idle %s: want 0 (never) or more", *decIdle)}
	}
	var mailer *mail.SMTP
	if *smtpAddr != "" {
		mailer = &mail.SMTP{Addr: *smtpAddr, From: *smtpFrom, Username: *smtpUser, Password: os.Getenv("GATEHOUSE_SMTP_PASSWORD")}
		if err := mailer.Check(); err != nil {
			return &usageError{msg: "--smtp-addr/--smtp-from: " + err.Error()}
		}
	}
	proxies, err := parsePrefixes(*trusted)
	if err != nil {
		return err
	}
	if *dnsResolver != "" {
		if _, _, err := net.SplitHostPort(*dnsResolver); err != nil {
			return &usageError{msg: fmt.Sprintf("--dns-resolver %q: want host:port, e.g. 10.0.0.2:53", *dnsResolver)}
		}
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return &usageError{msg: fmt.Sprintf("--addr %q: want host:port, e.g. 127.0.0.1:8080", *addr)}
	}
	if *externalURL == "" {
		scheme := "http://"
		if *tlsCert != "" {
			scheme = "https://"
		}
		*externalURL = scheme + *addr
	}
	pub, err := parseExternalURL(*externalURL)
	if err != nil {
		return err
	}
	logger, closeLog := newLogger(stderr)
	defer closeLog() // last: what shutdown logs is written too

	s, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	for _, v := range applied {
		logger.Info("applied migration", "version", v)
	}
	// First run: on a database without any organization, a single-use setup link
	// (the browser way), and the command (the CLI way).
	secret, hash := sso.NewLinkToken()
	if issued, expires, err := ops.New(s).IssueSetupLink(ctx, hash); err != nil {
		return err
	} else if issued {
		logger.Warn("no organization yet: open "+pub.String()+"/setup?token="+url.QueryEscape(secret)+
			" to create the first one in your browser (single use, valid 24 hours, until "+expires.UTC().Format(time.RFC3339)+")"+
			"; or create it with: "+firstOrgCommand(*dsn), "setup_link_expires", expires.UTC())
	}
	logger.Info("gatehouse starting", "db", string(s.Dialect()), "external_url", pub.String())

	key, err := sso.LoadSecretKey(*secretKey, *dsn)
	if err != nil {
		return err
	}
	box, err := sso.NewBox(key)
	if err != nil {
		return &usageError{msg: fmt.Sprintf("--secret-key: %v", err)}
	}
	o := stack.Options{
		Addr: *addr, TLSCertFile: *tlsCert, TLSKeyFile: *tlsKey, ExternalURL: pub, Box: box,
		TrustedProxies: proxies, SCIMPerToken: scimRate, APIPerToken: apiRate, PerIP: ipRate, LoginPerIP: loginRate,
		SSORefreshEvery: *ssoRefresh,
		SSONetwork:      sso.Network{AllowLoopback: *ssoLoopback, AllowPrivate: *ssoPrivate},
		WebhookPolicy:   webhooks.Policy{AllowHTTPLoopback: *hookLoopback, AllowPrivate: *hookPrivate},
		WebhookTimeout:  *hookTimeout,
		DecisionMemory:  memBound,
		DecisionIdle:    *decIdle,
		DNSResolver:     *dnsResolver,
	}
	if memBound == 0 {
		o.DecisionMemory = -1 // no bound
	}
	if *decIdle == 0 {
		o.DecisionIdle = -1 // never
	}
	if *ssoRefresh <= 0 {
		o.SSORefreshEvery = -1 // never
	}
	if extra != nil {
		o.Extra = extra(s)
	}
	srv, closeStack, err := stack.Build(ctx, s, logger, o)
	if err != nil {
		return err
	}
	defer closeStack()
	if *debugAddr != "" {
		stop, err := serveProfiler(*debugAddr)
		if err != nil {
			return err
		}
		defer stop()
		logger.Info("profiler listening", "addr", *debugAddr)
	}
	return srv.Run(ctx)
}

// parsePrefixes reads a comma-separated list of CIDRs (a bare address is a /32 or /128).
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, &usageError{msg: fmt.Sprintf("--trusted-proxies: %q is not an address or CIDR", f)}
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("--trusted-proxies: %q is not an address or CIDR", f)}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parseExternalURL checks the public base URL: absolute http(s), no query or fragment.
func parseExternalURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, &usageError{msg: fmt.Sprintf("--external-url %q: want an absolute http or https URL such as https://gatehouse.example.com", raw)}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// newLogger logs JSON for machines (stderr not a terminal: a container, a service
// manager) and text for a person at a terminal. Lines go through a logsink.Writer,
// one write for many lines under load; closeLog writes what is left.
func newLogger(stderr io.Writer) (logger *slog.Logger, closeLog func() error) {
	w := logsink.New(stderr)
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil)), w.Close
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil)), w.Close
}

// firstOrgCommand is the command that creates the first organization in the database
// the server was started with. A password in the DSN is not printed.
func firstOrgCommand(dsn string) string {
	shown := dsn
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "PASSWORD")
			shown = u.String()
		}
	}
	return fmt.Sprintf(self()+" org create --db %s --slug acme --name 'Acme Inc' --admin-email you@acme.example", shellQuote(shown))
}

// shellQuote quotes s for a POSIX shell when it needs it (DSNs hold ? and &).
func shellQuote(s string) string {
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:@=,+", c)) {
			safe = false
			break
		}
	}
	if safe && s != "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// serveProfiler serves net/http/pprof on a loopback address of its own, never on
// the public listener: profiles show request data.
func serveProfiler(addr string) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if ip, perr := netip.ParseAddr(host); err != nil || (host != "localhost" && (perr != nil || !ip.IsLoopback())) {
		return nil, &usageError{msg: fmt.Sprintf("--debug-addr %q: want a loopback host:port, e.g. 127.0.0.1:6060", addr)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// byteUnits are the suffixes parseBytes reads, largest first.
var byteUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}

// parseBytes reads a size such as 256MiB, 1GiB, 500MB or 1048576.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("want a size such as 256MiB, 1GiB or 0")
	}
	return n * mult, nil
}

// formatBytes writes a size the way parseBytes reads it.
func formatBytes(n int64) string {
	for _, u := range byteUnits[:3] {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
