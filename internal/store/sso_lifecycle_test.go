package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func samlConn(orgID, name string, domains ...string) store.SSOConnection {
	return store.SSOConnection{OrgID: orgID, Name: name, Kind: store.KindSAML, JIT: true, Domains: domains,
		SAML: &store.SAMLConfig{IdPMetadataXML: "<md/>", SPKeySealed: "v1:k", SPCertPEM: "pem"}}
}

// TestSSOConnectionSettings: mappings, scopes, hosted domains and skew round-trip;
// out-of-bounds settings are refused and change nothing; configs written before
// mappings existed read as they behaved.
func TestSSOConnectionSettings(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			org, _, err := s.CreateOrg(ctx, sysActor, "acme", "Acme", "admin@acme.test")
			if err != nil {
				t.Fatal(err)
			}
			c := oidcConn(org.ID, "okta", "acme.test")
			c.OIDC.Scopes = []string{"openid", "email", "profile", "groups"}
			c.OIDC.HostedDomains = []string{" Acme.Test "}
			c.OIDC.ClockSkew = 120
			c.OIDC.Mapping = store.ClaimMapping{Preset: "okta", Email: []string{" email ", "email", ""}, Groups: []string{"groups"}, GroupValues: "last-segment"}
			c, err = s.CreateSSOConnection(ctx, sysActor, c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.GetSSOConnection(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			o := got.OIDC
			if !slices.Equal(o.Scopes, []string{"openid", "email", "profile", "groups"}) || !slices.Equal(o.HostedDomains, []string{"acme.test"}) ||
				o.ClockSkew.Duration() != 2*time.Minute || o.Mapping.Preset != "okta" || !slices.Equal(o.Mapping.Email, []string{"email"}) ||
				!slices.Equal(o.Mapping.Groups, []string{"groups"}) || o.Mapping.GroupValues != "last-segment" {
				t.Errorf("read back %+v", o)
			}

			for name, fn := range map[string]func(c *store.SSOConnection){
				"skew over 5m":     func(c *store.SSOConnection) { c.OIDC.ClockSkew = 301 },
				"negative skew":    func(c *store.SSOConnection) { c.OIDC.ClockSkew = -1 },
				"group values":     func(c *store.SSOConnection) { c.OIDC.Mapping.GroupValues = "first" },
				"hosted domain":    func(c *store.SSOConnection) { c.OIDC.HostedDomains = []string{"not a domain"} },
				"scope with space": func(c *store.SSOConnection) { c.OIDC.Scopes = []string{"openid groups"} },
				"claim name ctrl":  func(c *store.SSOConnection) { c.OIDC.Mapping.Email = []string{"ema\x00il"} },
			} {
				_, err := s.UpdateSSOConnection(ctx, sysActor, org.ID, c.ID, func(c *store.SSOConnection) error { fn(c); return nil })
				if !errors.Is(err, core.ErrInvalid) {
					t.Errorf("%s: %v, want ErrInvalid", name, err)
				}
			}
			if again, _ := s.GetSSOConnection(ctx, c.ID); again.Version != c.Version {
				t.Errorf("refused updates changed the connection: version %d -> %d", c.Version, again.Version)
			}
			sc := samlConn(org.ID, "adfs")
			sc.SAML.ClockSkew = 400
			if _, err := s.CreateSSOConnection(ctx, sysActor, sc); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("SAML skew over the bound: %v", err)
			}

			// Configs from before mappings: the groups attribute or claim becomes
			// the groups mapping; OIDC keeps its email fallbacks.
			legacySAML, err := s.CreateSSOConnection(ctx, sysActor, samlConn(org.ID, "legacy-saml"))
			if err != nil {
				t.Fatal(err)
			}
			legacyOIDC, err := s.CreateSSOConnection(ctx, sysActor, oidcConn(org.ID, "legacy-oidc"))
			if err != nil {
				t.Fatal(err)
			}
			for id, cfg := range map[string]string{
				legacySAML.ID: `{"idp_metadata_xml":"<md/>","groups_attribute":"memberOf","sp_key_sealed":"v1:k","sp_cert_pem":"pem"}`,
				legacyOIDC.ID: `{"issuer":"https://idp.example","client_id":"c","client_secret_sealed":"v1:x","groups_claim":"roles"}`,
			} {
				if _, err := s.DB().ExecContext(ctx, s.DB().Rebind(`UPDATE sso_connections SET config = ? WHERE id = ?`), cfg, id); err != nil {
					t.Fatal(err)
				}
			}
			ls, _ := s.GetSSOConnection(ctx, legacySAML.ID)
			lo, _ := s.GetSSOConnection(ctx, legacyOIDC.ID)
			if !slices.Equal(ls.SAML.Mapping.Groups, []string{"memberOf"}) || len(ls.SAML.Mapping.Email) != 0 {
				t.Errorf("legacy SAML mapping %+v", ls.SAML.Mapping)
			}
			if !slices.Equal(lo.OIDC.Mapping.Groups, []string{"roles"}) || !slices.Equal(lo.OIDC.Mapping.Email, []string{"email", "preferred_username", "upn"}) {
				t.Errorf("legacy OIDC mapping %+v", lo.OIDC.Mapping)
			}
		})
	}
}

