package ops

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/domains"
	"github.com/gatehouse-dev/gatehouse/internal/secrets"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// Ops runs the operations. Its fields are its dependencies.
type Ops struct {
	Store store.Store
	// Now is the clock of default names (a rotated token's date); time.Now when nil.
	Now func() time.Time
	// Secrets seals webhook signing secrets under the server's key (a
	// secrets.Box); without it webhooks can be neither created nor rotated.
	Secrets store.Sealer
	// WebhookPolicy is the network policy a webhook URL must pass when saved; the
	// zero value is the strictest (https to public addresses only). Give the
	// deliverer the same one.
	WebhookPolicy webhooks.Policy
	// SSOSecrets seals SSO connection secrets (OIDC client secrets, SAML SP
	// keys); without it connections can be neither created nor given a new
	// client secret.
	SSOSecrets *secrets.Box
	// SSONetwork is the network policy of the IdP metadata and OpenID
	// discovery fetches an org admin's connection settings cause; the zero
	// value reaches public addresses only. Give the sso handler and refresher
	// the same one.
	SSONetwork sso.Network
	// LinkURL is the URL of a sign-in link with that secret, on the server's
	// external URL (sso.SignInLinkURL); without it nobody can be invited.
	LinkURL func(secret string) string
	// Mail, when set, sends invitation links by email.
	Mail Mailer
	// DNS looks up email domain verification records; the system resolver
	// when nil.
	DNS *domains.Checker
}

// New returns the operations over st.
func New(st store.Store) *Ops { return &Ops{Store: st, Now: time.Now} }

func (o *Ops) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// NewToken is a token's record with its secret, which is shown this once.
type NewToken struct {
	store.Token
	Secret string `json:"secret"`
}
