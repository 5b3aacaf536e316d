package decisions

import (
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/jsontext"
)

// AppendDecisionJSON appends d as encoding/json encodes it (json.Marshal, HTML
// escaping included), without reflection: every access check answers with one, and
// encoding it through reflection cost as much as deciding it. TestDecisionJSON
// holds it to encoding/json's bytes.
func AppendDecisionJSON(dst []byte, d core.Decision) []byte {
	dst = slices.Grow(dst, decisionSize(d))
	dst = append(dst, `{"decision":`...)
	dst = jsontext.AppendString(dst, string(d.Effect))
	dst = append(dst, `,"reason":`...)
	dst = jsontext.AppendString(dst, d.Reason)
	dst = append(dst, `,"message":`...)
	dst = jsontext.AppendString(dst, d.Message)
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
			dst = jsontext.AppendString(dst, s.Kind)
			for _, f := range [...]struct{ name, v string }{{`,"id":`, s.ID}, {`,"name":`, s.Name}, {`,"detail":`, s.Detail}} {
				if f.v != "" { // omitempty
					dst = append(dst, f.name...)
					dst = jsontext.AppendString(dst, f.v)
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
