package sso

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/crewjam/saml"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SAML single logout (saml-profiles §4.4), both ways, over HTTP-Redirect and
// HTTP-POST, every message signed:
//
//   - SP-initiated: POST /sso/logout ends the Gatehouse session first (whatever
//     the IdP then does, the person is signed out here), then sends the browser
//     to the IdP with a LogoutRequest naming the session's NameID and
//     SessionIndex. The request id waits in sso_saml_requests (purpose logout)
//     under a hash of the RelayState; the IdP's LogoutResponse at
//     /sso/saml/{connection}/slo must answer it, once.
//   - IdP-initiated: a LogoutRequest at /sso/saml/{connection}/slo (signature,
//     destination, issuer, time and replay checked) ends every session of that
//     connection with its NameID (and SessionIndex, when given), and is answered
//     with a signed LogoutResponse.

// logoutRequest makes a signed LogoutRequest for an IdP session: a URL to
// redirect to (the IdP's HTTP-Redirect endpoint, preferred: no script needed)
// or an auto-posting form (HTTP-POST).
func (c *samlConnector) logoutRequest(sub store.SAMLSubject, relay, nonce string) (redirect string, form []byte, requestID string, err error) {
	sp := c.spAt(c.now())
	opts := []saml.LogoutRequestOption{
		// The NameID exactly as the assertion had it (saml-core §3.7.1), not the
		// SP's configured format.
		func(r *saml.LogoutRequest) {
			r.NameID = &saml.NameID{Value: sub.NameID, Format: sub.Format, NameQualifier: sub.NameQualifier, SPNameQualifier: sub.SPNameQualifier}
		},
		saml.WithSessionIndex(sub.SessionIndex),
	}
	if loc := sp.GetSLOBindingLocation(saml.HTTPRedirectBinding); loc != "" {
		req, err := sp.MakeLogoutRequest(loc, sub.NameID, opts...)
		if err != nil {
			return "", nil, "", err
		}
		u, err := sp.RedirectLogoutRequestURL(req, relay)
		if err != nil {
			return "", nil, "", err
		}
		return u.String(), nil, req.ID, nil
	}
	loc := sp.GetSLOBindingLocation(saml.HTTPPostBinding)
	if loc == "" {
		return "", nil, "", errors.New("the IdP's metadata has no single logout endpoint")
	}
	req, err := sp.MakeLogoutRequest(loc, sub.NameID, opts...)
	if err != nil {
		return "", nil, "", err
	}
	return "", req.PostWithNonce(relay, nonce), req.ID, nil
}

// parseLogoutResponse checks the IdP's answer to the LogoutRequest requestID.
func (c *samlConnector) parseLogoutResponse(r *http.Request, requestID string) error {
	sp := c.spAt(c.now())
	_, err := sp.ParseLogoutResponse(r, []string{requestID})
	return privateErr(err)
}

// parseLogoutRequest checks an IdP's LogoutRequest: signature, destination,
// issuer, time, and single use of its id (recorded with the assertion ids).
func (c *samlConnector) parseLogoutRequest(ctx context.Context, r *http.Request) (*saml.LogoutRequest, error) {
	sp := c.spAt(c.now())
	sp.ReplayCache = sqlReplayCache{ctx: ctx, store: c.store, connID: c.id, keep: c.skew}
	req, err := sp.ValidateLogoutRequest(r)
	if err != nil {
		return nil, privateErr(err)
	}
	if req.NameID == nil || req.NameID.Value == "" {
		return nil, errors.New("LogoutRequest names no NameID")
	}
	return req, nil
}

// logoutResponse answers an IdP's LogoutRequest with a signed Success, at the
// response location of its single logout endpoint: a redirect URL or an
// auto-posting form.
func (c *samlConnector) logoutResponse(requestID, relay, nonce string) (redirect string, form []byte, err error) {
	sp := c.spAt(c.now())
	// crewjam sends LogoutResponses to the endpoint's Location; the metadata may
	// name another ResponseLocation for them (saml-metadata §2.2.2).
	sp.IDPMetadata = withResponseLocations(sp.IDPMetadata)
	if sp.GetSLOBindingLocation(saml.HTTPRedirectBinding) != "" {
		u, err := sp.MakeRedirectLogoutResponse(requestID, relay)
		if err != nil {
			return "", nil, err
		}
		return u.String(), nil, nil
	}
	loc := sp.GetSLOBindingLocation(saml.HTTPPostBinding)
	if loc == "" {
		return "", nil, errors.New("the IdP's metadata has no single logout endpoint to answer at")
	}
	resp, err := sp.MakeLogoutResponse(loc, requestID)
	if err != nil {
		return "", nil, err
	}
	return "", resp.PostWithNonce(relay, nonce), nil
}

