package scim

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/jsontext"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// This file writes the hot SCIM representations (a user from its stored document, a
// group member) without encoding/json's reflection, byte for byte as encoding/json
// writes them: TestUserJSONAsEncodingJSON and TestMemberJSONAsEncodingJSON hold them
// to the reference code. Anything unusual (a key encoding/json would escape) goes to
// that reference code itself.

// member is one top-level attribute of a stored document: its key as written (no
// escapes, see jsontext.PlainASCII) and its value's bytes.
type member struct {
	key string
	val []byte
}

// docMembers splits a valid JSON object into its top-level members, in order. It
// reports false for anything but an object whose keys are plain (jsontext.PlainASCII).
func docMembers(doc []byte, out []member) ([]member, bool) {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return out, false
	}
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return out, skipSpace(doc, i+1) == len(doc)
	}
	for {
		if i >= len(doc) || doc[i] != '"' {
			return out, false
		}
		end := bytes.IndexByte(doc[i+1:], '"')
		if end < 0 {
			return out, false
		}
		key := string(doc[i+1 : i+1+end])
		if !jsontext.PlainASCII(key) {
			return out, false
		}
		i = skipSpace(doc, i+2+end)
		if i >= len(doc) || doc[i] != ':' {
			return out, false
		}
		i = skipSpace(doc, i+1)
		start := i
		if i = skipValue(doc, i); i < 0 {
			return out, false
		}
		out = append(out, member{key: key, val: doc[start:i]})
		i = skipSpace(doc, i)
		if i >= len(doc) {
			return out, false
		}
		if doc[i] == '}' {
			return out, skipSpace(doc, i+1) == len(doc)
		}
		if doc[i] != ',' {
			return out, false
		}
		i = skipSpace(doc, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value at b[i] of a valid document, or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// skipString returns the index just past the string that starts at b[i], or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// fastUserJSON is userJSON for a valid stored document with plain keys; ok is false
// for any other, which userJSON then renders the general way.
func fastUserJSON(u store.SCIMUser, location string) (_ []byte, ok bool) {
	if len(u.Doc) > 0 && !json.Valid(u.Doc) {
		return nil, false
	}
	var buf [24]member
	ms := buf[:0]
	if len(u.Doc) > 0 {
		if ms, ok = docMembers(u.Doc, ms); !ok {
			return nil, false
		}
	}
	// The columns override the document: appended after its members, they win
	// below as a later assignment to the same map key did. Each value is a slice
	// of over; one that grows leaves the earlier ones on its old array, unchanged.
	enterprise := false
	for _, m := range ms {
		if m.key == URNEnterprise {
			enterprise = true
			break
		}
	}
	schemas := schemasUser
	if enterprise {
		schemas = schemasUserEnterprise
	}
	over := make([]byte, 0, 320+len(location))
	mark := func() int { return len(over) }
	add := func(key string, start int) { ms = append(ms, member{key: key, val: over[start:len(over):len(over)]}) }
	ms = append(ms, member{key: "schemas", val: schemas})
	s := mark()
	over = jsontext.AppendString(over, u.ID)
	add("id", s)
	s = mark()
	over = jsontext.AppendString(over, u.UserName)
	add("userName", s)
	s = mark()
	over = strconv.AppendBool(over, u.Active)
	add("active", s)
	s = mark()
	over = append(over, `{"created":`...)
	over = jsontext.AppendString(over, formatTime(u.CreatedAt))
	over = append(over, `,"lastModified":`...)
	over = jsontext.AppendString(over, formatTime(u.UpdatedAt))
	over = append(over, `,"location":`...)
	over = jsontext.AppendString(over, location)
	over = append(over, `,"resourceType":"User","version":`...)
	over = jsontext.AppendString(over, etag(u.Version))
	over = append(over, '}')
	add("meta", s)
	if u.ExternalID != "" {
		s = mark()
		over = jsontext.AppendString(over, u.ExternalID)
		add("externalId", s)
	}
	slices.SortStableFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	n := 2
	for _, m := range ms {
		n += len(m.key) + len(m.val) + 4
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	first := true
	for i, m := range ms {
		if i+1 < len(ms) && ms[i+1].key == m.key {
			continue // a later value of the same key wins, as in a map
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, '"')
		out = append(out, m.key...)
		out = append(out, '"', ':')
		out = append(out, m.val...)
	}
	return append(out, '}'), true
}

// appendMember appends one group member as writeGroup writes it: encoding/json's
// map order ($ref, display, type, value).
func appendMember(dst []byte, id, display, ref string) []byte {
	dst = append(dst, `{"$ref":`...)
	dst = jsontext.AppendString(dst, ref)
	dst = append(dst, `,"display":`...)
	dst = jsontext.AppendString(dst, display)
	dst = append(dst, `,"type":"User","value":`...)
	dst = jsontext.AppendString(dst, id)
	return append(dst, '}')
}
