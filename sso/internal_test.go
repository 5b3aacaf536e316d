package sso

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/api/v1/me", "/api/v1/me"},
		{"/workspaces?tab=access#top", "/workspaces?tab=access#top"},
		{"", "/"},
		{"https://evil.example/", "/"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/ok\\..\\x", "/"},
		{"javascript:alert(1)", "/"},
		{"relative/path", "/"},
		{"/a\r\nSet-Cookie: x=y", "/"},
		{"/\t/evil.example", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	} {
		if got := localPath(tc.in); got != tc.want {
			t.Errorf("localPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBox(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	b, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal([]byte("client-secret"), "conn-1/client_secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "client-secret") {
		t.Fatal("sealed value shows the secret")
	}
	if pt, err := b.Open(sealed, "conn-1/client_secret"); err != nil || string(pt) != "client-secret" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := b.Open(sealed, "conn-2/client_secret"); err == nil {
		t.Error("a sealed secret opened under another connection's label")
	}
	other, _ := NewBox(append(make([]byte, 31), 1))
	if _, err := other.Open(sealed, "conn-1/client_secret"); err == nil {
		t.Error("a sealed secret opened with another key")
	}
	if _, err := NewBox(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

func TestLoadSecretKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "gh.db")
	k1, err := LoadSecretKey("", dsn)
	if err != nil || len(k1) != 32 {
		t.Fatalf("generate: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "gh.db.secret-key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	k2, err := LoadSecretKey("", dsn)
	if err != nil || string(k1) != string(k2) {
		t.Errorf("second load gave another key: %v", err)
	}
	if _, err := LoadSecretKey("", "postgres://db/gatehouse"); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET_KEY") {
		t.Errorf("postgres without a key: %v", err)
	}
	hexKey := strings.Repeat("ab", 32)
	if k, err := LoadSecretKey(hexKey, "postgres://db/gatehouse"); err != nil || k[0] != 0xab {
		t.Errorf("hex key: %v", err)
	}
	if _, err := LoadSecretKey("short", dsn); err == nil {
		t.Error("a short key was accepted")
	}
}
