package ops

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SetupLinkTTL is how long the first-run setup link works.
const SetupLinkTTL = 24 * time.Hour

// IssueSetupLink stores a first-run setup link (its secret's hash) valid for
// SetupLinkTTL from now, when the database has no organization yet; with one,
// it writes nothing and says so (issued false): the first run is over.
func (o *Ops) IssueSetupLink(ctx context.Context, tokenHash string) (issued bool, expires time.Time, err error) {
	orgs, err := o.Store.ListOrgs(ctx)
	if err != nil || len(orgs) > 0 {
		return false, time.Time{}, err
	}
	now := o.now()
	l := store.SignInLink{TokenHash: tokenHash, Kind: store.SignInSetup, CreatedAt: now, ExpiresAt: now.Add(SetupLinkTTL)}
	if err := o.Store.CreateSignInLink(ctx, core.Actor{Kind: core.ActorSystem, Name: "gatehouse serve"}, l); err != nil {
		return false, time.Time{}, err
	}
	return true, l.ExpiresAt, nil
}

// Setup is the first-run form: the organization and its first org admin.
type Setup struct {
	Slug, Name            string
	AdminName, AdminEmail string
}

// SetUp uses the setup link of tokenHash, creates the organization with its
// first org admin, and starts that person's session ss (its id hash and times;
// the org and user are filled in), in one transaction: a refused setup (a slug
// taken, a bad email, a used or expired link) creates nothing and leaves the
// link as it was. The session is audited as signin.setup.
func (o *Ops) SetUp(ctx context.Context, tokenHash string, in Setup, ss store.Session) (core.Org, core.User, error) {
	var org core.Org
	var admin core.User
	actor := core.Actor{Kind: core.ActorSystem, Name: "first-run setup"}
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		if err := st.TakeSetupLink(ctx, tokenHash, ss.CreatedAt); err != nil {
			return err
		}
		var err error
		org, admin, err = st.CreateOrgWithAdmin(ctx, actor, store.NewOrg{Slug: in.Slug, Name: in.Name, AdminEmail: in.AdminEmail, AdminName: in.AdminName})
		if err != nil {
			return err
		}
		ss.OrgID, ss.UserID = org.ID, admin.ID
		return st.StartSetupSession(ctx, ss)
	})
	if err != nil {
		return core.Org{}, core.User{}, err
	}
	return org, admin, nil
}

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// Mailer sends one plain-text email (a mail.SMTP).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Invitation is an invited person with their single-use sign-in link. The URL is
// shown this once (the store keeps only its hash); Emailed says whether it went
// out by mail, and EmailError why not when sending failed.
type Invitation struct {
	User       core.User `json:"user"`
	URL        string    `json:"invitation_url"`
	ExpiresAt  time.Time `json:"expires_at"`
	Emailed    bool      `json:"emailed"`
	EmailError string    `json:"email_error,omitempty"`
}

