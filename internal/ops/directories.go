package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// DirectoryToken is a SCIM directory with a token just made for it.
type DirectoryToken struct {
	Directory core.Directory `json:"directory"`
	Token     NewToken       `json:"token"`
}

// CreateDirectory creates a SCIM directory and its first token, in one
// transaction: a directory is never left without the token that opens it. A name
// the org already uses is core.ErrConflict, and then nothing is written.
func (o *Ops) CreateDirectory(ctx context.Context, actor core.Actor, orgID, name string) (DirectoryToken, error) {
	return o.directoryWithToken(ctx, actor, orgID, name, "", false, nil)
}

// ProvisionDirectory adds a token to the org's directory of that name, creating the
// directory first if it is new, in one transaction: what an operator asks for when
// pointing another IdP at a directory (gatehouse token create --kind scim).
// Domains, when given, replace the directory's email domains in the same
// transaction (checked as SetDirectoryDomains does): a refused domain writes
// nothing, neither the directory nor the token.
func (o *Ops) ProvisionDirectory(ctx context.Context, actor core.Actor, orgID, name, tokenName string, domains ...string) (DirectoryToken, error) {
	return o.directoryWithToken(ctx, actor, orgID, name, tokenName, true, domains)
}

// SetDirectoryDomains replaces the email domains of the org's directory (by id or
// name) through the same checks and database path as a connection's domains: a
// bad domain is a *FieldError on "domains", one another org or another directory
// uses a conflict on "domains" (ConflictField), an unknown directory
// core.ErrNotFound; then nothing changes. Audited as directory.update.
func (o *Ops) SetDirectoryDomains(ctx context.Context, actor core.Actor, orgID, directory string, domains []string) (core.Directory, error) {
	d, err := o.Store.SetDirectoryDomains(ctx, actor, orgID, directory, domains)
	if err != nil {
		return core.Directory{}, directoryStoreErr(err)
	}
	return d, nil
}

// directoryStoreErr names the field a store refusal of a directory change is about.
func directoryStoreErr(err error) error { return domainFieldErr("domains", err) }

// domainFieldErr names the field (domain, domains) a store refusal about an email
// domain is about: a malformed one, or one another org or source holds.
func domainFieldErr(field string, err error) error {
	switch {
	case errors.Is(err, core.ErrConflict) && strings.Contains(err.Error(), "email domain"):
		return &conflictError{field: field, msg: strings.TrimSuffix(err.Error(), ": "+core.ErrConflict.Error()), err: err}
	case errors.Is(err, core.ErrInvalid):
		return &FieldError{Field: field, Msg: invalidText(err)}
	}
	return err
}

func (o *Ops) directoryWithToken(ctx context.Context, actor core.Actor, orgID, name, tokenName string, existing bool, domains []string) (DirectoryToken, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return DirectoryToken{}, core.Invalidf("a directory needs a name")
	}
	if tokenName == "" {
		tokenName = name + " token"
	}
	var out DirectoryToken
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		var d core.Directory
		var err error
		if existing {
			d, err = st.EnsureDirectory(ctx, actor, orgID, name)
		} else {
			d, err = st.CreateDirectory(ctx, actor, orgID, name)
		}
		if err != nil {
			return err
		}
		if len(domains) > 0 {
			if d, err = st.SetDirectoryDomains(ctx, actor, orgID, d.ID, domains); err != nil {
				return directoryStoreErr(err)
			}
		}
		tok, secret, err := st.CreateToken(ctx, actor, orgID, store.TokenSCIM, tokenName, d.ID)
		if err != nil {
			return err
		}
		out = DirectoryToken{Directory: d, Token: NewToken{tok, secret}}
		return nil
	})
	return out, err
}

// RotateDirectoryToken adds a token to a directory and leaves the old ones valid
// until they are revoked, so the IdP can be switched over without a gap. An empty
// name gets "<directory> token <date>".
func (o *Ops) RotateDirectoryToken(ctx context.Context, actor core.Actor, d core.Directory, name string) (NewToken, error) {
	if strings.TrimSpace(name) == "" {
		name = d.Name + " token " + o.now().UTC().Format(time.DateOnly)
	}
	tok, secret, err := o.Store.CreateToken(ctx, actor, d.OrgID, store.TokenSCIM, strings.TrimSpace(name), d.ID)
	if err != nil {
		return NewToken{}, err
	}
	return NewToken{tok, secret}, nil
}

// RevokeDirectoryToken revokes one token of a directory. A token of another
// directory, an API token or an unknown id is core.ErrNotFound.
func (o *Ops) RevokeDirectoryToken(ctx context.Context, actor core.Actor, orgID, directoryID, tokenID string) error {
	return o.revoke(ctx, actor, orgID, tokenID, func(t store.Token) bool { return t.Kind == store.TokenSCIM && t.DirectoryID == directoryID })
}

// RevokeAPIToken revokes an API token. A SCIM token or an unknown id is
// core.ErrNotFound.
func (o *Ops) RevokeAPIToken(ctx context.Context, actor core.Actor, orgID, tokenID string) error {
	return o.revoke(ctx, actor, orgID, tokenID, func(t store.Token) bool { return t.Kind == store.TokenAPI })
}

// revoke revokes the org's token id if it is of the kind wanted, in one
// transaction with the read that says so.
func (o *Ops) revoke(ctx context.Context, actor core.Actor, orgID, id string, wanted func(store.Token) bool) error {
	return o.Store.WithTx(ctx, func(st store.Store) error {
		ts, err := st.ListTokens(ctx, orgID)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t.ID == id && wanted(t) {
				return st.RevokeToken(ctx, actor, orgID, id)
			}
		}
		return fmt.Errorf("token %q: %w", id, core.ErrNotFound)
	})
}

// CreateAPIToken creates an API token, which acts as an org admin of its org.
func (o *Ops) CreateAPIToken(ctx context.Context, actor core.Actor, orgID, name string) (NewToken, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return NewToken{}, core.Invalidf("a token needs a name")
	}
	tok, secret, err := o.Store.CreateToken(ctx, actor, orgID, store.TokenAPI, name, "")
	if err != nil {
		return NewToken{}, err
	}
	return NewToken{tok, secret}, nil
}
