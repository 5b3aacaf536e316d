package sso

import (
	"fmt"
	"net/http"
	"strings"
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

// Refusals of a login whose IdP sent a pointer to the groups instead of the
// groups (Entra's overage indicator).
const (
	// ReasonGroupsOverage: the connection is linked to no SCIM directory to take
	// the groups from.
	ReasonGroupsOverage = "groups_overage"
	// ReasonOverageNotProvisioned: the connection is linked to a directory, but
	// the user is not one that directory provisioned (owns).
	ReasonOverageNotProvisioned = "groups_overage_not_provisioned"
)

// groupsOverage is the refusal of an overage login through a connection linked to
// no directory. It tells the administrator the two fixes, the first with the
// exact command (orgSlug and connName fill it in) and the connection's admin page.
func groupsOverage(subject, orgSlug, connName, adminPage string, cause error) error {
	return &loginError{reason: ReasonGroupsOverage, status: http.StatusForbidden, cause: cause, subject: subject,
		public: "Your identity provider sent a link to your groups instead of the groups themselves, because you are in too many groups, " +
			"and this sign-in has no SCIM directory to take them from. Your access in Gatehouse was left unchanged. " +
			"Your administrator can fix this in either of two ways. " +
			"(1) Link this sign-in to the SCIM directory that provisions these users, and Gatehouse takes the groups from it: " +
			fmt.Sprintf("gatehouse sso update --org %s --connection %s --directory DIRECTORY ", cliArg(orgSlug), cliArg(connName)) +
			fmt.Sprintf("(or choose it as the \"Linked SCIM directory\" on the connection's admin page, %s; ", adminPage) +
			"or PATCH /api/v1/sso/connections/{connection} with {\"directory\": \"DIRECTORY\"}), where DIRECTORY is that directory's name. " +
			"(2) In Microsoft Entra, set the application's group claim to emit only \"Groups assigned to the application\" and assign the groups that matter to it."}
}

// overageNotProvisioned is the refusal of an overage login of a user the linked
// directory (dirName) did not provision: Gatehouse has no groups of theirs to use.
func overageNotProvisioned(subject, dirName string, cause error) error {
	return &loginError{reason: ReasonOverageNotProvisioned, status: http.StatusForbidden, cause: cause, subject: subject,
		public: "Your identity provider sent a link to your groups instead of the groups themselves, because you are in too many groups. " +
			fmt.Sprintf("Gatehouse takes them from the SCIM directory %q linked to this sign-in, but that directory has not provisioned your account. ", dirName) +
			"Your access in Gatehouse was left unchanged. Ask your administrator to assign you to the application in the identity provider, " +
			"so that its SCIM provisioning creates (or takes over) your Gatehouse account, then sign in again."}
}

// cliArg quotes a value for a shell command line when it needs it.
func cliArg(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '@' || unicode.IsLetter(r) || unicode.IsDigit(r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