// Invite creates a local user (source invited) and their invitation link in one
// transaction (user.create and signin_link.create audited); the link signs them
// in the first time, after which they sign in through SSO. With a Mailer the
// link is sent to them after the commit; a failed send leaves the invitation in
// place and says so, for the admin to pass the link on. A user name (or email)
// the org already has is core.ErrConflict, and nothing is written.
func (o *Ops) Invite(ctx context.Context, actor core.Actor, u core.User) (Invitation, error) {
	if o.LinkURL == nil {
		return Invitation{}, core.Invalidf("invitations need the server's external URL")
	}
	u.Email = strings.TrimSpace(u.Email)
	if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email {
		return Invitation{}, core.Invalidf("email %q is not a valid email address", u.Email)
	}
	if u.UserName == "" {
		u.UserName = u.Email
	}
	u.Active, u.Source, u.DirectoryID = true, core.SourceInvited, ""
	secret, hash := newLinkSecret()
	now := o.now()
	var inv Invitation
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		if _, err := st.GetUserByEmail(ctx, u.OrgID, u.Email); err == nil {
			return fmt.Errorf("a user with email %s: %w", u.Email, core.ErrConflict)
		} else if !errors.Is(err, core.ErrNotFound) {
			return err
		}
		created, err := st.CreateUser(ctx, actor, u)
		if err != nil {
			return err
		}
		l := store.SignInLink{TokenHash: hash, Kind: store.SignInInvitation, OrgID: u.OrgID, UserID: created.ID, CreatedAt: now, ExpiresAt: now.Add(InvitationTTL)}
		if err := st.CreateSignInLink(ctx, actor, l); err != nil {
			return err
		}
		inv = Invitation{User: created, URL: o.LinkURL(secret), ExpiresAt: l.ExpiresAt}
		return nil
	})
	if err != nil {
		return Invitation{}, err
	}
	if o.Mail != nil {
		org, err := o.Store.GetOrg(ctx, u.OrgID)
		if err == nil {
			err = o.Mail.Send(ctx, inv.User.Email, "You are invited to "+org.Name+" on Gatehouse", invitationMail(org, inv, actor))
		}
		if err != nil {
			inv.EmailError = "the invitation email could not be sent; pass the link on yourself"
			return inv, fmt.Errorf("%w: %w", errMailFailed, err)
		}
		inv.Emailed = true
	}
	return inv, nil
}

// errMailFailed marks an Invite whose invitation stands but whose email failed:
// the edge shows the link and logs the cause (IsMailFailure).
var errMailFailed = errors.New("invitation email not sent")

// IsMailFailure reports whether Invite's error is only that the email failed:
// the invitation was made and its link is in the result.
func IsMailFailure(err error) bool { return errors.Is(err, errMailFailed) }

func invitationMail(org core.Org, inv Invitation, actor core.Actor) string {
	who := actor.Name
	if who == "" {
		who = "An administrator"
	}
	return who + " invited you to " + org.Name + " on Gatehouse.\n\n" +
		"Open this link to sign in for the first time (it works once, until " + inv.ExpiresAt.UTC().Format("2006-01-02 15:04 MST") + "):\n\n" +
		inv.URL + "\n\n" +
		"Afterwards, sign in through your company's single sign-on. If you did not expect this, ignore this email.\n"
}

// newLinkSecret makes a sign-in link's secret and the hash the store keeps.
func newLinkSecret() (secret, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, store.LinkHash(secret)
}

// RecoverAdmin makes the org's user with that email an org admin, creating them
// as a local user (source invited, with that display name) when the org has no
// such user, in one transaction audited as user.create and org_admin.add: how an
// operator gets an org back when its last admin was deprovisioned by the
// identity provider (the CLI's org add-admin; operators are trusted, so no
// four-eyes proposal). A deactivated user is refused (core.ErrInvalid): their
// identity provider deprovisioned them, and only it may bring them back.
func (o *Ops) RecoverAdmin(ctx context.Context, actor core.Actor, orgID, email, name string) (u core.User, created bool, err error) {
	email = strings.TrimSpace(email)
	if a, perr := mail.ParseAddress(email); perr != nil || a.Address != email {
		return core.User{}, false, core.Invalidf("email %q is not a valid email address", email)
	}
	err = o.Store.WithTx(ctx, func(st store.Store) error {
		created = false
		var err error
		u, err = st.GetUserByEmail(ctx, orgID, email)
		if errors.Is(err, core.ErrNotFound) {
			u, err = st.CreateUser(ctx, actor, core.User{OrgID: orgID, UserName: email, Email: email, DisplayName: strings.TrimSpace(name),
				Active: true, Source: core.SourceInvited})
			created = err == nil
		}
		if err != nil {
			return err
		}
		return st.AddOrgAdmin(ctx, actor, orgID, u.ID)
	})
	if err != nil {
		return core.User{}, false, err
	}
	return u, created, nil
}
