package sso

import "github.com/gatehouse-dev/gatehouse/internal/secrets"

// Box seals and opens the secrets of SSO connections (OIDC client secrets, SAML SP
// private keys). It is secrets.Box, which webhooks share; the name stays for the
// sso package's callers.
type Box = secrets.Box

// NewBox returns a Box for a 32-byte key (secrets.NewBox).
func NewBox(key []byte) (*Box, error) { return secrets.NewBox(key) }

// LoadSecretKey returns the server's secret key (secrets.LoadSecretKey).
func LoadSecretKey(value, dsn string) ([]byte, error) { return secrets.LoadSecretKey(value, dsn) }