// withResponseLocations is a copy of IdP metadata whose single logout
// endpoints are at their ResponseLocation, where one is given.
func withResponseLocations(md *saml.EntityDescriptor) *saml.EntityDescriptor {
	out := *md
	out.IDPSSODescriptors = append([]saml.IDPSSODescriptor(nil), md.IDPSSODescriptors...)
	for i := range out.IDPSSODescriptors {
		eps := append([]saml.Endpoint(nil), out.IDPSSODescriptors[i].SingleLogoutServices...)
		for j := range eps {
			if eps[j].ResponseLocation != "" {
				eps[j].Location = eps[j].ResponseLocation
			}
		}
		out.IDPSSODescriptors[i].SingleLogoutServices = eps
	}
	return &out
}

// privateErr is the cause crewjam keeps for logs inside its public error.
func privateErr(err error) error {
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		return ire.PrivateErr
	}
	return err
}

// bindingOf names the binding a message arrived with.
func bindingOf(r *http.Request) string {
	if r.Method == http.MethodGet {
		return "HTTP-Redirect"
	}
	return "HTTP-POST"
}

// startSingleLogout sends the browser to the IdP to end the IdP session a just
// ended Gatehouse session came from, when the connection does single logout.
// It reports whether it wrote the response.
func (h *Handler) startSingleLogout(w http.ResponseWriter, r *http.Request, s store.Session, returnTo string) bool {
	if s.SAML.NameID == "" {
		return false // an OIDC session, or one from before single logout
	}
	ctx := r.Context()
	conn, err := h.Store.GetSSOConnection(ctx, s.ConnectionID)
	if err != nil || conn.Kind != store.KindSAML {
		return false
	}
	c, err := h.connector(ctx, conn)
	if err != nil {
		h.logger().Warn("sso: single logout not started", "connection", conn.ID, "error", err.Error())
		return false
	}
	sc, ok := c.(*samlConnector)
	if !ok || !sc.slo {
		return false
	}
	relay, nonce := randomToken(), randomToken()
	redirect, form, reqID, err := sc.logoutRequest(s.SAML, relay, nonce)
	if err == nil {
		err = h.Store.SaveSAMLRequest(ctx, store.SAMLRequest{Purpose: store.SAMLLogout, RelayHash: hashToken(relay), RequestID: reqID,
			ConnectionID: conn.ID, ReturnTo: returnTo, ExpiresAt: h.now().Add(loginTTL)})
	}
	if err != nil {
		// The Gatehouse session is over anyway; say so, and that the IdP's may not be.
		h.logger().Warn("sso: single logout not started", "connection", conn.ID, "error", err.Error())
		return false
	}
	if redirect != "" {
		http.Redirect(w, r, redirect, http.StatusFound)
	} else {
		writeAutoPost(w, form, nonce)
	}
	return true
}

// serveSAMLSLO is the single logout endpoint: an IdP's LogoutRequest
// (IdP-initiated) or its LogoutResponse to ours, over either binding.
func (h *Handler) serveSAMLSLO(w http.ResponseWriter, r *http.Request) error {
	conn, err := h.connection(r, store.KindSAML)
	if err != nil {
		return err
	}
	c, err := h.connector(r.Context(), conn)
	if err != nil {
		return err
	}
	sc, ok := c.(*samlConnector)
	if !ok {
		return fmt.Errorf("connector of %s cannot do SAML", conn.ID)
	}
	if err := r.ParseForm(); err != nil {
		return h.refuseLogout(r.Context(), conn, &loginError{reason: "bad_form", status: http.StatusBadRequest, cause: err,
			public: "The identity provider's sign-out message could not be read."}, nil)
	}
	details := map[string]any{"binding": bindingOf(r)}
	switch {
	case r.Form.Get("SAMLRequest") != "":
		return h.serveIdPLogout(w, r, conn, sc, details)
	case r.Form.Get("SAMLResponse") != "":
		return h.serveLogoutResponse(w, r, conn, sc, details)
	}
	return h.refuseLogout(r.Context(), conn, &loginError{reason: "bad_logout_message", status: http.StatusBadRequest,
		cause: errors.New("neither SAMLRequest nor SAMLResponse"), public: "This is not a sign-out message."}, details)
}

