package scim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// membersFail is a store whose member pages fail, as a database that goes away
// in the middle of a read would.
type membersFail struct{ Store }

func (membersFail) SCIMGroupMembers(context.Context, string, string, string, string, int) ([]store.SCIMMember, error) {
	return nil, errors.New("database is gone")
}

// TestGroupMembersReadFails: when a group's members cannot be read, a GET of the
// group is a clean SCIM error (the first page is read before the status is sent),
// and a list already under way drops the connection, so that no client takes a
// cut-off answer for a whole one.
func TestGroupMembersReadFails(t *testing.T) {
	e := newEnv(t, newSQLite)
	uid := e.createUser("a@example.com", "")
	gid := e.createGroup("eng")
	e.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}]}`).must(t, 204)
	e.h.Store = membersFail{e.s}
	srv := httptest.NewServer(e.mux)
	defer srv.Close()
	get := func(path string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest("GET", srv.URL+Prefix+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}

	resp, body, err := get("/Groups/" + gid)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 || !strings.Contains(string(body), `"status":"500"`) {
		t.Fatalf("GET group: %d %s, want a SCIM 500 error", resp.StatusCode, body)
	}
	// Without members the group is answered as before.
	if resp, _, err := get("/Groups/" + gid + "?excludedAttributes=members"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET group without members: %v %v", resp, err)
	}

	resp, body, err = get("/Groups")
	if err == nil {
		t.Fatalf("list of groups: %d %s, want the connection dropped", resp.StatusCode, body)
	}
}

// TestGroupMembersStreamedInPages: a group whose members take several pages is
// answered with every member once, in id order, alone and in a list of groups.
func TestGroupMembersStreamedInPages(t *testing.T) {
	defer func(n int) { membersPage = n }(membersPage)
	membersPage = 2
	e := newEnv(t, newSQLite)
	gid := e.createGroup("eng")
	var ids []string
	for i := range 5 {
		uid := e.createUser(fmt.Sprintf("u%d@example.com", i), "")
		ids = append(ids, uid)
		e.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}]}`).must(t, 204)
	}
	slices.Sort(ids)
	members := func(g map[string]any) []string {
		var out []string
		for _, m := range g["members"].([]any) {
			out = append(out, m.(map[string]any)["value"].(string))
		}
		return out
	}
	if got := members(e.do("GET", "/Groups/"+gid, "").must(t, 200).json); !slices.Equal(got, ids) {
		t.Errorf("GET group: members %v, want %v", got, ids)
	}
	list := e.do("GET", "/Groups", "").must(t, 200).json["Resources"].([]any)
	if len(list) != 1 {
		t.Fatalf("%d groups listed", len(list))
	}
	if got := members(list[0].(map[string]any)); !slices.Equal(got, ids) {
		t.Errorf("list of groups: members %v, want %v", got, ids)
	}
}
