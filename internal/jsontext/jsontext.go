// Package jsontext writes JSON strings by hand exactly as encoding/json would, for
// the hot encoders that skip reflection (a /check answer, a SCIM user or member):
// plain text is copied between quotes, and anything encoding/json would escape is
// left to encoding/json itself, so the bytes never differ.
package jsontext

import (
	"encoding/json"
	"unicode/utf8"
)

// AppendString appends s quoted as encoding/json quotes it. A string it would
// change (quotes, backslashes, control characters, <, > and &, invalid UTF-8,
// U+2028 and U+2029) is encoded by encoding/json.
func AppendString(dst []byte, s string) []byte {
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

// PlainASCII reports whether s is ASCII that encoding/json writes as it is between
// quotes.
func PlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b >= utf8.RuneSelf || !plainASCII[b] {
			return false
		}
	}
	return true
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
