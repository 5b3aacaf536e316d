package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// TestRefusalsBeforeHandlers: what the server turns away before any handler (a
// declared body over the limit, a JSON body or a URL that is not UTF-8) is answered
// in the format of the protocol at that path, and never reaches the handler; valid
// bodies reach it byte for byte.
func TestRefusalsBeforeHandlers(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		reached []string
	)
	echo := func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		reached = append(reached, r.URL.Path)
		mu.Unlock()
		w.Write(b)
	}
	base, _ := start(t, server.Config{MaxBodyBytes: 1024}, openSQLite(t), io.Discard, mountFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("POST /scim/v2/Users", echo)
		mux.HandleFunc("GET /scim/v2/Users", echo)
		mux.HandleFunc("POST /api/v1/check", echo)
		mux.HandleFunc("POST /sso/login", echo)
		mux.HandleFunc("GET /scim/v2/Users/{id}", echo)
		mux.HandleFunc("GET /api/v1/users/{user}", echo)
		mux.HandleFunc("GET /admin/users/{user}", echo)
	}))
	call := func(method, path, ctype, body string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
	}
	scimErr := func(body string, status string) bool {
		var m struct {
			Schemas []string `json:"schemas"`
			Status  string   `json:"status"`
		}
		return json.Unmarshal([]byte(body), &m) == nil && len(m.Schemas) == 1 && m.Schemas[0] == "urn:ietf:params:scim:api:messages:2.0:Error" && m.Status == status
	}
	problem := func(body string, status int) bool {
		var m struct {
			Status int `json:"status"`
		}
		return json.Unmarshal([]byte(body), &m) == nil && m.Status == status
	}
	big := `{"userName":"` + strings.Repeat("a", 2000) + `"}`

	if code, ct, body := call("POST", "/scim/v2/Users", "application/scim+json", big); code != 413 || ct != "application/scim+json" || !scimErr(body, "413") {
		t.Errorf("SCIM, declared large body: %d %s %s", code, ct, body)
	}
	if code, ct, body := call("POST", "/api/v1/check", "application/json", big); code != 413 || ct != "application/problem+json" || !problem(body, 413) {
		t.Errorf("API, declared large body: %d %s %s", code, ct, body)
	}
	if code, ct, _ := call("POST", "/sso/login", "application/x-www-form-urlencoded", "email="+strings.Repeat("a", 2000)); code != 413 || !strings.HasPrefix(ct, "text/html") {
		t.Errorf("SSO, declared large body: %d %s", code, ct)
	}
	bad := "{\"userName\":\"\xff\xfe@acme.test\"}"
	if code, _, body := call("POST", "/scim/v2/Users", "application/scim+json", bad); code != 400 || !scimErr(body, "400") {
		t.Errorf("SCIM, invalid UTF-8 JSON: %d %s", code, body)
	}
	if code, _, body := call("POST", "/api/v1/check", "application/json; charset=utf-8", bad); code != 400 || !problem(body, 400) {
		t.Errorf("API, invalid UTF-8 JSON: %d %s", code, body)
	}
	if code, _, body := call("GET", "/scim/v2/Users?filter=userName%20eq%20%22%FF%22", "", ""); code != 400 || !scimErr(body, "400") {
		t.Errorf("SCIM, invalid UTF-8 query: %d %s", code, body)
	}
	// NUL: PostgreSQL cannot store it, so neither database gets it.
	if code, _, body := call("POST", "/scim/v2/Users", "application/scim+json", `{"userName":"a\u0000b@acme.test"}`); code != 400 || !scimErr(body, "400") {
		t.Errorf("SCIM, escaped NUL in JSON: %d %s", code, body)
	}
	if code, _, body := call("POST", "/api/v1/check", "application/json", `{"user":"\\\u0000"}`); code != 400 || !problem(body, 400) {
		t.Errorf("API, escaped NUL after an escaped backslash: %d %s", code, body)
	}
	if code, _, body := call("GET", "/scim/v2/Users?filter=userName%20eq%20%22%00%22", "", ""); code != 400 || !scimErr(body, "400") {
		t.Errorf("SCIM, NUL in the query: %d %s", code, body)
	}
	// A path segment longer than any reference (core.MaxRef = 512 bytes, decoded)
	// names nothing: 400 in the protocol's format, before any lookup.
	long := strings.Repeat("x", 513)
	if code, _, body := call("GET", "/scim/v2/Users/"+long, "", ""); code != 400 || !scimErr(body, "400") {
		t.Errorf("SCIM, long id in the path: %d %s", code, body)
	}
	if code, ct, body := call("GET", "/api/v1/users/"+long, "", ""); code != 400 || ct != "application/problem+json" || !problem(body, 400) {
		t.Errorf("API, long reference in the path: %d %s %s", code, ct, body)
	}
	if code, ct, _ := call("GET", "/admin/users/"+strings.Repeat("%C3%A9", 257), "", ""); code != 400 || !strings.HasPrefix(ct, "text/html") {
		t.Errorf("pages, long (decoded) reference in the path: %d %s", code, ct)
	}
	mu.Lock()
	if len(reached) != 0 {
		t.Fatalf("refused requests reached handlers: %v", reached)
	}
	mu.Unlock()
	for _, p := range []string{"/scim/v2/Users/" + long[:512], "/api/v1/users/" + long[:512], "/admin/users/" + strings.Repeat("%C3%A9", 256)} {
		if code, _, _ := call("GET", p, "", ""); code != 200 {
			t.Errorf("%.40s… (512 bytes): %d", p, code)
		}
	}
	// Valid bodies pass whole, JSON (read by the check) and not.
	good := `{"userName":"zoë@acme.test"}`
	if code, _, body := call("POST", "/scim/v2/Users", "application/scim+json", good); code != 200 || body != good {
		t.Errorf("valid JSON: %d %q", code, body)
	}
	if code, _, body := call("POST", "/sso/login", "application/x-www-form-urlencoded", "email=%FF"); code != 200 || body != "email=%FF" {
		t.Errorf("form body (not JSON, left to the handler): %d %q", code, body)
	}
	// The JSON text \\u0000 (an escaped backslash, then u0000) is not a NUL.
	literal := `{"userName":"a\\u0000b"}`
	if code, _, body := call("POST", "/scim/v2/Users", "application/scim+json", literal); code != 200 || body != literal {
		t.Errorf("escaped backslash before u0000: %d %q", code, body)
	}
	if code, _, _ := call("GET", "/scim/v2/Users?filter=userName%20eq%20%22zo%C3%AB%22", "", ""); code != 200 {
		t.Errorf("UTF-8 query: %d", code)
	}
}