// serveIdPLogout ends the sessions an IdP's LogoutRequest names and answers it.
func (h *Handler) serveIdPLogout(w http.ResponseWriter, r *http.Request, conn store.SSOConnection, sc *samlConnector, details map[string]any) error {
	ctx := r.Context()
	details["initiated_by"] = "idp"
	if conn.SAML.NoSingleLogout {
		return h.refuseLogout(ctx, conn, &loginError{reason: "single_logout_off", status: http.StatusForbidden,
			cause:  errors.New("LogoutRequest for a connection whose single logout is off"),
			public: "Single logout is turned off for this identity provider. Sign out of Gatehouse at /sso/logout."}, details)
	}
	req, err := sc.parseLogoutRequest(ctx, r)
	if err != nil {
		reason := "invalid_logout_request"
		if errors.Is(err, saml.ErrAssertionReplayed) {
			reason = "logout_replay"
		}
		return h.refuseLogout(ctx, conn, &loginError{reason: reason, status: http.StatusBadRequest, cause: err,
			public: "The identity provider's sign-out request could not be accepted. Nothing was changed."}, details)
	}
	var indexes []string
	for _, si := range req.AllSessionIndexes() {
		indexes = append(indexes, si.Value)
	}
	details["subject"] = req.NameID.Value
	// This browser's own session ends too: forget its cookie when it is one of them.
	if ck, err := r.Cookie(h.cookieName()); err == nil && ck.Value != "" {
		if s, err := h.Store.LookupSession(ctx, hashToken(ck.Value), h.now()); err == nil && s.ConnectionID == conn.ID && s.SAML.NameID == req.NameID.Value {
			h.clearSessionCookie(w)
		}
	}
	n, err := h.Store.EndSAMLSessions(ctx, conn.ID, req.NameID.Value, indexes, details)
	if err != nil {
		return err
	}
	details["sessions"] = n
	if err := h.Store.RecordSSOEvent(context.WithoutCancel(ctx), conn.OrgID, actorOf(conn), "sso.single_logout", "sso_connection", conn.ID, details); err != nil {
		h.logger().Error("sso: audit single logout", "connection", conn.ID, "error", err.Error())
	}
	h.logger().Info("sso: IdP-initiated logout", "connection", conn.ID, "sessions", n)
	nonce := randomToken()
	redirect, form, err := sc.logoutResponse(req.ID, r.Form.Get("RelayState"), nonce)
	if err != nil {
		return fmt.Errorf("logout response: %w", err)
	}
	if redirect != "" {
		http.Redirect(w, r, redirect, http.StatusFound)
	} else {
		writeAutoPost(w, form, nonce)
	}
	return nil
}

// serveLogoutResponse finishes an SP-initiated single logout.
func (h *Handler) serveLogoutResponse(w http.ResponseWriter, r *http.Request, conn store.SSOConnection, sc *samlConnector, details map[string]any) error {
	ctx := r.Context()
	details["initiated_by"] = "sp"
	pending, err := h.Store.TakeSAMLRequest(ctx, conn.ID, store.SAMLLogout, hashToken(r.Form.Get("RelayState")), h.now())
	if errors.Is(err, core.ErrNotFound) {
		return h.refuseLogout(ctx, conn, &loginError{reason: "slo_unknown_request", status: http.StatusBadRequest,
			cause:  errors.New("LogoutResponse whose RelayState names no pending logout (expired, used, or forged)"),
			public: "You are signed out of Gatehouse. The identity provider's sign-out answer did not match a sign-out started here (or came too late)."}, details)
	}
	if err != nil {
		return err
	}
	if err := sc.parseLogoutResponse(r, pending.RequestID); err != nil {
		return h.refuseLogout(ctx, conn, &loginError{reason: "invalid_logout_response", status: http.StatusBadRequest, cause: err,
			public: "You are signed out of Gatehouse, but your identity provider did not confirm that it signed you out there. " +
				"Close your browser to end that session."}, details)
	}
	if err := h.Store.RecordSSOEvent(context.WithoutCancel(ctx), conn.OrgID, actorOf(conn), "sso.single_logout", "sso_connection", conn.ID, details); err != nil {
		h.logger().Error("sso: audit single logout", "connection", conn.ID, "error", err.Error())
	}
	if rt := localPath(pending.ReturnTo); rt != "/" {
		http.Redirect(w, r, h.path(rt), http.StatusSeeOther)
		return nil
	}
	writePage(w, http.StatusOK, "Signed out", "You are signed out of Gatehouse and of your identity provider.", "")
	return nil
}

// refuseLogout audits a refused single logout message and returns err for the page.
func (h *Handler) refuseLogout(ctx context.Context, conn store.SSOConnection, le *loginError, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["reason"] = le.reason
	details["connection"] = conn.Name
	le.title = "Sign-out"
	if err := h.Store.RecordSSOEvent(context.WithoutCancel(ctx), conn.OrgID, actorOf(conn), "sso.logout_refused", "sso_connection", conn.ID, details); err != nil {
		h.logger().Error("sso: audit refused logout", "connection", conn.ID, "error", err.Error())
	}
	return le
}

func (h *Handler) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(), Value: "", Path: h.path("/"), MaxAge: -1, HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode})
}

var autoPostTmpl = template.Must(template.New("autopost").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing out · Gatehouse</title></head>
<body><p>Signing you out of your identity provider…</p>{{.}}</body></html>`))

// writeAutoPost writes an HTTP-POST binding form that posts itself by a script
// allowed by nonce (without scripts, its button does it).
func writeAutoPost(w http.ResponseWriter, form []byte, nonce string) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'unsafe-inline'; form-action https: http:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	var b bytes.Buffer
	// The form is crewjam's, with values it escaped itself.
	_ = autoPostTmpl.Execute(&b, template.HTML(form)) //nolint:gosec
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}
