package api

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

// TestDecodeQuestionAsTheDecoder: the check's quick decoding gives what the
// standard decoder gives — the same Question, or the same status and message —
// for the usual bodies, the unusual ones it leaves to the decoder (escapes, null,
// other names and types, repeats, trailing data, invalid UTF-8) and random
// mutations of both.
func TestDecodeQuestionAsTheDecoder(t *testing.T) {
	bodies := []string{
		`{"user":"ann@acme.test","workspace":"marketing","environment":"","action":"view","resource":{"type":"source","id":"s-1"}}`,
		` { "user" : "u" , "workspace":"w", "action":"edit","space":"sp" } ` + "\n",
		`{"user":"u","workspace":"w","action":"create","resource":{"type":"model"}}`,
		`{}`, `{"resource":{}}`, `{"user":"é→日本","workspace":"w","action":"view"}`,
		`{"user":"a\"b","workspace":"w"}`, `{"user":"a\u00e9"}`, `{"user":null}`, `{"resource":null}`,
		`{"User":"u"}`, `{"USER":"u"}`, `{"user":"u","user":"v"}`, `{"resource":{"type":"a"},"resource":{"id":"b"}}`,
		`{"resource":{"type":"a","type":"b"}}`, `{"user":1}`, `{"user":true}`, `{"user":["u"]}`, `{"resource":"r"}`,
		`{"extra":"x"}`, `{"resource":{"extra":"x"}}`, `{"user":"u"} {"user":"v"}`, `{"user":"u"}]`, `{"user":"u"} x`,
		`{"user":"u",}`, `{"user" "u"}`, `{"user":"u"`, `{"user":"u`, `[]`, `"u"`, `null`, ``, ` `, `{`,
		"{\"user\":\"bad \xff utf8\"}", "{\"user\":\"tab\there\"}", "{\"us\xffer\":\"u\"}", `{"user":"u"}` + "\t\r\n",
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, b := range bodies[:3] {
		for range 3000 {
			m := []byte(b)
			for range 1 + rng.IntN(3) {
				i := rng.IntN(len(m))
				switch rng.IntN(3) {
				case 0:
					const chars = `{}[]":,\ ue1n`
					m[i] = chars[rng.IntN(len(chars))]
				case 1:
					m = append(m[:i], m[i+1:]...)
				default:
					m = append(m[:i], append([]byte{byte(rng.IntN(256))}, m[i:]...)...)
				}
				if len(m) == 0 {
					break
				}
			}
			bodies = append(bodies, string(m))
		}
	}
	quick := 0
	for _, b := range bodies {
		var want decisions.Question
		wantErr := decode(bodyRequest(b), &want)
		var got decisions.Question
		gotErr := decodeQuestion(bodyRequest(b), &got)
		if !reflect.DeepEqual(got, want) || errText(gotErr) != errText(wantErr) {
			t.Fatalf("body %q:\n got %+v %v\nwant %+v %v", b, got, errText(gotErr), want, errText(wantErr))
		}
		if parseQuestion([]byte(b), new(decisions.Question)) {
			quick++
		}
	}
	if quick < 100 {
		t.Fatalf("only %d of %d bodies took the quick path", quick, len(bodies))
	}
}

func bodyRequest(body string) *http.Request {
	return &http.Request{Method: "POST", Body: io.NopCloser(bytes.NewReader([]byte(body))), ContentLength: int64(len(body))}
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	status, detail := httpx.Status(err)
	return http.StatusText(status) + ": " + detail
}
