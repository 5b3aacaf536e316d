package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestServeFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "g.db")
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", junk}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", junk, "--tls-key", junk}, "--tls-cert/--tls-key"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,lb.example"}, `--trusted-proxies: "lb.example" is not an address or CIDR`},
		{[]string{"--rate-limit-scim", "many"}, "invalid value"},
		{[]string{"--rate-limit-api", "5000/h"}, "the unit is /s or /min"},
		{[]string{"--webhook-timeout", "100ms"}, "--webhook-timeout 100ms: want from 1s to 5m"},
		{[]string{"--dns-resolver", "10.0.0.2"}, `--dns-resolver "10.0.0.2": want host:port, e.g. 10.0.0.2:53`},
		{[]string{"--webhook-allow-private=maybe"}, "invalid boolean value"},
		{[]string{"--decision-memory", "lots"}, `--decision-memory "lots": want a size`},
		{[]string{"--decision-memory", "-5MiB"}, `--decision-memory "-5MiB": want a size`},
		{[]string{"--decision-idle", "-1s"}, "--decision-idle -1s: want 0 (never) or more"},
		{[]string{"--smtp-addr", "mail.example"}, `--smtp-addr/--smtp-from: SMTP address "mail.example": want host:port`},
		{[]string{"--smtp-addr", "mail.example:587"}, `--smtp-addr/--smtp-from: SMTP sender "" is not an email address`},
	} {
		_, _, err := gatehouse(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, tc.args...)...)
		wantErr(t, err, tc.want)
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "256MiB": 256 << 20, "1GiB": 1 << 30, " 64 KiB ": 64 << 10, "500MB": 500e6} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5GiB", "-1", "9999999999GiB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) took it", in)
		}
	}
	if got := formatBytes(256 << 20); got != "256MiB" {
		t.Errorf("formatBytes = %q", got)
	}
}

func TestParsePrefixes(t *testing.T) {
	t.Parallel()
	got, err := parsePrefixes(" 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s; want %s", i, got[i], want[i])
		}
	}
}

// TestServeDefaultLimits: serve's rate limits are on by default, at the stack's
// defaults (issue 9, finding 6), and say so in its help.
func TestServeDefaultLimits(t *testing.T) {
	t.Parallel()
	_, stderr, _ := gatehouse(t, "serve", "-h")
	for flag, def := range map[string]string{
		"rate-limit-scim": "1200/s", "rate-limit-api": "5000/s", "rate-limit-ip": "10000/s", "rate-limit-login": "1200/min",
	} {
		i := strings.Index(stderr, "-"+flag+" ")
		if i < 0 {
			t.Fatalf("serve -h lacks --%s:\n%s", flag, stderr)
		}
		line := stderr[i:]
		if j := strings.Index(line[1:], "\n  -"); j >= 0 {
			line = line[:j+1]
		}
		if !strings.Contains(line, "(default "+def+")") {
			t.Errorf("--%s: want default %s:\n%s", flag, def, line)
		}
	}
}

// TestTuneGC: serve collects at serveGCPercent unless GOGC is set, which rules.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	for _, c := range []struct {
		env  string
		set  bool
		want int
	}{{"", false, serveGCPercent}, {"150", true, 100}, {"off", true, 100}} {
		t.Setenv("GOGC", c.env) // restored after the test
		if !c.set {
			os.Unsetenv("GOGC")
		}
		debug.SetGCPercent(100)
		tuneGC()
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("GOGC %q (set %v): collector at %d, want %d", c.env, c.set, got, c.want)
		}
	}
}
