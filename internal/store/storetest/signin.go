package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// signInSession is a session a sign-in link would start at `at`.
func signInSession(id string, at time.Time) store.Session {
	return store.Session{IDHash: id, CreatedAt: at, ExpiresAt: at.Add(time.Hour), Idle: time.Hour}
}

var signInTests = []test{
	{"SignIn/BreakGlassIsSingleUse", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		t0 := time.Now().UTC().Truncate(time.Second)
		ok(t, s.CreateSignInLink(ctx, sys, store.SignInLink{TokenHash: "h1", Kind: store.SignInBreakGlass, OrgID: o.ID, UserID: admin.ID,
			CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}))
		if es := audits(t, s, o.ID, "signin_link.create"); len(es) != 1 || es[0].TargetID != admin.ID {
			t.Fatalf("link audit = %+v", es)
		}
		l := must[store.SignInLink](t)(s.RedeemSignInLink(ctx, "h1", signInSession("s1", t0.Add(time.Minute)), map[string]any{"ip": "192.0.2.1"}))
		if l.Kind != store.SignInBreakGlass || l.OrgID != o.ID || l.UserID != admin.ID {
			t.Fatalf("redeemed %+v", l)
		}
		ss := must[store.Session](t)(s.LookupSession(ctx, "s1", t0.Add(2*time.Minute)))
		if ss.OrgID != o.ID || ss.UserID != admin.ID || ss.ConnectionID != "" {
			t.Fatalf("session %+v, want the admin's, of no connection", ss)
		}
		if es := audits(t, s, o.ID, "signin.break_glass"); len(es) != 1 || es[0].TargetID != admin.ID || es[0].Details["ip"] != "192.0.2.1" {
			t.Fatalf("sign-in audit = %+v", es)
		}
		// Once only, also within its lifetime; a second session is not made.
		unchanged(t, s, o.ID, core.ErrNotFound, func() error {
			return second(s.RedeemSignInLink(ctx, "h1", signInSession("s2", t0.Add(2*time.Minute)), nil))
		})
		wantErr(t, second(s.LookupSession(ctx, "s2", t0.Add(2*time.Minute))), core.ErrNotFound)
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return second(s.RedeemSignInLink(ctx, "nope", signInSession("s3", t0), nil)) })
		// The session ends with the user's deactivation, like an SSO one.
		other := newUser(t, s, o.ID, "second@acme.example.com")
		ok(t, s.AddOrgAdmin(ctx, sys, o.ID, other.ID))
		must[core.User](t)(s.UpdateUser(ctx, sys, o.ID, admin.ID, func(u *core.User) error { u.Active = false; return nil }))
		wantErr(t, second(s.LookupSession(ctx, "s1", t0.Add(3*time.Minute))), core.ErrNotFound)
	}},
	{"SignIn/Expires", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		t0 := time.Now().UTC().Truncate(time.Second)
		ok(t, s.CreateSignInLink(ctx, sys, store.SignInLink{TokenHash: "h1", Kind: store.SignInBreakGlass, OrgID: o.ID, UserID: admin.ID,
			CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}))
		unchanged(t, s, o.ID, core.ErrNotFound, func() error {
			return second(s.RedeemSignInLink(ctx, "h1", signInSession("s1", t0.Add(15*time.Minute)), nil))
		})
		// An invitation link is not a setup link, and the other way round.
		wantErr(t, s.TakeSetupLink(ctx, "h1", t0), core.ErrNotFound)
		// PruneSSO drops expired links, and only those.
		ok(t, s.CreateSignInLink(ctx, sys, store.SignInLink{TokenHash: "h2", Kind: store.SignInBreakGlass, OrgID: o.ID, UserID: admin.ID,
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
		ok(t, s.PruneSSO(ctx, t0.Add(30*time.Minute)))
		ok(t, second(s.RedeemSignInLink(ctx, "h2", signInSession("s2", t0.Add(31*time.Minute)), nil)))
		wantErr(t, second(s.RedeemSignInLink(ctx, "h1", signInSession("s3", t0.Add(time.Minute)), nil)), core.ErrNotFound)
	}},
	{"SignIn/RefusedForNonAdminsAndDeactivated", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		b, _ := newOrg(t, s, "other")
		member := newUser(t, s, o.ID, "member@acme.example.com")
		t0 := time.Now().UTC().Truncate(time.Second)
		link := func(hash string, kind store.SignInKind, org, user string) store.SignInLink {
			return store.SignInLink{TokenHash: hash, Kind: kind, OrgID: org, UserID: user, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		}
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return s.CreateSignInLink(ctx, sys, link("h1", store.SignInBreakGlass, o.ID, member.ID)) })
		// Another org's user is not found from this org.
		unchanged(t, s, b.ID, core.ErrNotFound, func() error { return s.CreateSignInLink(ctx, sys, link("h2", store.SignInBreakGlass, b.ID, admin.ID)) })
		// An invitation is for any active user.
		ok(t, s.CreateSignInLink(ctx, sys, link("inv", store.SignInInvitation, o.ID, member.ID)))
		// A link made while the user was an admin stops working when they are not.
		deputy := newUser(t, s, o.ID, "second@acme.example.com")
		ok(t, s.AddOrgAdmin(ctx, sys, o.ID, deputy.ID))
		ok(t, s.CreateSignInLink(ctx, sys, link("h3", store.SignInBreakGlass, o.ID, deputy.ID)))
		ok(t, s.RemoveOrgAdmin(ctx, sys, o.ID, deputy.ID))
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.RedeemSignInLink(ctx, "h3", signInSession("s3", t0), nil)) })
		// Deactivated: refused to make, and refused to use.
		ok(t, s.AddOrgAdmin(ctx, sys, o.ID, deputy.ID))
		ok(t, s.CreateSignInLink(ctx, sys, link("h4", store.SignInBreakGlass, o.ID, deputy.ID)))
		must[core.User](t)(s.UpdateUser(ctx, sys, o.ID, deputy.ID, func(u *core.User) error { u.Active = false; return nil }))
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return s.CreateSignInLink(ctx, sys, link("h5", store.SignInBreakGlass, o.ID, deputy.ID)) })
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.RedeemSignInLink(ctx, "h4", signInSession("s4", t0), nil)) })
		wantErr(t, second(s.LookupSession(ctx, "s4", t0)), core.ErrNotFound)
		// The invitation works for its user, once.
		l := must[store.SignInLink](t)(s.RedeemSignInLink(ctx, "inv", signInSession("s5", t0), nil))
		if l.Kind != store.SignInInvitation || l.UserID != member.ID {
			t.Fatalf("invitation redeemed as %+v", l)
		}
		if es := audits(t, s, o.ID, "signin.invitation"); len(es) != 1 {
			t.Fatalf("invitation audit = %+v", es)
		}
		// Bad links are refused before anything is written.
		wantErr(t, s.CreateSignInLink(ctx, sys, store.SignInLink{TokenHash: "x", Kind: "magic", OrgID: o.ID, UserID: member.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}), core.ErrInvalid)
		wantErr(t, s.CreateSignInLink(ctx, sys, store.SignInLink{TokenHash: "x", Kind: store.SignInSetup, OrgID: o.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}), core.ErrInvalid)
	}},
	{"SignIn/SetupLinkIsSingleUse", func(t *testing.T, s subject) {
		t0 := time.Now().UTC().Truncate(time.Second)
		ok(t, s.CreateSignInLink(ctx, sys, store.SignInLink{TokenHash: "setup", Kind: store.SignInSetup, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}))
		ok(t, s.CreateSignInLink(ctx, sys, store.SignInLink{TokenHash: "old", Kind: store.SignInSetup, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
		wantErr(t, second(s.RedeemSignInLink(ctx, "setup", signInSession("s1", t0), nil)), core.ErrNotFound)
		wantErr(t, s.TakeSetupLink(ctx, "old", t0.Add(time.Hour)), core.ErrNotFound)
		// A setup that fails gives the link back: taken inside WithTx.
		err := s.WithTx(ctx, func(st store.Store) error {
			ok(t, st.TakeSetupLink(ctx, "setup", t0.Add(time.Minute)))
			return core.Invalidf("organization slug taken")
		})
		wantErr(t, err, core.ErrInvalid)
		ok(t, s.TakeSetupLink(ctx, "setup", t0.Add(time.Minute)))
		wantErr(t, s.TakeSetupLink(ctx, "setup", t0.Add(2*time.Minute)), core.ErrNotFound)
	}},
}
