package events

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// Event is one entry of an org's event stream, as applications receive it.
type Event struct {
	// ID is the audit event's id: the same for every delivery of the event.
	ID string `json:"id"`
	// Seq numbers the org's events in commit order (1, 2, 3, …, gapless): the cursor.
	Seq    int64     `json:"seq"`
	Type   string    `json:"type"`
	At     time.Time `json:"at"`
	OrgID  string    `json:"org_id"`
	Actor  Actor     `json:"actor"`
	Source Source    `json:"source"`
	Target Target    `json:"target"`
	// Data holds the change's details (the audit event's details); never null.
	Data map[string]any `json:"data"`
}

// Actor is who made the change: a person (admin), a SCIM directory, an SSO
// connection, an API token, or the system (the server itself, the CLI).
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Source is the path a change came through, one of the Source* kinds. For a
// directory, a connection or a token it names that object.
type Source struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Source kinds.
const (
	SourceSCIM   = "scim_directory"
	SourceSSO    = "sso_connection"
	SourceAdmin  = "admin"
	SourceAPI    = "api_token"
	SourceSystem = "system"
)

// Target is the object the change is about.
type Target struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// FromAudit renders an audit event as a public event. It is the one rendering the
// stream and webhooks share.
func FromAudit(e core.AuditEvent) Event {
	data := e.Details
	if data == nil {
		data = map[string]any{}
	}
	return Event{
		ID: e.ID, Seq: e.Seq, Type: TypeOf(e.Action), At: e.At.UTC(), OrgID: e.OrgID,
		Actor:  Actor{Kind: string(e.Actor.Kind), ID: e.Actor.ID, Name: e.Actor.Name},
		Source: sourceOf(e.Actor),
		Target: Target{Kind: e.TargetKind, ID: e.TargetID},
		Data:   data,
	}
}

// Marshal renders an audit event as the JSON object applications receive.
func Marshal(e core.AuditEvent) ([]byte, error) { return json.Marshal(FromAudit(e)) }

// sourceOf names the path a change came through from its actor: the actor is the
// directory, the connection or the token itself; an admin is a person, whose
// identity is in the actor.
func sourceOf(a core.Actor) Source {
	switch a.Kind {
	case core.ActorSCIM:
		return Source{Kind: SourceSCIM, ID: a.ID, Name: a.Name}
	case core.ActorSSO:
		return Source{Kind: SourceSSO, ID: a.ID, Name: a.Name}
	case core.ActorAPI:
		return Source{Kind: SourceAPI, ID: a.ID, Name: a.Name}
	case core.ActorAdmin:
		return Source{Kind: SourceAdmin}
	case core.ActorSystem:
		return Source{Kind: SourceSystem}
	}
	return Source{Kind: string(a.Kind)}
}

// TypeOf returns the public type of an audit action: its entry in the table, or for
// an action the table does not know a type derived from it ("thing.some.verb" →
// "thing.some_verb"), so that no change is ever missing from the stream.
func TypeOf(action string) string {
	if t, ok := byAction[action]; ok {
		return t
	}
	return derived(action)
}

// derived builds a well-formed type from an unknown action: the first segment, a
// dot, the rest joined by "_", with only [a-z0-9_] kept.
func derived(action string) string {
	clean := func(s string) string {
		s = strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
				return r
			case r >= 'A' && r <= 'Z':
				return r + ('a' - 'A')
			}
			return '_'
		}, s)
		if s == "" {
			return "unknown"
		}
		return s
	}
	prefix, rest, ok := strings.Cut(action, ".")
	if !ok {
		return "audit." + clean(action)
	}
	return clean(prefix) + "." + clean(strings.ReplaceAll(rest, ".", "_"))
}

// TypeInfo documents one public event type.
type TypeInfo struct {
	Type string `json:"type"`
	Doc  string `json:"doc"`
	// Actions are the audit actions that produce it.
	Actions []string `json:"actions"`
}

// Types lists every public event type, sorted by name.
func Types() []TypeInfo {
	byType := map[string]*TypeInfo{}
	for _, e := range vocabulary {
		ti := byType[e.typ]
		if ti == nil {
			ti = &TypeInfo{Type: e.typ, Doc: e.doc}
			byType[e.typ] = ti
		}
		ti.Actions = append(ti.Actions, e.action)
	}
	out := make([]TypeInfo, 0, len(byType))
	for _, k := range slices.Sorted(maps.Keys(byType)) {
		out = append(out, *byType[k])
	}
	return out
}

// IsType reports whether t is a type of the vocabulary.
func IsType(t string) bool {
	_, ok := types[t]
	return ok
}

// ReservedPrefixes are type prefixes kept for features whose events do not exist
// yet; a subscription may name them now. None at present: "proposal", reserved
// until change management came, now has its types.
var ReservedPrefixes []string

var (
	byAction = map[string]string{} // audit action → public type
	types    = map[string]bool{}   // public types
)

func init() {
	for _, e := range vocabulary {
		if prev, dup := byAction[e.action]; dup {
			panic("events: action " + e.action + " mapped twice (" + prev + ", " + e.typ + ")")
		}
		byAction[e.action] = e.typ
		types[e.typ] = true
	}
}
