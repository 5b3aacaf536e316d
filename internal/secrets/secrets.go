package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Box seals and opens secrets kept in the database (OIDC client secrets, SAML SP
// private keys, webhook signing secrets) with AES-256-GCM under the server's secret
// key, so a copy of the database alone does not reveal them.
type Box struct {
	aead cipher.AEAD
}

// sealPrefix versions the sealed format so the key or cipher can change later.
const sealPrefix = "v1:"

// NewBox returns a Box for a 32-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext; label binds the ciphertext to its use (an object's id and
// field name), so a sealed value cannot be moved to another field or object.
func (b *Box) Seal(plaintext []byte, label string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := b.aead.Seal(nonce, nonce, plaintext, []byte(label))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value sealed with the same key and label.
func (b *Box) Open(sealed, label string) ([]byte, error) {
	raw, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, errors.New("sealed secret has an unknown format")
	}
	data, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(data) < b.aead.NonceSize() {
		return nil, errors.New("sealed secret is malformed")
	}
	n := b.aead.NonceSize()
	pt, err := b.aead.Open(nil, data[:n], data[n:], []byte(label))
	if err != nil {
		return nil, errors.New("sealed secret cannot be opened: wrong secret key, or the value was altered")
	}
	return pt, nil
}

// LoadSecretKey returns the server's secret key. value is --secret-key /
// GATEHOUSE_SECRET_KEY: 64 hex digits or base64 of 32 bytes. When it is empty and
// the database is SQLite, the key lives in a file next to the database
// (PATH.secret-key, mode 0600), created on first use; a PostgreSQL deployment has
// several instances, which must share one key, so it must be given explicitly.
func LoadSecretKey(value, dsn string) ([]byte, error) {
	if value != "" {
		return parseKey(value)
	}
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok || path == "" || path == ":memory:" {
		return nil, errors.New("no secret key: set --secret-key or GATEHOUSE_SECRET_KEY (32 random bytes, hex or base64; e.g. openssl rand -hex 32)")
	}
	keyFile := path + ".secret-key"
	if b, err := os.ReadFile(keyFile); err == nil {
		k, err := parseKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("secret key file %s: %w", keyFile, err)
		}
		return k, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return nil, err
	}
	// The key is written whole to a file of its own, then linked into place: a
	// process starting at the same moment finds no key file or a whole one, never
	// one being written, and the link fails rather than replace a key linked first
	// (two processes must not each keep their own key).
	tmp, err := os.CreateTemp(filepath.Dir(keyFile), filepath.Base(keyFile)+".new-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(k) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write secret key file: %w", err)
	}
	if err := os.Link(tmp.Name(), keyFile); errors.Is(err, fs.ErrExist) {
		return LoadSecretKey("", dsn)
	} else if err != nil {
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	return k, nil
}

func parseKey(v string) ([]byte, error) {
	if b, err := hex.DecodeString(v); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("secret key must be 32 bytes, as 64 hex digits or base64")
}