// TestIdPCertificateRecords: certificates set with a connection are recorded in
// the same transaction; ones the IdP stops listing are retired, relisted ones
// come back; nothing leaks to another org; deleting the connection removes them.
func TestIdPCertificateRecords(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			org, _, _ := s.CreateOrg(ctx, sysActor, "acme", "Acme", "admin@acme.test")
			other, _, _ := s.CreateOrg(ctx, sysActor, "other", "Other", "admin@other.test")
			now := time.Now().UTC().Truncate(time.Second)
			cert := func(fp string, expires time.Duration) store.IdPCertificate {
				return store.IdPCertificate{Fingerprint: fp, Kind: store.CertSAMLSigning, Subject: "CN=" + fp, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(expires)}
			}
			c := samlConn(org.ID, "okta")
			c.Certificates = []store.IdPCertificate{cert("AA", 365*24*time.Hour), cert("BB", 10*24*time.Hour)}
			c, err := s.CreateSSOConnection(ctx, sysActor, c)
			if err != nil {
				t.Fatal(err)
			}
			list := func(org string) []store.IdPCertificate {
				t.Helper()
				cs, err := s.ListIdPCertificates(ctx, org, "")
				if err != nil {
					t.Fatal(err)
				}
				return cs
			}
			state := func(cs []store.IdPCertificate) (out []string) {
				for _, c := range cs {
					st := "listed"
					if !c.RetiredAt.IsZero() {
						st = "retired"
					}
					out = append(out, c.Fingerprint+":"+st)
				}
				return out
			}
			cs := list(org.ID)
			if got := state(cs); !slices.Equal(got, []string{"BB:listed", "AA:listed"}) {
				t.Fatalf("after create: %v (soonest expiry first)", got)
			}
			if !cs[0].NotAfter.Equal(now.Add(10*24*time.Hour)) || cs[0].Subject != "CN=BB" || cs[0].ConnectionID != c.ID {
				t.Errorf("record %+v", cs[0])
			}
			if !cs[0].ExpiresWithin(now, 30*24*time.Hour) || cs[1].ExpiresWithin(now, 30*24*time.Hour) {
				t.Error("ExpiresWithin: BB expires in 10 days, AA in a year")
			}
			if len(list(other.ID)) != 0 {
				t.Error("another org sees the certificates")
			}
			// Rollover: the IdP lists BB and a new CC; AA is gone.
			if _, err := s.UpdateSSOConnection(ctx, sysActor, org.ID, c.ID, func(c *store.SSOConnection) error {
				c.Certificates = []store.IdPCertificate{cert("BB", 10*24*time.Hour), cert("CC", 700*24*time.Hour)}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if got := state(list(org.ID)); !slices.Equal(got, []string{"BB:listed", "CC:listed", "AA:retired"}) {
				t.Errorf("after rollover: %v", got)
			}
			// An update that does not set certificates leaves the records alone.
			if _, err := s.UpdateSSOConnection(ctx, sysActor, org.ID, c.ID, func(c *store.SSOConnection) error { c.JIT = false; return nil }); err != nil {
				t.Fatal(err)
			}
			// A refresh that sees AA again relists it.
			if err := s.RecordSSORefresh(ctx, c.ID, store.SSORefreshResult{At: now, NextAt: now.Add(time.Hour), Digest: "d",
				Certificates: []store.IdPCertificate{cert("AA", 365*24*time.Hour), cert("CC", 700*24*time.Hour)}}); err != nil {
				t.Fatal(err)
			}
			if got := state(list(org.ID)); !slices.Equal(got, []string{"AA:listed", "CC:listed", "BB:retired"}) {
				t.Errorf("after relisting: %v", got)
			}
			if cs, _ := s.ListIdPCertificates(ctx, org.ID, "another-connection"); len(cs) != 0 {
				t.Errorf("filter by connection: %v", state(cs))
			}
			bad := samlConn(org.ID, "bad")
			bad.Certificates = []store.IdPCertificate{{Fingerprint: "", Kind: store.CertSAMLSigning}}
			if _, err := s.CreateSSOConnection(ctx, sysActor, bad); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("certificate without fingerprint: %v", err)
			}
			if cs, _ := s.ListSSOConnections(ctx, org.ID); len(cs) != 1 {
				t.Errorf("the refused connection was written: %d connections", len(cs))
			}
			if _, err := s.DeleteSSOConnection(ctx, sysActor, org.ID, c.ID); err != nil {
				t.Fatal(err)
			}
			if len(list(org.ID)) != 0 {
				t.Error("certificates outlived their connection")
			}
		})
	}
}

