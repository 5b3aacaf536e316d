package api

import (
	"bytes"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/decisions"
)

// maxQuickQuestion is the largest body decodeQuestion reads whole before decoding.
const maxQuickQuestion = 4096

// decodeQuestion is decode for the body of POST /check, the hot path: a body of
// known, small length in the usual shape (parseQuestion) is read without
// reflection; any other goes to the standard decoder, which sees the very same
// bytes and answers with its own result or error.
func decodeQuestion(r *http.Request, q *decisions.Question) error {
	n := r.ContentLength
	if r.Body == nil || n <= 0 || n > maxQuickQuestion {
		return decode(r, q)
	}
	buf := make([]byte, n)
	m, err := io.ReadFull(r.Body, buf)
	if err == nil && parseQuestion(buf, q) {
		return nil
	}
	*q = decisions.Question{}
	return decodeFrom(io.MultiReader(bytes.NewReader(buf[:m]), r.Body), q)
}

// parseQuestion reads b into q when b is one JSON object in the shape clients
// send: the exact field names, each once, with plain string values (no escapes,
// valid UTF-8), "resource" an object of "type" and "id" likewise, and nothing but
// whitespace after it. There the standard decoder gives the same Question. It
// reports false for anything else (null, other names or types, escapes), leaving
// that to the standard decoder.
func parseQuestion(b []byte, q *decisions.Question) bool {
	s := jsonScan{b: b}
	var out decisions.Question
	seen := 0
	ok := s.object(func(key []byte) bool {
		var bit int
		var dst *string
		switch string(key) {
		case "user":
			bit, dst = 1, &out.User
		case "workspace":
			bit, dst = 2, &out.Workspace
		case "environment":
			bit, dst = 4, &out.Environment
		case "action":
			bit, dst = 8, (*string)(&out.Action)
		case "space":
			bit, dst = 16, &out.Space
		case "resource":
			bit = 32
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if dst != nil {
			v, ok := s.str()
			*dst = string(v)
			return ok
		}
		res := &decisions.QuestionResource{}
		out.Resource = res
		rseen := 0
		return s.object(func(key []byte) bool {
			var bit int
			var dst *string
			switch string(key) {
			case "type":
				bit, dst = 1, (*string)(&res.Type)
			case "id":
				bit, dst = 2, &res.ID
			default:
				return false
			}
			if rseen&bit != 0 {
				return false
			}
			rseen |= bit
			v, ok := s.str()
			*dst = string(v)
			return ok
		})
	})
	if !ok || !s.end() {
		return false
	}
	*q = out
	return true
}

// jsonScan reads the few JSON forms parseQuestion accepts.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScan) take(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (s *jsonScan) end() bool {
	s.space()
	return s.i == len(s.b)
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (s *jsonScan) str() ([]byte, bool) {
	if !s.take('"') {
		return nil, false
	}
	for j := s.i; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i:j]
			s.i = j + 1
			return v, utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// object reads {"key": value, …}, field reading each value after its key.
func (s *jsonScan) object(field func(key []byte) bool) bool {
	if !s.take('{') {
		return false
	}
	if s.take('}') {
		return true
	}
	for {
		k, ok := s.str()
		if !ok || !s.take(':') || !field(k) {
			return false
		}
		if s.take('}') {
			return true
		}
		if !s.take(',') {
			return false
		}
	}
}
