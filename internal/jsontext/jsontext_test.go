package jsontext_test

import (
	"encoding/json"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/jsontext"
)

var samples = []string{"", "plain", "user@example.com", "Zoë Ünicode 日本", `quote"`, `back\slash`,
	"tab\t", "ctl\x01", "<script>&", "line\u2028sep\u2029", "bad\xffutf8", "\xc3", "emoji 🙂"}

// TestAppendStringAsEncodingJSON: every sample quotes to encoding/json's bytes.
func TestAppendStringAsEncodingJSON(t *testing.T) {
	for _, s := range samples {
		want, _ := json.Marshal(s)
		if got := jsontext.AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendString(%q) = %s, want x%s", s, got, want)
		}
	}
}

func TestPlainASCII(t *testing.T) {
	for s, want := range map[string]bool{"": true, "userName": true, "a-b_c.d": true, "é": false, `"`: false, "<": false, "\n": false} {
		if got := jsontext.PlainASCII(s); got != want {
			t.Errorf("PlainASCII(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := jsontext.AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}
