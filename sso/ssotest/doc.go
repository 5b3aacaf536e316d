// Package ssotest provides an SSO connector that needs no identity provider and no
// browser, so tests of other packages can log people in through the real login path
// (state, JIT, group reconciliation, sessions) with the identity they choose.
//
// Set sso.Handler.Connectors to Connectors(c) and create an OIDC-kind connection;
// GET /sso/oidc/{connection}/login then redirects straight to the callback, which
// logs in c's identity.
package ssotest
