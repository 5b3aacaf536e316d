package core

import "strings"

// Sign-in refusals of a connection for a user it may not sign in (the reasons of
// sso.login_refused events).
const (
	RefuseOwnedByConnection = "owned_by_another_connection"
	RefuseOwnedByDirectory  = "owned_by_unlinked_directory"
	RefuseLocalOutside      = "local_user_outside_domains"
)

// SignInConnection is what the sign-in rule needs to know of an SSO connection.
type SignInConnection struct {
	ID          string
	DirectoryID string   // the directory it is linked to, if any
	Domains     []string // the email domains it may sign local users in for
}

// MaySignIn is the sign-in rule of identity sources: a connection signs in an
// existing user only when it owns them, when their owner is the directory linked to
// it, or when they are local and the asserted address's domain is one of its
// domains; in that last case the connection adopts them (adopt). Otherwise reason
// says why not.
func MaySignIn(owner Owner, c SignInConnection, emailDomain string) (ok, adopt bool, reason string) {
	switch owner.Kind {
	case OwnerConnection:
		if owner.ID == c.ID {
			return true, false, ""
		}
		return false, false, RefuseOwnedByConnection
	case OwnerDirectory:
		if c.DirectoryID != "" && owner.ID == c.DirectoryID {
			return true, false, ""
		}
		return false, false, RefuseOwnedByDirectory
	default:
		for _, d := range c.Domains {
			if emailDomain != "" && strings.EqualFold(d, emailDomain) {
				return true, true, ""
			}
		}
		return false, false, RefuseLocalOutside
	}
}

// MayAdopt says whether a source may take over a user from their owner: a
// directory adopts a local or connection-owned user, a connection a local one;
// nobody adopts a directory's user. The other half of the rule, that the address the
// user was found by is in one of the source's (verified, when the org asks) domains,
// needs the database: the store checks both in the adopting transaction.
func MayAdopt(from Owner, to OwnerKind) bool {
	switch to {
	case OwnerDirectory:
		return from.Kind == OwnerLocal || from.Kind == OwnerConnection
	case OwnerConnection:
		return from.Kind == OwnerLocal
	}
	return false
}

// AddressDomain is the lowercased domain of an email address ("" when it has no
// local part or no domain): what adoption and sign-in compare to a source's domains.
func AddressDomain(address string) string {
	at := strings.LastIndexByte(address, '@')
	if at <= 0 || at == len(address)-1 {
		return ""
	}
	return strings.ToLower(address[at+1:])
}
