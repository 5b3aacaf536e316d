package decisions

import (
	"encoding/json"
	"slices"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// AppendDecisionJSON appends d as encoding/json encodes it (json.Marshal, HTML
// escaping included), without reflection: every access check answers with one, and
// encoding it through reflection cost as much as deciding it. TestDecisionJSON
// holds it to encoding/json's bytes.
func AppendDecisionJSON(dst []byte, d core.Decision) []byte {
	dst = slices.Grow(dst, decisionSize(d))
	dst = append(dst, `{"decision":`...)
	dst = appendJSONString(dst, string(d.Effect))
	dst = append(dst, `,"reason":`...)
	dst = appendJSONString(dst, d.Reason)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, d.Message)
	dst = append(dst, `,"explanation":`...)
	if d.Chain == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, s := range d.Chain {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"kind":`...)
			dst = appendJSONString(dst, s.Kind)
			for _, f := range [...]struct{ name, v string }{{`,"id":`, s.ID}, {`,"name":`, s.Name}, {`,"detail":`, s.Detail}} {
				if f.v != "" { // omitempty
					dst = append(dst, f.name...)
					dst = appendJSONString(dst, f.v)
				}
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// decisionSize is about the length of d's JSON, for one allocation.
func decisionSize(d core.Decision) int {
	n := 64 + len(d.Effect) + len(d.Reason) + len(d.Message)
	for _, s := range d.Chain {
		n += 40 + len(s.Kind) + len(s.ID) + len(s.Name) + len(s.Detail)
	}
	return n
}

// appendJSONString appends s quoted. A string that encoding/json would change
// (quotes, backslashes, control characters, <, > and &, invalid UTF-8, U+2028 and
// U+2029) is left to encoding/json itself.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if !plainASCII[b] {
				return appendMarshalled(dst, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			return appendMarshalled(dst, s)
		}
		i += size
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// plainASCII are the ASCII bytes encoding/json writes as they are.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for b := range t {
		t[b] = b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

func appendMarshalled(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(dst, b...)
}
