package sso

import (
	"context"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const (
	oidcStateCookie         = "gatehouse_oidc_state"
	samlBindingCookiePrefix = "gatehouse_saml_"
)

// serveLoginForm asks for a work email (GET /sso/login).
func (h *Handler) serveLoginForm(w http.ResponseWriter, r *http.Request) error {
	renderPage(w, http.StatusOK, page{Title: "Sign in", Message: "Enter your work email to sign in through your company's identity provider.",
		Form: true, Action: h.path("/sso/login"), ReturnTo: localPath(r.URL.Query().Get("return_to"))})
	return nil
}

// serveLoginEmail sends the browser to the connection of the email's domain.
func (h *Handler) serveLoginEmail(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &loginError{reason: "bad_form", public: "The form could not be read.", status: http.StatusBadRequest, cause: err}
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	returnTo := localPath(r.PostForm.Get("return_to"))
	at := strings.LastIndexByte(email, '@')
	// Bytes that are not text never name a domain: refuse them here rather than let
	// PostgreSQL refuse them (invalid UTF-8 and NUL are errors in a text parameter).
	if at <= 0 || at == len(email)-1 || !utf8.ValidString(email) || strings.ContainsFunc(email, unicode.IsControl) {
		renderPage(w, http.StatusBadRequest, page{Title: "Sign in", Message: "That is not an email address.", Form: true, Action: h.path("/sso/login"), ReturnTo: returnTo})
		return nil
	}
	conn, err := h.Store.SSOConnectionForDomain(r.Context(), email[at+1:])
	if errors.Is(err, core.ErrNotFound) {
		renderPage(w, http.StatusNotFound, page{Title: "Sign in", Message: "No single sign-on is set up for that email domain. Ask your administrator.", Form: true, Action: h.path("/sso/login"), ReturnTo: returnTo,
			Hint: noSSOHint})
		return nil
	}
	if err != nil {
		return err
	}
	// An org that requires verified domains routes only those.
	if trusted, err := h.Store.TrustedDomains(r.Context(), conn.OrgID, []string{email[at+1:]}); err != nil {
		return err
	} else if len(trusted) == 0 {
		renderPage(w, http.StatusNotFound, page{Title: "Sign in", Message: "Single sign-on for that email domain waits for its organization to verify the domain. Ask your administrator.",
			Form: true, Action: h.path("/sso/login"), ReturnTo: returnTo, Hint: unverifiedHint})
		return nil
	}
	target := h.path("/sso/" + string(conn.Kind) + "/" + url.PathEscape(conn.ID) + "/login?return_to=" + url.QueryEscape(returnTo))
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// noSSOHint tells an org admin whose domain has no SSO connection yet how to get
// in: a single-use sign-in link from whoever runs the server.
const noSSOHint = "Are you an org admin and your organization has no single sign-on yet (or its identity provider is down)? " +
	"Whoever runs Gatehouse can print you a single-use sign-in link: gatehouse login-link --org YOUR-ORG --email YOUR-EMAIL. " +
	"Once in, connect your identity provider on the Single sign-on page."

// unverifiedHint tells an org admin how to make the domain usable again.
const unverifiedHint = "Are you an org admin? Your organization requires verified email domains: verify this one on the Domains page " +
	"(publish its DNS TXT record, then Verify), or have whoever runs Gatehouse run gatehouse domain verify. " +
	"A single-use sign-in link gets you in meanwhile: gatehouse login-link --org YOUR-ORG --email YOUR-EMAIL."

// ownPath turns a landing page into a local path: a local path as it is, or an
// absolute URL on Gatehouse's own external URL (Okta's Default RelayState is often
// one); anything else becomes "/".
func (h *Handler) ownPath(s string) string {
	if p := localPath(s); p != "/" || s == "/" {
		return p
	}
	u, err := url.Parse(s)
	if err != nil || h.ExternalURL == nil || u.Scheme != h.ExternalURL.Scheme || u.Host != h.ExternalURL.Host || u.User != nil {
		return "/"
	}
	prefix := strings.TrimSuffix(h.ExternalURL.Path, "/")
	rest, ok := strings.CutPrefix(u.RequestURI(), prefix)
	if !ok {
		return "/"
	}
	return localPath(rest)
}

// path prefixes a local path with the external URL's path, if any.
func (h *Handler) path(p string) string {
	if h.ExternalURL == nil {
		return p
	}
	return strings.TrimSuffix(h.ExternalURL.Path, "/") + p
}

// serveSAMLMetadata publishes the SP metadata of a connection.
func (h *Handler) serveSAMLMetadata(w http.ResponseWriter, r *http.Request) {
	conn, err := h.connection(r, store.KindSAML)
	var c Connector
	if err == nil {
		c, err = h.connector(r.Context(), conn)
	}
	if err != nil {
		h.logger().Warn("sso: metadata", "connection", r.PathValue("connection"), "error", err.Error())
		status := http.StatusInternalServerError
		var le *loginError
		if errors.As(err, &le) {
			status = le.status
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	sc, ok := c.(*samlConnector)
	if !ok {
		http.Error(w, http.StatusText(http.StatusNotFound), http.StatusNotFound)
		return
	}
	b, err := xml.MarshalIndent(sc.Metadata(), "", "  ")
	if err != nil {
		h.logger().Error("sso: metadata", "connection", conn.ID, "error", err.Error())
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// serveSAMLLogin starts an SP-initiated login: it records the AuthnRequest and
// redirects to the IdP (HTTP-Redirect binding).
func (h *Handler) serveSAMLLogin(w http.ResponseWriter, r *http.Request) error {
	conn, err := h.connection(r, store.KindSAML)
	if err != nil {
		return err
	}
	c, err := h.connector(r.Context(), conn)
	if err != nil {
		return err
	}
	h.maybePrune(r.Context())
	relay := randomToken()
	sc, ok := c.(SAMLConnector)
	if !ok {
		return fmt.Errorf("connector of %s cannot do SAML", conn.ID)
	}
	target, reqID, err := sc.AuthnRequest(relay)
	if err != nil {
		return fmt.Errorf("authn request: %w", err)
	}
	binding := randomToken()
	if err := h.Store.SaveSAMLRequest(r.Context(), store.SAMLRequest{
		RelayHash: hashToken(relay), RequestID: reqID, ConnectionID: conn.ID,
		ReturnTo: localPath(r.URL.Query().Get("return_to")), ExpiresAt: h.now().Add(loginTTL),
		BindingHash: hashToken(binding),
	}); err != nil {
		return err
	}
	http.SetCookie(w, h.samlBindingCookie(conn.ID, relay, binding, int(loginTTL.Seconds())))
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// samlBindingCookie is the cookie binding one SP-initiated login to the browser
// that started it. Its name is derived from the RelayState, so logins started in
// two tabs do not overwrite each other's binding; it is scoped to the ACS path.
// The IdP's POST to the ACS is a cross-site request, which carries only
// SameSite=None cookies, and browsers accept those only with Secure, i.e. over
// HTTPS. Over plain http (development) it is Lax, so browsers do not send it on
// that POST, and the ACS then accepts a login without it (see samlBindingOK).
func (h *Handler) samlBindingCookie(connID, relay, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{
		Name: samlBindingCookiePrefix + hashToken(relay)[:20], Value: value,
		Path:   h.path("/sso/saml/" + url.PathEscape(connID) + "/acs"),
		MaxAge: maxAge, HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode,
	}
	if h.secure() {
		c.SameSite = http.SameSiteNoneMode
	}
	return c
}

// samlBindingOK says whether a solicited response arrives in the browser that
// started its login: the request's binding cookie must hash to the stored value.
// Over https the cookie is required. Over plain http browsers do not send it on
// the IdP's cross-site POST, so a missing cookie is accepted there (Mount warns
// about it at startup); a cookie that is present must still match.
func (h *Handler) samlBindingOK(r *http.Request, relay string, req store.SAMLRequest) bool {
	ck, err := r.Cookie(samlBindingCookiePrefix + hashToken(relay)[:20])
	if err != nil || ck.Value == "" {
		return !h.secure()
	}
	return req.BindingHash != "" && subtle.ConstantTimeCompare([]byte(hashToken(ck.Value)), []byte(req.BindingHash)) == 1
}

// serveSAMLACS receives the IdP's response (HTTP-POST binding).
func (h *Handler) serveSAMLACS(w http.ResponseWriter, r *http.Request) error {
	conn, err := h.connection(r, store.KindSAML)
	if err != nil {
		return err
	}
	c, err := h.connector(r.Context(), conn)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return h.refuse(r.Context(), conn, &loginError{reason: "bad_form", public: "The identity provider's answer could not be read.", status: http.StatusBadRequest, cause: err}, nil)
	}
	relay := r.PostForm.Get("RelayState")
	var ids []string
	returnTo := "/"
	if relay != "" {
		req, err := h.Store.TakeSAMLRequest(r.Context(), conn.ID, store.SAMLLogin, hashToken(relay), h.now())
		switch {
		case err == nil:
			// The login is over either way: its binding cookie is no longer needed.
			http.SetCookie(w, h.samlBindingCookie(conn.ID, relay, "", -1))
			if !h.samlBindingOK(r, relay, req) {
				return h.refuse(r.Context(), conn, refusal("saml_browser_mismatch",
					"This sign-in was not started in this browser, or took too long. Please start again.",
					errors.New("solicited SAML response without this login's browser-binding cookie (possible login CSRF)")),
					map[string]any{"sp_initiated": true})
			}
			ids, returnTo = []string{req.RequestID}, req.ReturnTo
		case errors.Is(err, core.ErrNotFound) && !conn.SAML.AllowIdPInitiated && !strings.HasPrefix(relay, "/") && !strings.Contains(relay, "://"):
			// Shaped like our own RelayState (not an IdP's landing URL): a login of
			// ours that expired or was already finished.
			return h.refuse(r.Context(), conn, refusal("saml_unknown_request", "This sign-in expired or was already used. Please start again.",
				errors.New("RelayState names no pending request (expired, used, or forged)")), nil)
		case errors.Is(err, core.ErrNotFound):
			// Not ours: an IdP-initiated login's RelayState is the landing page.
			returnTo = h.ownPath(relay)
		default:
			return err
		}
	}
	sc, ok := c.(SAMLConnector)
	if !ok {
		return fmt.Errorf("connector of %s cannot do SAML", conn.ID)
	}
	id, err := sc.HandlePOST(r.Context(), r, ids)
	if err != nil {
		return h.refuse(r.Context(), conn, err, map[string]any{"sp_initiated": len(ids) > 0})
	}
	return h.completeLogin(w, r, conn, id, returnTo, map[string]any{"protocol": "saml", "sp_initiated": len(ids) > 0})
}

// serveOIDCLogin starts an OIDC login: state, nonce and PKCE verifier go to SQL,
// the state also to a cookie binding the login to this browser.
func (h *Handler) serveOIDCLogin(w http.ResponseWriter, r *http.Request) error {
	conn, err := h.connection(r, store.KindOIDC)
	if err != nil {
		return err
	}
	c, err := h.connector(r.Context(), conn)
	if err != nil {
		return err
	}
	h.maybePrune(r.Context())
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	if err := h.Store.SaveOIDCState(r.Context(), store.OIDCState{
		StateHash: hashToken(state), ConnectionID: conn.ID, Nonce: nonce, PKCEVerifier: verifier,
		ReturnTo: localPath(r.URL.Query().Get("return_to")), ExpiresAt: h.now().Add(loginTTL),
	}); err != nil {
		return err
	}
	rc, ok := c.(RedirectConnector)
	if !ok {
		return fmt.Errorf("connector of %s cannot do redirects", conn.ID)
	}
	target, err := rc.LoginURL(r.Context(), state, nonce, verifier)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: oidcStateCookie, Value: state, Path: h.path("/sso/oidc/" + url.PathEscape(conn.ID) + "/"),
		MaxAge: int(loginTTL.Seconds()), HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// serveOIDCCallback finishes an OIDC login.
func (h *Handler) serveOIDCCallback(w http.ResponseWriter, r *http.Request) error {
	conn, err := h.connection(r, store.KindOIDC)
	if err != nil {
		return err
	}
	c, err := h.connector(r.Context(), conn)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie, Value: "", Path: h.path("/sso/oidc/" + url.PathEscape(conn.ID) + "/"),
		MaxAge: -1, HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode})
	state := r.URL.Query().Get("state")
	ck, _ := r.Cookie(oidcStateCookie)
	if state == "" || ck == nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		return h.refuse(r.Context(), conn, refusal("oidc_state_mismatch", "This sign-in was not started in this browser, or took too long. Please start again.",
			errors.New("state parameter does not match this browser's login")), nil)
	}
	st, err := h.Store.TakeOIDCState(r.Context(), conn.ID, hashToken(state), h.now())
	if errors.Is(err, core.ErrNotFound) {
		return h.refuse(r.Context(), conn, refusal("oidc_unknown_state", "This sign-in expired or was already used. Please start again.",
			errors.New("no live login for this state")), nil)
	}
	if err != nil {
		return err
	}
	rc, ok := c.(RedirectConnector)
	if !ok {
		return fmt.Errorf("connector of %s cannot do redirects", conn.ID)
	}
	id, err := rc.HandleCallback(r.Context(), r, st.Nonce, st.PKCEVerifier)
	if err != nil {
		return h.refuse(r.Context(), conn, err, nil)
	}
	return h.completeLogin(w, r, conn, id, st.ReturnTo, map[string]any{"protocol": "oidc"})
}

// refuse writes the audit event of a refused login and returns err for the page.
func (h *Handler) refuse(ctx context.Context, conn store.SSOConnection, err error, details map[string]any) error {
	var le *loginError
	if !errors.As(err, &le) {
		return err
	}
	if details == nil {
		details = map[string]any{}
	}
	details["reason"] = le.reason
	if le.subject != "" {
		details["subject"] = le.subject
	}
	details["connection"] = conn.Name
	h.Metrics.Login(conn.Name, string(conn.Kind), le.reason)
	targetKind, targetID := "sso_connection", conn.ID
	if uid, ok := details["user_id"].(string); ok {
		targetKind, targetID = "user", uid
		delete(details, "user_id")
	}
	if aerr := h.Store.RecordSSOEvent(context.WithoutCancel(ctx), conn.OrgID, actorOf(conn), "sso.login_refused", targetKind, targetID, details); aerr != nil {
		h.logger().Error("sso: audit refused login", "connection", conn.ID, "error", aerr.Error())
	}
	return err
}

func actorOf(conn store.SSOConnection) core.Actor {
	return core.Actor{Kind: core.ActorSSO, ID: conn.ID, Name: conn.Name}
}

// completeLogin turns a checked identity into a session: find or create the user,
// refuse inactive ones, reconcile the connection's IdP groups, start the session.
func (h *Handler) completeLogin(w http.ResponseWriter, r *http.Request, conn store.SSOConnection, id Identity, returnTo string, details map[string]any) error {
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(id.Email))
	at := strings.LastIndexByte(email, '@')
	// Bytes that are not text never name a domain: refuse them here rather than let
	// PostgreSQL refuse them (invalid UTF-8 and NUL are errors in a text parameter).
	if at <= 0 || at == len(email)-1 || !utf8.ValidString(email) || strings.ContainsFunc(email, unicode.IsControl) {
		return h.refuse(ctx, conn, refusal("no_email", "Your identity provider did not send an email address. Ask your administrator to release it to Gatehouse.",
			fmt.Errorf("identity %q has no usable email", id.Subject)), details)
	}
	details["email"] = email
	details["subject"] = id.Subject
	if err := checkGroups(id.Groups); err != nil {
		details["groups_count"] = len(id.Groups)
		return h.refuse(ctx, conn, err, details)
	}
	if id.EmailSource != "" {
		details["email_source"] = id.EmailSource
	}
	// The domains the connection trusts an address in without more proof: all of
	// its own, or only the verified ones when the org requires verified domains.
	trusted, err := h.Store.TrustedDomains(ctx, conn.OrgID, conn.Domains)
	if err != nil {
		return fmt.Errorf("trusted domains of %s: %w", conn.ID, err)
	}
	if id.EmailFromUPN && !containsFold(trusted, email[at+1:]) {
		// The admin mapped a sign-in name (UPN, preferred_username) as the email:
		// it is an address only in the domains the org routed to this connection.
		return h.refuse(ctx, conn, refusal("email_source_outside_domains",
			"Your identity provider sent your sign-in name instead of a verified email address, and its domain is not one this sign-in accepts. "+
				"Ask your administrator to release your email address to Gatehouse, or to add your domain to the connection.",
			fmt.Errorf("email %s came from %q, a sign-in name, and its domain is not one of the connection's trusted %v", email, id.EmailSource, trusted)), details)
	}
	if !id.EmailVerified {
		return h.refuse(ctx, conn, refusal("email_not_verified", "Your email address is not verified at your identity provider.",
			fmt.Errorf("email %s not verified", email)), details)
	}
	if len(conn.Domains) > 0 && !containsFold(conn.Domains, email[at+1:]) {
		return h.refuse(ctx, conn, refusal("email_domain_not_allowed", "Your email domain may not sign in through this connection.",
			fmt.Errorf("email domain %s is not one of the connection's %v", email[at+1:], conn.Domains)), details)
	}
	if id.GroupsOverage != "" {
		// Entra's groups overage: the groups come from the linked directory, or the
		// login is refused before anything is looked up or created.
		details["groups_overage"] = id.GroupsOverage
		if conn.DirectoryID == "" {
			return h.refuse(ctx, conn, groupsOverage(id.Subject, h.orgSlug(ctx, conn.OrgID), conn.Name, h.path("/admin/sso/"+url.PathEscape(conn.ID)),
				fmt.Errorf("%s, and the connection is linked to no SCIM directory", id.GroupsOverage)), details)
		}
	}
	actor := actorOf(conn)
	user, err := h.Store.GetUserByEmail(ctx, conn.OrgID, email)
	if errors.Is(err, core.ErrNotFound) {
		user, err = h.Store.GetUserByUserName(ctx, conn.OrgID, email)
	}
	created := false
	if errors.Is(err, core.ErrNotFound) && id.GroupsOverage != "" {
		// Just-in-time creation would make a user with no groups: the linked
		// directory has not provisioned this person.
		return h.refuse(ctx, conn, overageNotProvisioned(id.Subject, h.directoryName(ctx, conn),
			fmt.Errorf("%s; no user %s, so the linked directory has no groups of theirs", id.GroupsOverage, email)), details)
	}
	if errors.Is(err, core.ErrNotFound) {
		if !conn.JIT {
			return h.refuse(ctx, conn, refusal("no_account", "You do not have a Gatehouse account yet. Ask your administrator to give you access.",
				fmt.Errorf("no user %s and just-in-time creation is off", email)), details)
		}
		userName, display := jitNames(id, email)
		user, err = h.Store.CreateUser(ctx, actor, core.User{
			OrgID: conn.OrgID, UserName: userName, Email: email, DisplayName: display,
			GivenName: id.GivenName, FamilyName: id.FamilyName, Active: true, Source: core.SourceSSO, ConnectionID: conn.ID,
		})
		if errors.Is(err, core.ErrConflict) {
			// The user name is taken: by another login of the same person through this
			// connection meanwhile (which the rule below lets in), or by someone else,
			// whom just-in-time creation never attaches to (the rule refuses).
			user, err = h.Store.GetUserByUserName(ctx, conn.OrgID, userName)
		} else if err == nil {
			created = true
			details["jit_created"] = true
		}
	}
	if err != nil {
		return fmt.Errorf("find user %s: %w", email, err)
	}
	if !created {
		// Identity sources are trust boundaries: the connection signs in only a user
		// it owns, one its linked directory owns, or a local one in its domains.
		ok, adopt, reason := core.MaySignIn(user.Owner, core.SignInConnection{ID: conn.ID, DirectoryID: conn.DirectoryID, Domains: trusted}, email[at+1:])
		if !ok {
			details["user_id"] = user.ID
			details["owner"] = map[string]any{"kind": string(user.Owner.Kind), "id": user.Owner.ID, "name": user.Owner.Name}
			return h.refuse(ctx, conn, refusal(reason, refusalText(reason),
				fmt.Errorf("user %s is owned by %s %q, which this connection may not sign in (%s)", user.ID, user.Owner.Kind, user.Owner.Name, reason)), details)
		}
		if id.GroupsOverage != "" && (user.Owner.Kind != core.OwnerDirectory || user.Owner.ID != conn.DirectoryID) {
			// Signed in by its domains or as the connection's own user, but the groups
			// can come only from what the linked directory provisioned for them.
			details["user_id"] = user.ID
			details["owner"] = map[string]any{"kind": string(user.Owner.Kind), "id": user.Owner.ID, "name": user.Owner.Name}
			return h.refuse(ctx, conn, overageNotProvisioned(id.Subject, h.directoryName(ctx, conn),
				fmt.Errorf("%s; user %s is owned by %s %q, not the linked directory", id.GroupsOverage, user.ID, user.Owner.Kind, user.Owner.Name)), details)
		}
		if adopt && user.Active {
			// The store checks adoption again, with the user locked, by the one rule
			// SCIM's create uses too: a refusal here (the owner, the connection's
			// domains or their trust changed since the check above) refuses the
			// sign-in.
			adopted, err := h.Store.AdoptUser(ctx, actor, conn.OrgID, user.ID, core.Owner{Kind: core.OwnerConnection, ID: conn.ID}, email)
			if errors.Is(err, core.ErrConflict) {
				details["user_id"] = user.ID
				return h.refuse(ctx, conn, refusal(core.RefuseLocalOutside, refusalText(core.RefuseLocalOutside), fmt.Errorf("adopt user %s: %w", user.ID, err)), details)
			}
			if err != nil {
				return fmt.Errorf("adopt user %s: %w", user.ID, err)
			}
			user = adopted
			details["adopted"] = true
		}
	}
	if !user.Active {
		details["user_id"] = user.ID
		return h.refuse(ctx, conn, refusal("user_deactivated", "Your Gatehouse account is deactivated. Ask your administrator if you need access.",
			fmt.Errorf("user %s is deactivated", user.ID)), details)
	}
	if id.GroupsOverage != "" {
		// One transaction reads the user's groups in the linked directory and makes
		// them the connection's groups of the user; it checks the link and the owner
		// again, so a change since the checks above refuses rather than mixes.
		dg, err := h.Store.SetConnectionGroupsFromDirectory(ctx, actor, conn.OrgID, conn.ID, user.ID)
		if errors.Is(err, core.ErrConflict) {
			details["user_id"] = user.ID
			return h.refuse(ctx, conn, overageNotProvisioned(id.Subject, h.directoryName(ctx, conn), fmt.Errorf("%s: %w", id.GroupsOverage, err)), details)
		}
		if err != nil {
			return fmt.Errorf("set groups of %s from the linked directory: %w", user.ID, err)
		}
		id.Groups = dg.Values
		details["groups_from"] = "directory"
		details["groups_directory_id"] = dg.DirectoryID
		details["groups_directory"] = h.directoryName(ctx, store.SSOConnection{OrgID: conn.OrgID, DirectoryID: dg.DirectoryID})
	} else {
		if err := h.Store.SetConnectionGroups(ctx, actor, conn.OrgID, conn.ID, user.ID, id.Groups); err != nil {
			return fmt.Errorf("set groups of %s: %w", user.ID, err)
		}
		details["groups_from"] = "idp"
	}
	details["groups"] = id.Groups
	sid := randomToken()
	now := h.now()
	if err := h.Store.CreateSession(ctx, actor, store.Session{
		IDHash: hashToken(sid), OrgID: conn.OrgID, UserID: user.ID, ConnectionID: conn.ID,
		CreatedAt: now, ExpiresAt: now.Add(h.lifetime()), Idle: h.idle(), SAML: id.SAML,
	}, details); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	h.logger().Info("sso: login", "connection", conn.ID, "user", user.ID, "groups", len(id.Groups))
	h.Metrics.Login(conn.Name, string(conn.Kind), "ok")
	h.SetSessionCookie(w, sid)
	http.Redirect(w, r, h.path(localPath(returnTo)), http.StatusSeeOther)
	return nil
}

// jitNames are the user name and display name of a user created at login: the
// mapped ones, else the email and the given and family names.
func jitNames(id Identity, email string) (userName, display string) {
	userName = strings.TrimSpace(id.UserName)
	if userName == "" {
		userName = email
	}
	display = strings.TrimSpace(id.DisplayName)
	if display == "" {
		display = strings.TrimSpace(id.GivenName + " " + id.FamilyName)
	}
	return userName, display
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// sameOrigin refuses state-changing requests a browser says come from another
// origin (Sec-Fetch-Site, or Origin against Host); it holds no per-handler state.
var sameOrigin = http.NewCrossOriginProtection()

// serveLogoutForm asks to confirm (GET /sso/logout): a GET must not end a session,
// or any page could log people out with an image tag.
func (h *Handler) serveLogoutForm(w http.ResponseWriter, r *http.Request) error {
	renderPage(w, http.StatusOK, page{Title: "Sign out", Message: "Sign out of Gatehouse?", Logout: true,
		Action: h.path("/sso/logout"), ReturnTo: localPath(r.URL.Query().Get("return_to"))})
	return nil
}

// serveLogout ends the session (POST /sso/logout), then, for a SAML session
// whose IdP does single logout, sends the browser on to end the IdP session too.
// The session cookie is SameSite=Lax, which a sibling subdomain's form still gets
// (same-site, cross-origin): the request must come from this origin.
func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request) error {
	if err := sameOrigin.Check(r); err != nil {
		return &loginError{reason: "cross_origin", title: "Sign-out refused", status: http.StatusForbidden, cause: err,
			public: "Sign out from a Gatehouse page: this request came from another site."}
	}
	_ = r.ParseForm()
	returnTo := localPath(r.PostForm.Get("return_to"))
	var ended store.Session
	if ck, err := r.Cookie(h.cookieName()); err == nil && ck.Value != "" {
		s, err := h.Store.EndSession(r.Context(), hashToken(ck.Value), map[string]any{"initiated_by": "user"})
		switch {
		case err == nil:
			ended = s
		case !errors.Is(err, core.ErrNotFound):
			return err
		}
	}
	h.clearSessionCookie(w)
	if ended.IDHash != "" && h.startSingleLogout(w, r, ended, returnTo) {
		return nil
	}
	if returnTo != "/" {
		http.Redirect(w, r, h.path(returnTo), http.StatusSeeOther)
		return nil
	}
	writePage(w, http.StatusOK, "Signed out", "You are signed out of Gatehouse.", "")
	return nil
}

// Session returns the live session of a request's cookie, or core.ErrNotFound.
// Other handlers (the admin pages) use it to authenticate browsers.
func (h *Handler) Session(r *http.Request) (store.Session, error) {
	ck, err := r.Cookie(h.cookieName())
	if err != nil || ck.Value == "" {
		return store.Session{}, fmt.Errorf("no session cookie: %w", core.ErrNotFound)
	}
	return h.Store.LookupSession(r.Context(), hashToken(ck.Value), h.now())
}

// refusalText is what the refusal page tells a person their account's owner does
// not allow.
func refusalText(reason string) string {
	switch reason {
	case core.RefuseOwnedByConnection:
		return "Your Gatehouse account belongs to another single sign-on connection, so it cannot sign in here. Sign in the way your administrator set up for you."
	case core.RefuseOwnedByDirectory:
		return "Your Gatehouse account is managed by a directory that is not linked to this sign-in. Sign in through your company's identity provider, or ask your administrator to link the two."
	default:
		return "Your Gatehouse account was not created by this sign-in, and your email domain is not one it accepts. Ask your administrator to add your domain to the connection."
	}
}

// orgSlug names an org for a command line in a refusal page; "ORG" when it
// cannot be read (the page is still right, with a placeholder).
func (h *Handler) orgSlug(ctx context.Context, orgID string) string {
	o, err := h.Store.GetOrg(ctx, orgID)
	if err != nil {
		h.logger().Warn("sso: org of a refusal", "org", orgID, "error", err.Error())
		return "ORG"
	}
	return o.Slug
}

// directoryName names the directory a connection is linked to, for refusal pages
// and audit events; its id when it cannot be read.
func (h *Handler) directoryName(ctx context.Context, conn store.SSOConnection) string {
	d, err := h.Store.GetDirectory(ctx, conn.OrgID, conn.DirectoryID)
	if err != nil {
		h.logger().Warn("sso: linked directory", "directory", conn.DirectoryID, "error", err.Error())
		return conn.DirectoryID
	}
	return d.Name
}
