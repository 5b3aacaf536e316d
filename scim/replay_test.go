package scim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// step is one request of a recorded IdP sequence in testdata/*.json.
type step struct {
	Name        string            `json:"name"`
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Body        json.RawMessage   `json:"body"`
	ContentType string            `json:"contentType"`
	Auth        string            `json:"auth"`
	Status      int               `json:"status"`
	Expect      map[string]any    `json:"expect"`
	Present     []string          `json:"present"`
	Absent      []string          `json:"absent"`
	Header      map[string]string `json:"header"`
	Save        map[string]string `json:"save"`
}

// encodeQuery percent-encodes a readable query ("filter=userName eq \"x\"&count=1").
func encodeQuery(p string) string {
	path, q, ok := strings.Cut(p, "?")
	if !ok {
		return p
	}
	var parts []string
	for _, kv := range strings.Split(q, "&") {
		k, v, has := strings.Cut(kv, "=")
		if !has {
			parts = append(parts, url.QueryEscape(k))
			continue
		}
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	return path + "?" + strings.Join(parts, "&")
}

func replay(t *testing.T, newStore func(testing.TB) *store.SQL, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	if err := json.Unmarshal(raw, &steps); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	e := newEnv(t, newStore)
	vars := map[string]string{}
	subst := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{{"+k+"}}", v)
		}
		return s
	}
	for i, st := range steps {
		label := fmt.Sprintf("step %d %q", i, st.Name)
		var hdr []string
		if st.Auth != "" {
			hdr = append(hdr, "Authorization: "+st.Auth)
		}
		if st.ContentType != "" {
			hdr = append(hdr, "Content-Type: "+st.ContentType)
		}
		body := ""
		if len(st.Body) > 0 {
			body = subst(string(st.Body))
		}
		r := e.do(st.Method, encodeQuery(subst(st.Path)), body, hdr...)
		if r.status != st.Status {
			t.Fatalf("%s: %s %s: status %d, want %d: %s", label, st.Method, st.Path, r.status, st.Status, r.body)
		}
		if st.Status == 204 && len(r.body) != 0 {
			t.Errorf("%s: 204 with a body", label)
		}
		for name, field := range st.Save {
			v, _ := r.field(field).(string)
			if v == "" {
				t.Fatalf("%s: no %s to save", label, field)
			}
			vars[name] = v
		}
		for k, want := range st.Expect {
			if s, ok := want.(string); ok {
				want = subst(s)
			}
			if got := r.field(k); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %#v, want %#v\n%s", label, k, got, want, r.body)
			}
		}
		for _, k := range st.Present {
			if v := r.field(k); v == nil || v == "" {
				t.Errorf("%s: %s missing\n%s", label, k, r.body)
			}
		}
		for _, k := range st.Absent {
			if v := r.field(k); v != nil {
				t.Errorf("%s: %s present (%v)\n%s", label, k, v, r.body)
			}
		}
		for k, want := range st.Header {
			if got := r.header.Get(k); got != subst(want) {
				t.Errorf("%s: header %s = %q, want %q", label, k, got, subst(want))
			}
		}
	}
}

func TestOktaSequence(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) { replay(t, newStore, "testdata/okta.json") })
}

func TestEntraSequence(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) { replay(t, newStore, "testdata/entra.json") })
}
