package events

import (
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// MaxTypes bounds the types one subscription names.
const MaxTypes = 100

// Filter matches event types against a subscription: exact types and prefixes
// ("user.*"). The empty subscription matches every type.
type Filter struct {
	exact    map[string]bool
	prefixes []string // "user." for "user.*"
}

// NewFilter builds the filter of a subscription. It does not validate (stored
// subscriptions were validated when written; a type retired since must not stop
// delivery): see ValidateTypes.
func NewFilter(types []string) Filter {
	f := Filter{exact: map[string]bool{}}
	for _, t := range types {
		if p, ok := strings.CutSuffix(t, ".*"); ok {
			f.prefixes = append(f.prefixes, p+".")
			continue
		}
		f.exact[t] = true
	}
	return f
}

// All reports whether the filter matches every type.
func (f Filter) All() bool { return len(f.exact) == 0 && len(f.prefixes) == 0 }

// Match reports whether an event of type t is subscribed to.
func (f Filter) Match(t string) bool {
	if f.All() || f.exact[t] {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// ValidateTypes checks a subscription a client asks for and returns it cleaned:
// trimmed, without repeats, sorted. Each entry is a type of the vocabulary, a
// prefix pattern "name.*" whose name starts some type (or is reserved), or a type
// under a reserved prefix. Anything else is core.ErrInvalid naming the entry.
func ValidateTypes(in []string) ([]string, error) {
	if len(in) > MaxTypes {
		return nil, core.Invalidf("at most %d event types, got %d", MaxTypes, len(in))
	}
	out := make([]string, 0, len(in))
	for _, raw := range in {
		t := strings.TrimSpace(raw)
		switch {
		case t == "" || t == "*":
			return nil, core.Invalidf("event type %q is not valid: name types such as user.created or user.*, or leave the list empty for every type", raw)
		case strings.HasSuffix(t, ".*"):
			p := strings.TrimSuffix(t, ".*")
			if !validName(p) || !knownPrefix(p) {
				return nil, core.Invalidf("event type pattern %q matches no event type", raw)
			}
		case IsType(t):
		case reserved(t):
		default:
			return nil, core.Invalidf("event type %q is not an event type", raw)
		}
		out = append(out, t)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// knownPrefix reports whether some type starts with p + "." (p may span segments:
// "idp_group", "sso").
func knownPrefix(p string) bool {
	first, _, _ := strings.Cut(p, ".")
	if slices.Contains(ReservedPrefixes, first) {
		return true
	}
	for t := range types {
		if strings.HasPrefix(t, p+".") {
			return true
		}
	}
	return false
}

// reserved reports whether t is a well-formed type under a reserved prefix.
func reserved(t string) bool {
	p, rest, ok := strings.Cut(t, ".")
	return ok && slices.Contains(ReservedPrefixes, p) && validName(rest)
}

// validName: dot-separated segments of [a-z0-9_], as the Standard Webhooks
// specification recommends for event types.
func validName(s string) bool {
	for seg := range strings.SplitSeq(s, ".") {
		if seg == "" {
			return false
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return false
			}
		}
	}
	return true
}
