package store

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/migrations"
)

// TestOwnershipMigration upgrades a database of 0015 with users of every shape to
// 0016 and checks the backfill (an SSO user is owned by the connection of their
// first session, else local; a "scim" user without a directory is local; a directory's
// user stays its), then that the database itself refuses a user with no owner or two,
// on both backends.
func TestOwnershipMigration(t *testing.T) {
	ctx := context.Background()
	for d, s := range migrationBackends(t) {
		t.Run(string(d), func(t *testing.T) {
			if _, err := s.migrateFS(ctx, migrations.FS, "0015_proposals"); err != nil {
				t.Fatal(err)
			}
			seed := []string{
				`INSERT INTO organizations (id, slug, name, created_at) VALUES ('o1', 'acme', 'Acme', 1)`,
				`INSERT INTO scim_directories (id, org_id, name, created_at) VALUES ('d1', 'o1', 'okta', 1)`,
				`INSERT INTO sso_connections (id, org_id, name, kind, created_at, updated_at) VALUES ('c1', 'o1', 'okta-saml', 'saml', 1, 1)`,
				`INSERT INTO sso_connections (id, org_id, name, kind, created_at, updated_at) VALUES ('c2', 'o1', 'google', 'oidc', 1, 1)`,
				`INSERT INTO sso_connection_domains (domain, org_id, connection_id, created_at) VALUES ('acme.test', 'o1', 'c1', 1)`,
				`INSERT INTO users (id, org_id, user_name, source, directory_id, created_at, updated_at) VALUES ('u-dir', 'o1', 'ada', 'scim', 'd1', 1, 1)`,
				`INSERT INTO users (id, org_id, user_name, source, created_at, updated_at) VALUES ('u-cli', 'o1', 'bob', 'scim', 1, 1)`,
				`INSERT INTO users (id, org_id, user_name, source, created_at, updated_at) VALUES ('u-sso', 'o1', 'cy', 'sso', 1, 1)`,
				`INSERT INTO users (id, org_id, user_name, source, created_at, updated_at) VALUES ('u-sso-gone', 'o1', 'di', 'sso', 1, 1)`,
				`INSERT INTO users (id, org_id, user_name, source, directory_id, created_at, updated_at) VALUES ('u-inv', 'o1', 'eve', 'invited', 'd1', 1, 1)`,
				`INSERT INTO sso_sessions (id_hash, org_id, user_id, connection_id, created_at, last_seen_at, expires_at, idle_micros) VALUES ('h2', 'o1', 'u-sso', 'c2', 5, 5, 9, 1)`,
				`INSERT INTO sso_sessions (id_hash, org_id, user_id, connection_id, created_at, last_seen_at, expires_at, idle_micros) VALUES ('h1', 'o1', 'u-sso', 'c1', 2, 2, 9, 1)`,
			}
			for _, q := range seed {
				if _, err := s.db.ExecContext(ctx, q); err != nil {
					t.Fatalf("seed %q: %v", q, err)
				}
			}
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			for id, want := range map[string]string{
				"u-dir": "scim d1 -", "u-cli": "invited - -", "u-sso": "sso - c1", "u-sso-gone": "invited - -", "u-inv": "invited - -",
			} {
				var r struct {
					Source string  `db:"source"`
					Dir    *string `db:"directory_id"`
					Conn   *string `db:"connection_id"`
				}
				if err := s.db.GetContext(ctx, &r, s.db.Rebind(`SELECT source, directory_id, connection_id FROM users WHERE id = ?`), id); err != nil {
					t.Fatal(err)
				}
				or := func(p *string) string {
					if p == nil {
						return "-"
					}
					return *p
				}
				if got := r.Source + " " + or(r.Dir) + " " + or(r.Conn); got != want {
					t.Errorf("%s after the backfill: %q, want %q", id, got, want)
				}
			}
			var n int
			if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM org_domains WHERE domain = 'acme.test' AND org_id = 'o1'`); err != nil || n != 1 {
				t.Errorf("the connection's domain is not the org's: %d %v", n, err)
			}
			for _, q := range []string{
				`INSERT INTO users (id, org_id, user_name, source, created_at, updated_at) VALUES ('x1', 'o1', 'x1', 'scim', 1, 1)`,
				`INSERT INTO users (id, org_id, user_name, source, created_at, updated_at) VALUES ('x2', 'o1', 'x2', 'sso', 1, 1)`,
				`INSERT INTO users (id, org_id, user_name, source, directory_id, connection_id, created_at, updated_at) VALUES ('x3', 'o1', 'x3', 'scim', 'd1', 'c1', 1, 1)`,
				`INSERT INTO users (id, org_id, user_name, source, connection_id, created_at, updated_at) VALUES ('x4', 'o1', 'x4', 'invited', 'c1', 1, 1)`,
				`UPDATE users SET directory_id = 'd1' WHERE id = 'u-sso'`,
				`UPDATE users SET source = 'sso' WHERE id = 'u-cli'`,
				`UPDATE users SET connection_id = 'c1' WHERE id = 'u-dir'`,
			} {
				if _, err := s.db.ExecContext(ctx, q); err == nil {
					t.Errorf("the database accepted a user without exactly one owner: %s", q)
				}
			}
			// A connection of another org cannot own a user.
			for _, q := range []string{
				`INSERT INTO organizations (id, slug, name, created_at) VALUES ('o2', 'evil', 'Evil', 1)`,
				`INSERT INTO sso_connections (id, org_id, name, kind, created_at, updated_at) VALUES ('c9', 'o2', 'evil', 'oidc', 1, 1)`,
			} {
				if _, err := s.db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.db.ExecContext(ctx, `UPDATE users SET source = 'sso', connection_id = 'c9' WHERE id = 'u-cli'`); err == nil {
				t.Error("a connection of another org owns a user")
			}
			// A domain belongs to one org.
			if _, err := s.db.ExecContext(ctx, `INSERT INTO org_domains (domain, org_id, created_at) VALUES ('acme.test', 'o2', 1)`); err == nil {
				t.Error("a second org claimed a domain")
			}
			if _, err := s.db.ExecContext(ctx, `INSERT INTO sso_connection_domains (domain, org_id, connection_id, created_at) VALUES ('evil.test', 'o2', 'c9', 1)`); err == nil {
				t.Error("a connection routes a domain its org has not claimed")
			}
		})
	}
}