// TestSAMLSessionsEnd: sessions remember their SAML subject; an IdP logout ends
// exactly the sessions of the NameID (and SessionIndex) it names, of that
// connection, each audited; EndSession returns the subject for an SP logout.
func TestSAMLSessionsEnd(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			org, _, _ := s.CreateOrg(ctx, sysActor, "acme", "Acme", "admin@acme.test")
			c1, err := s.CreateSSOConnection(ctx, sysActor, samlConn(org.ID, "one"))
			if err != nil {
				t.Fatal(err)
			}
			c2, err := s.CreateSSOConnection(ctx, sysActor, samlConn(org.ID, "two"))
			if err != nil {
				t.Fatal(err)
			}
			u, err := s.CreateUser(ctx, sysActor, core.User{OrgID: org.ID, UserName: "sam@acme.test", Email: "sam@acme.test", Active: true, Source: core.SourceInvited})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			mk := func(hash, conn, nameID, index string) {
				t.Helper()
				if err := s.CreateSession(ctx, sysActor, store.Session{IDHash: hash, OrgID: org.ID, UserID: u.ID, ConnectionID: conn,
					CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Idle: time.Hour,
					SAML: store.SAMLSubject{NameID: nameID, Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", NameQualifier: "idp", SPNameQualifier: "sp", SessionIndex: index}}, nil); err != nil {
					t.Fatal(err)
				}
			}
			mk("a1", c1.ID, "9TRH=", "idx-1")
			mk("a2", c1.ID, "9TRH=", "idx-2")
			mk("b1", c1.ID, "other=", "idx-1")
			mk("c1", c2.ID, "9TRH=", "idx-1")
			got, err := s.LookupSession(ctx, "a1", t0)
			if err != nil || got.SAML.NameID != "9TRH=" || got.SAML.SessionIndex != "idx-1" || got.SAML.Format == "" || got.SAML.SPNameQualifier != "sp" {
				t.Fatalf("lookup: %+v %v", got, err)
			}
			live := func() (out []string) {
				for _, h := range []string{"a1", "a2", "b1", "c1"} {
					if _, err := s.LookupSession(ctx, h, t0); err == nil {
						out = append(out, h)
					}
				}
				return out
			}
			before := len(auditOf(t, s, org.ID, "sso.logout"))
			n, err := s.EndSAMLSessions(ctx, c1.ID, "9TRH=", []string{"idx-2", "idx-9"}, map[string]any{"initiated_by": "idp"})
			if err != nil || n != 1 {
				t.Fatalf("end by session index: %d %v", n, err)
			}
			if got := live(); !slices.Equal(got, []string{"a1", "b1", "c1"}) {
				t.Errorf("after ending idx-2: %v", got)
			}
			if n, err := s.EndSAMLSessions(ctx, c1.ID, "9TRH=", nil, nil); err != nil || n != 1 {
				t.Errorf("end every session of the NameID: %d %v", n, err)
			}
			if got := live(); !slices.Equal(got, []string{"b1", "c1"}) {
				t.Errorf("after ending the NameID: %v (another NameID and another connection must stay)", got)
			}
			if n, err := s.EndSAMLSessions(ctx, c1.ID, "nobody", nil, nil); err != nil || n != 0 {
				t.Errorf("nobody: %d %v", n, err)
			}
			if _, err := s.EndSAMLSessions(ctx, c1.ID, "", nil, nil); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("empty NameID: %v", err)
			}
			ended, err := s.EndSession(ctx, "c1", map[string]any{"initiated_by": "sp"})
			if err != nil || ended.SAML.NameID != "9TRH=" || ended.ConnectionID != c2.ID {
				t.Errorf("end session: %+v %v", ended, err)
			}
			if _, err := s.EndSession(ctx, "c1", nil); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("second end: %v", err)
			}
			if got := len(auditOf(t, s, org.ID, "sso.logout")) - before; got != 3 {
				t.Errorf("%d sso.logout events, want one per ended session (3)", got)
			}

			// Pending messages are taken only for their purpose.
			now := time.Now()
			if err := s.SaveSAMLRequest(ctx, store.SAMLRequest{Purpose: store.SAMLLogout, RelayHash: "r-out", RequestID: "id-out", ConnectionID: c1.ID, ExpiresAt: now.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.TakeSAMLRequest(ctx, c1.ID, store.SAMLLogin, "r-out", now); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("a logout request taken as a login: %v", err)
			}
			if r, err := s.TakeSAMLRequest(ctx, c1.ID, store.SAMLLogout, "r-out", now); err != nil || r.RequestID != "id-out" || r.Purpose != store.SAMLLogout {
				t.Errorf("take logout request: %+v %v", r, err)
			}
		})
	}
}

