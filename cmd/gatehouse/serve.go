package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func runServe(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("serve", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port)")
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	externalURL := fs.String("external-url", "", "public base URL of this server, as browsers and IdPs reach it (default http://ADDR)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return &usageError{msg: fmt.Sprintf("--addr %q: want host:port, e.g. 127.0.0.1:8080", *addr)}
	}
	if *externalURL == "" {
		*externalURL = "http://" + *addr
	}
	pub, err := parseExternalURL(*externalURL)
	if err != nil {
		return err
	}
	logger := newLogger(stderr)

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
	st, ok := any(s).(store.Store) // TEMP until the store branch implements every aggregate
	if !ok {
		return fmt.Errorf("store incomplete")
	}
	orgs, err := st.ListOrgs(ctx)
	if err != nil {
		return err
	}
	if len(orgs) == 0 {
		logger.Warn("the database has no organization yet; create the first one with: " + firstOrgCommand(*dsn))
	}
	logger.Info("gatehouse starting", "db", string(s.Dialect()), "external_url", pub.String())

	// mounts are the protocol edges served next to /healthz and /readyz. The SCIM
	// service and the SSO handlers are added here, built from st, logger and pub.
	var mounts []server.Mounter

	srv := server.New(server.Config{Addr: *addr}, st, logger, mounts...)
	return srv.Run(ctx)
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
// manager) and text for a person at a terminal.
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil))
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil))
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
	return fmt.Sprintf("gatehouse org create --db %s --slug acme --name 'Acme Inc' --admin-email you@acme.example", shellQuote(shown))
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
