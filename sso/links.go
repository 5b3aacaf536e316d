package sso

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Single-use sign-in links (break glass, invitations) open a session without an
// identity provider. GET /sso/link?token=… only shows a button: mail scanners and
// link previews open links, and must not use them up. The button POSTs the token
// to /sso/link, which takes the link and starts the session in one transaction
// (store.RedeemSignInLink), then lands on the admin pages.

// maxLinkToken bounds a link's secret: ours are 43 characters.
const maxLinkToken = 200

// NewLinkToken makes the secret of a sign-in link and the hash the store keeps.
func NewLinkToken() (secret, hash string) {
	secret = randomToken()
	return secret, HashLinkToken(secret)
}

// HashLinkToken is what the store keeps of a sign-in link's secret.
func HashLinkToken(secret string) string { return store.LinkHash(secret) }

// SignInLinkURL is the URL of a break-glass or invitation link on base, the URL
// browsers reach Gatehouse at.
func SignInLinkURL(base *url.URL, secret string) string {
	return strings.TrimSuffix(base.String(), "/") + "/sso/link?token=" + url.QueryEscape(secret)
}

func (h *Handler) serveLinkForm(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if tok == "" || len(tok) > maxLinkToken {
		renderPage(w, http.StatusNotFound, page{Title: "Sign in", Message: "This sign-in link is not valid. Ask for a new one."})
		return nil
	}
	renderPage(w, http.StatusOK, page{Title: "Sign in to Gatehouse",
		Message: "This is a single-use sign-in link: it works once, for a short time.", Action: h.path("/sso/link"), Token: tok})
	return nil
}

func (h *Handler) serveLink(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &loginError{reason: "bad_form", public: "The form could not be read.", status: http.StatusBadRequest, cause: err}
	}
	tok := r.PostForm.Get("token")
	if tok == "" || len(tok) > maxLinkToken {
		return &loginError{reason: "link_invalid", public: "This sign-in link is not valid. Ask for a new one.", status: http.StatusNotFound,
			cause: errors.New("no or oversized link token")}
	}
	sid, ss := h.NewSession("", "")
	l, err := h.Store.RedeemSignInLink(r.Context(), HashLinkToken(tok), ss, nil)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return &loginError{reason: "link_used", public: "This sign-in link has expired or was already used. Ask for a new one.", status: http.StatusGone, cause: err}
	case errors.Is(err, core.ErrInvalid):
		return refusal("link_refused", "This sign-in link cannot be used: the account is deactivated, or no longer allowed to use it. Ask for a new one.", err)
	case err != nil:
		return err
	}
	h.logger().Info("sso: signed in with a link", "kind", string(l.Kind), "org", l.OrgID, "user", l.UserID)
	h.SetSessionCookie(w, sid)
	http.Redirect(w, r, h.path("/admin/"), http.StatusSeeOther)
	return nil
}

// NewSession makes a new session for a user: the id to set as the cookie (see
// SetSessionCookie) and the record to store, which keeps only the id's hash and
// carries the handler's idle and absolute timeouts from now. Other edges that
// sign a person in (the first-run setup page) store it in their own transaction.
func (h *Handler) NewSession(orgID, userID string) (sid string, ss store.Session) {
	sid = randomToken()
	now := h.now()
	return sid, store.Session{IDHash: hashToken(sid), OrgID: orgID, UserID: userID,
		CreatedAt: now, ExpiresAt: now.Add(h.lifetime()), Idle: h.idle()}
}

// SetSessionCookie hands the browser its session id.
func (h *Handler) SetSessionCookie(w http.ResponseWriter, sid string) {
	http.SetCookie(w, &http.Cookie{
		Name: h.cookieName(), Value: sid, Path: h.path("/"), MaxAge: int(h.lifetime().Seconds()),
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode,
	})
}
