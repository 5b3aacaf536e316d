package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
)

// TestStatus: the one mapping of errors to statuses and client-safe details, for
// the API's problem+json and the pages' error page alike.
func TestStatus(t *testing.T) {
	t.Parallel()
	refused := func(hide bool) error {
		d := decisions.Decision{Decision: core.Decision{Effect: core.Deny, Reason: "own_access_only", Message: "you may ask about your own access only"}, Hide: hide}
		return fmt.Errorf("check: %w", d.Err())
	}
	for _, c := range []struct {
		name       string
		err        error
		status     int
		wantDetail string
	}{
		{"a status of its own", Failf(http.StatusConflict, "a group named %q already exists", "g"), 409, `a group named "g" already exists`},
		{"a refusal", refused(false), 403, "you may ask about your own access only"},
		{"a hidden refusal says nothing more than not found", refused(true), 404, "not found"},
		{"not authenticated", decisions.ErrUnauthenticated, 401, decisions.ErrUnauthenticated.Error()},
		{"a SCIM token on the API", fmt.Errorf("auth: %w", decisions.ErrSCIMToken), 401, decisions.ErrSCIMToken.Error()},
		{"the last admin", fmt.Errorf("store: remove admin u-1: %w", core.ErrLastAdmin), 409, core.ErrLastAdmin.Error()},
		{"not found, named", NotFound(fmt.Errorf("x: %w", core.ErrNotFound), "user", "ann"), 404, `user "ann" not found`},
		{"invalid, without the store's context", fmt.Errorf("store: table users: %w", core.Invalidf("a group needs a name")), 422, "a group needs a name"},
		{"unavailable", fmt.Errorf("dial: %w", core.ErrUnavailable), 503, "the service is briefly unavailable; nothing was changed; retry"},
		{"anything else is a bare 500", errors.New("pq: relation users does not exist"), 500, ""},
	} {
		status, detail := Status(c.err)
		if status != c.status || detail != c.wantDetail {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, detail, c.status, c.wantDetail)
		}
	}
}
