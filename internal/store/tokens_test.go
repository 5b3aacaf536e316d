package store_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestTokenSecretsHashed: what the database keeps of a token is a hash; the secret
// itself is in no column (the conformance suite checks the same through the
// contract: it authenticates, and no listing or event shows it).
func TestTokenSecretsHashed(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
			o, _, err := s.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
			if err != nil {
				t.Fatal(err)
			}
			d, err := s.EnsureDirectory(ctx, sys, o.ID, "okta")
			if err != nil {
				t.Fatal(err)
			}
			_, scimSecret, err := s.CreateToken(ctx, sys, o.ID, store.TokenSCIM, "okta", d.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, apiSecret, err := s.CreateToken(ctx, sys, o.ID, store.TokenAPI, "ci", "")
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := s.DB().GetContext(ctx, &n, s.DB().Rebind(`SELECT COUNT(*) FROM api_tokens
				WHERE hash = ? OR hash = ? OR name = ? OR name = ?`), scimSecret, apiSecret, scimSecret, apiSecret); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatal("a secret is stored in clear")
			}
		})
	}
}
