package sso

import (
	"fmt"
	"net/http"
	"unicode"
	"unicode/utf8"
)

// Limits on the groups a login may carry. A value is stored as an IdP group's
// external id and display name (512 bytes at most in the store); more than
// maxGroups values is far beyond what Okta or Entra send to one app (Entra stops at
// 150 in a SAML assertion and 200 in a JWT) and would make one login write
// thousands of rows, so it is refused rather than truncated.
const (
	maxGroupValueBytes = 512
	maxGroups          = 1000
)

// groupsOverage is the refusal of a login whose IdP sent a pointer to the groups
// (Entra's overage indicator) instead of the groups.
func groupsOverage(subject string, cause error) error {
	return &loginError{reason: "groups_overage", status: http.StatusForbidden, cause: cause, subject: subject,
		public: "Your identity provider sent a link to your groups instead of the groups themselves, because you are in too many groups. " +
			"Your administrator must change the identity provider's setup: in Microsoft Entra, set the application's group claim to emit only " +
			"\"Groups assigned to the application\" (and assign the groups that matter to it), or provision group membership through SCIM instead. " +
			"Your access in Gatehouse was left unchanged."}
}

// badGroupsClaim is the refusal of a login whose groups cannot be taken as they are.
func badGroupsClaim(subject string, cause error) error {
	return &loginError{reason: "bad_groups_claim", status: http.StatusForbidden, cause: cause, subject: subject,
		public: "Your identity provider sent group information Gatehouse cannot use (a group value that is not text, " +
			"longer than 512 bytes, or containing control characters). Ask your administrator to check the groups attribute or claim " +
			"sent to Gatehouse. Your access in Gatehouse was left unchanged."}
}

// checkGroups refuses group lists the store could not take as they are. It runs
// before the user is looked up or created, so a refused login changes nothing.
func checkGroups(groups []string) error {
	if len(groups) > maxGroups {
		return &loginError{reason: "too_many_groups", status: http.StatusForbidden,
			cause: fmt.Errorf("%d group values, more than the limit of %d", len(groups), maxGroups),
			public: fmt.Sprintf("Your identity provider sent more than %d groups. Ask your administrator to send Gatehouse only the groups "+
				"assigned to the application (or to filter the groups claim). Your access in Gatehouse was left unchanged.", maxGroups)}
	}
	for i, g := range groups {
		if len(g) > maxGroupValueBytes {
			return badGroupsClaim("", fmt.Errorf("group value %d is %d bytes long, more than %d", i, len(g), maxGroupValueBytes))
		}
		if !utf8.ValidString(g) {
			return badGroupsClaim("", fmt.Errorf("group value %d is not valid UTF-8", i))
		}
		for _, r := range g {
			if unicode.IsControl(r) {
				return badGroupsClaim("", fmt.Errorf("group value %d contains control character %U", i, r))
			}
		}
	}
	return nil
}
