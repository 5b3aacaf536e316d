package store_test

import (
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// FuzzSCIMFilter: any filter text either is refused with core.ErrInvalid or becomes
// SQL that runs. A driver error here would mean the translation built bad SQL (or
// that a value reached the SQL text).
func FuzzSCIMFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "a@b.c"`, `externalId eq jyoung`, `emails[type eq "work"].value eq "x@y"`,
		`emails[type eq "work" and value co "@x"]`, `not (title pr) or active eq "True"`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`,
		`members[value eq "1" or value eq "2"]`, `displayName sw "a" and (id ew "b" or externalId ne "c")`,
		`userName eq "x\" or 1=1 --"`, `userName co "%_\\"`, `emails.primary eq true`, `title eq null`, `userName gt 5`,
	} {
		f.Add(s)
	}
	s := storetest.NewSQLiteMemory(f)
	org, _, err := s.CreateOrg(scimCtx, scimSys, "fuzz", "Fuzz", "a@fuzz.example.com")
	if err != nil {
		f.Fatal(err)
	}
	dir, err := s.EnsureDirectory(scimCtx, scimSys, org.ID, "d")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e, err := store.ParseSCIMFilter(raw)
		if err != nil {
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("parse %q: %v is not ErrInvalid", raw, err)
			}
			return
		}
		q := store.SCIMQuery{Filter: e, StartIndex: 1, Count: 2}
		if _, _, err := s.SCIMListUsers(scimCtx, org.ID, q); err != nil && !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("users %q: %v", raw, err)
		}
		if _, _, err := s.SCIMListGroups(scimCtx, org.ID, dir.ID, q); err != nil && !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("groups %q: %v", raw, err)
		}
	})
}
