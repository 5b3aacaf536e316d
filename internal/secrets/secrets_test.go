package secrets_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secrets"
)

func TestBoxSealOpen(t *testing.T) {
	t.Parallel()
	b, err := secrets.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal([]byte("whsec_abc"), "webhook:w1:secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "whsec_abc") || !strings.HasPrefix(sealed, "v1:") {
		t.Fatalf("sealed = %q", sealed)
	}
	again, _ := b.Seal([]byte("whsec_abc"), "webhook:w1:secret")
	if again == sealed {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if pt, err := b.Open(sealed, "webhook:w1:secret"); err != nil || string(pt) != "whsec_abc" {
		t.Fatalf("open: %q %v", pt, err)
	}
	other, _ := secrets.NewBox(append(make([]byte, 31), 1))
	raw, _ := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	raw[len(raw)-1] ^= 1
	tampered := "v1:" + base64.RawStdEncoding.EncodeToString(raw)
	for _, tc := range []struct {
		name, sealed, label string
		box                 *secrets.Box
		want                string
	}{
		{"another label", sealed, "webhook:w2:secret", b, "wrong secret key, or the value was altered"},
		{"another key", sealed, "webhook:w1:secret", other, "wrong secret key, or the value was altered"},
		{"altered", tampered, "webhook:w1:secret", b, "wrong secret key, or the value was altered"},
		{"unknown format", "v2:" + strings.TrimPrefix(sealed, "v1:"), "webhook:w1:secret", b, "unknown format"},
		{"not base64", "v1:!!!", "webhook:w1:secret", b, "malformed"},
		{"too short", "v1:AAAA", "webhook:w1:secret", b, "malformed"},
	} {
		if _, err := tc.box.Open(tc.sealed, tc.label); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := secrets.NewBox(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte key was accepted", n)
		}
	}
}

func TestLoadSecretKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "gh.db")
	// Instances starting at once agree on one key (written whole, then linked into place).
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := secrets.LoadSecretKey("", dsn)
			if err != nil {
				t.Errorf("load %d: %v", i, err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i, k := range keys {
		if len(k) != 32 || string(k) != string(keys[0]) {
			t.Fatalf("key %d differs or is not 32 bytes", i)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "gh.db.secret-key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	hexKey := strings.Repeat("ab", 32)
	b64Key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	for _, tc := range []struct {
		name, value, dsn string
		want             byte   // first byte of the key
		err              string // substring of the error, or ""
	}{
		{"hex", hexKey, "postgres://db/gatehouse", 0xab, ""},
		{"base64", b64Key, "postgres://db/gatehouse", 'k', ""},
		{"postgres without a key", "", "postgres://db/gatehouse", 0, "GATEHOUSE_SECRET_KEY"},
		{"memory without a key", "", "sqlite::memory:", 0, "GATEHOUSE_SECRET_KEY"},
		{"short", "short", dsn, 0, "32 bytes"},
		{"31 bytes of hex", strings.Repeat("ab", 31), dsn, 0, "32 bytes"},
	} {
		k, err := secrets.LoadSecretKey(tc.value, tc.dsn)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error = %v, want %q", tc.name, err, tc.err)
		case tc.err == "" && (err != nil || k[0] != tc.want):
			t.Errorf("%s: key %x, error %v", tc.name, k, err)
		}
	}
	bad := filepath.Join(dir, "bad.db")
	if err := os.WriteFile(bad+".secret-key", []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.LoadSecretKey("", "sqlite:"+bad); err == nil || !strings.Contains(err.Error(), "bad.db.secret-key") {
		t.Errorf("a bad key file: %v", err)
	}
}
