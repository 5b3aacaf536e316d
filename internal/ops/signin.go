package ops

import (
	"context"
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