func auditOf(t *testing.T, s *store.SQL, orgID, action string) []core.AuditEvent {
	t.Helper()
	es, err := s.ListAudit(context.Background(), orgID, store.AuditQuery{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestSSORefreshClaims: every connection is due at first; concurrent claimers
// (instances) take each due connection exactly once; a recorded outcome sets
// the next time, and failures count up until a success.
func TestSSORefreshClaims(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			org, _, _ := s.CreateOrg(ctx, sysActor, "acme", "Acme", "admin@acme.test")
			var ids []string
			for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
				c, err := s.CreateSSOConnection(ctx, sysActor, samlConn(org.ID, n))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, c.ID)
			}
			now := time.Now()
			var mu sync.Mutex
			var claimed []string
			var wg sync.WaitGroup
			for i := 0; i < 6; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cs, err := s.ClaimSSORefreshes(ctx, now, 10*time.Minute, 100)
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					for _, c := range cs {
						claimed = append(claimed, c.ID)
					}
				}()
			}
			wg.Wait()
			slices.Sort(claimed)
			slices.Sort(ids)
			if !slices.Equal(claimed, ids) {
				t.Fatalf("claimed %v, want each of %v once", claimed, ids)
			}
			if cs, _ := s.ClaimSSORefreshes(ctx, now.Add(5*time.Minute), 10*time.Minute, 100); len(cs) != 0 {
				t.Errorf("claimed again within the lease: %d", len(cs))
			}
			if err := s.RecordSSORefresh(ctx, ids[0], store.SSORefreshResult{At: now, NextAt: now.Add(time.Hour), Err: "fetch: 503"}); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordSSORefresh(ctx, ids[0], store.SSORefreshResult{At: now, NextAt: now.Add(2 * time.Minute), Err: "fetch: 503"}); err != nil {
				t.Fatal(err)
			}
			r, err := s.GetSSORefresh(ctx, org.ID, ids[0])
			if err != nil || r.Failures != 2 || r.LastError != "fetch: 503" || !r.LastSuccessAt.IsZero() {
				t.Errorf("after two failures: %+v %v", r, err)
			}
			cs, _ := s.ClaimSSORefreshes(ctx, now.Add(3*time.Minute), 10*time.Minute, 100)
			if len(cs) != 1 || cs[0].ID != ids[0] {
				t.Errorf("the failed connection is due again after 2 min: %v", cs)
			}
			if err := s.RecordSSORefresh(ctx, ids[0], store.SSORefreshResult{At: now, NextAt: now.Add(time.Hour), Digest: "abc"}); err != nil {
				t.Fatal(err)
			}
			r, _ = s.GetSSORefresh(ctx, org.ID, ids[0])
			if r.Failures != 0 || r.LastError != "" || r.Digest != "abc" || r.LastSuccessAt.IsZero() {
				t.Errorf("after a success: %+v", r)
			}
			if _, err := s.GetSSORefresh(ctx, "other-org", ids[0]); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("refresh state through another org: %v", err)
			}
		})
	}
}
