package scim

import (
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// FuzzSCIMFilter: any filter text either is refused with core.ErrInvalid (parsed by
// parseFilter or compiled by the store) or becomes SQL that runs. A driver error here
// would mean the store built bad SQL (or that a value reached the SQL text).
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
	org, _, err := s.CreateOrg(ctx, sys, "fuzz", "Fuzz", "a@fuzz.example.com")
	if err != nil {
		f.Fatal(err)
	}
	dir, err := s.EnsureDirectory(ctx, sys, org.ID, "d")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("%s %q: %v is not ErrInvalid", what, raw, err)
			}
		}
		if e, err := parseFilter(&userFilterNames, raw); err != nil {
			check("parse users", err)
		} else {
			_, _, err := s.SCIMListUsers(ctx, org.ID, dir.ID, store.SCIMQuery{Filter: e, StartIndex: 1, Count: 2})
			check("users", err)
		}
		if e, err := parseFilter(&groupFilterNames, raw); err != nil {
			check("parse groups", err)
		} else {
			_, _, err := s.SCIMListGroups(ctx, org.ID, dir.ID, store.SCIMQuery{Filter: e, StartIndex: 1, Count: 2})
			check("groups", err)
		}
	})
}
