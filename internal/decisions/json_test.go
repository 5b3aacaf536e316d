package decisions

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// TestDecisionJSON: AppendDecisionJSON writes what json.Encoder writes, for the
// strings encoding/json escapes (HTML, control characters, invalid UTF-8, the
// line separators) and for random ones.
func TestDecisionJSON(t *testing.T) {
	tricky := []string{"", "plain", `a "quoted" \ back`, "<script>&amp;</script>", "tab\there\nnew\rline\b\f",
		"\x00\x01\x1f\x7f", "IdP group 7 → group-7", "é ü 日本", "sep\u2028and\u2029", "bad \xff\xfe utf8", "\xc3", "emoji 🙂"}
	var ds []core.Decision
	ds = append(ds, core.Decision{}, core.Decision{Effect: core.Allow, Chain: []core.Step{}})
	for _, s := range tricky {
		ds = append(ds, core.Decision{Effect: core.Deny, Reason: s, Message: s,
			Chain: []core.Step{{Kind: s}, {Kind: "user", ID: s}, {Kind: "k", Name: s, Detail: s}, {Kind: "k", Detail: s}}})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune{'a', 'Z', ' ', '"', '\\', '<', '>', '&', '\n', 0, 0x1f, 0x7f, 'é', '→', 0x2028, 0x2029, 0xfffd, '🙂'}
	randString := func() string {
		var b []byte
		for range rng.IntN(12) {
			if rng.IntN(10) == 0 {
				b = append(b, byte(0x80+rng.IntN(0x80))) // a stray byte: invalid UTF-8
				continue
			}
			b = append(b, string(alphabet[rng.IntN(len(alphabet))])...)
		}
		return string(b)
	}
	for range 2000 {
		d := core.Decision{Effect: core.Effect(randString()), Reason: randString(), Message: randString()}
		for range rng.IntN(4) {
			d.Chain = append(d.Chain, core.Step{Kind: randString(), ID: randString(), Name: randString(), Detail: randString()})
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(d); err != nil {
			t.Fatal(err)
		}
		got := append(AppendDecisionJSON(nil, d), '\n')
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("decision %#v:\n got %s\nwant %s", d, got, want.Bytes())
		}
		if prefixed := AppendDecisionJSON([]byte("x"), d); !bytes.Equal(prefixed[1:], bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("appended after a prefix: %s", prefixed)
		}
	}
}
