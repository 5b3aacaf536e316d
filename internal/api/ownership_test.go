package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// TestUserOwnerShownAndTransferred: every user in the API names its one owner
// ({kind, id, name}); an org admin's POST /users/{u}/owner moves a user between a
// directory, a connection and local in one audited change; a bad owner is 422 and
// changes nothing; a member may not transfer anyone.
func TestUserOwnerShownAndTransferred(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		ctx := context.Background()
		owner := func(r apitest.Resp) [3]string {
			return [3]string{r.Str("owner", "kind"), r.Str("owner", "id"), r.Str("owner", "name")}
		}
		ann := w.API("GET", "/api/v1/users/"+w.Ann.ID, nil).Want(t, 200)
		if got := owner(ann); got != [3]string{"local", "", ""} {
			t.Fatalf("an invited user's owner: %v (%s)", got, ann.Raw)
		}

		r := w.API("POST", "/api/v1/users/"+w.Ann.ID+"/owner", map[string]any{"kind": "directory", "id": "okta"}).Want(t, 200)
		if got := owner(r); got != [3]string{"directory", w.DirID, "okta"} || r.Str("source") != "scim" || r.Str("directory_id") != w.DirID {
			t.Fatalf("after the transfer to okta: %v %s", got, r.Raw)
		}
		if got := owner(w.API("GET", "/api/v1/users/"+w.Ann.ID, nil).Want(t, 200)); got != [3]string{"directory", w.DirID, "okta"} {
			t.Fatalf("read back: %v", got)
		}
		list := w.API("GET", "/api/v1/users?q=ann", nil).Want(t, 200)
		if len(list.Items()) != 1 || list.Items()[0]["owner"].(map[string]any)["name"] != "okta" {
			t.Fatalf("the list does not show the owner: %s", list.Raw)
		}
		evs, err := w.St.ListAudit(ctx, w.Org.ID, store.AuditQuery{Action: "user.owner_transfer"})
		if err != nil || len(evs) != 1 {
			t.Fatalf("audit of the transfer: %v %v", evs, err)
		}
		from, _ := evs[0].Details["from"].(map[string]any)
		to, _ := evs[0].Details["owner"].(map[string]any)
		if from["kind"] != "local" || to["kind"] != "directory" || to["id"] != w.DirID || to["name"] != "okta" || evs[0].TargetID != w.Ann.ID {
			t.Fatalf("audit event: %+v", evs[0])
		}

		// Unknown owners and kinds are refused, and nothing changes.
		w.API("POST", "/api/v1/users/"+w.Ann.ID+"/owner", map[string]any{"kind": "directory", "id": "entra"}).Want(t, 422)
		w.API("POST", "/api/v1/users/"+w.Ann.ID+"/owner", map[string]any{"kind": "connection", "id": "nope"}).Want(t, 422)
		w.API("POST", "/api/v1/users/"+w.Ann.ID+"/owner", map[string]any{"kind": "root"}).Want(t, 422)
		w.API("POST", "/api/v1/users/"+w.Ann.ID+"/owner", map[string]any{"kind": "local", "id": "x"}).Want(t, 422)
		if u, _ := w.St.GetUser(ctx, w.Org.ID, w.Ann.ID); u.DirectoryID != w.DirID || u.Version != 2 {
			t.Fatalf("a refused transfer changed the user: %+v", u)
		}
		// A person who is not an org admin cannot transfer anyone, themselves included.
		bob := w.User("bob")
		apitest.Call(t, w.Srv.URL, "POST", "/api/v1/users/"+bob.ID+"/owner", map[string]any{"kind": "directory", "id": "okta"}, w.Session(bob)).Want(t, 403)

		// Back to local: the directory no longer owns her.
		r = w.API("POST", "/api/v1/users/"+w.Ann.ID+"/owner", map[string]any{"kind": "local"}).Want(t, 200)
		if got := owner(r); got != [3]string{"local", "", ""} || r.Str("source") != "invited" || r.Str("directory_id") != "" {
			t.Fatalf("after the transfer to local: %v %s", got, r.Raw)
		}
		// And to an SSO connection, by name.
		conn, err := w.St.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem}, ssotest.Connection(w.Org.ID, "Okta OIDC", "acme.test"))
		if err != nil {
			t.Fatal(err)
		}
		r = w.API("POST", "/api/v1/users/"+w.Ann.ID+"/owner", map[string]any{"kind": "connection", "id": "Okta OIDC"}).Want(t, 200)
		if got := owner(r); got != [3]string{"connection", conn.ID, "Okta OIDC"} || r.Str("source") != "sso" || r.Str("connection_id") != conn.ID {
			t.Fatalf("after the transfer to the connection: %v %s", got, r.Raw)
		}
		// Deleting the connection leaves its users, local.
		if d, err := w.St.DeleteSSOConnection(ctx, core.Actor{Kind: core.ActorSystem}, w.Org.ID, conn.ID); err != nil || d.Users != 1 {
			t.Fatalf("delete connection: %+v %v", d, err)
		}
		if got := owner(w.API("GET", "/api/v1/users/"+w.Ann.ID, nil).Want(t, 200)); got != [3]string{"local", "", ""} {
			t.Fatalf("after deleting her connection: %v", got)
		}
	})
}

// TestSSOConnectionDirectoryLink: PATCH /api/v1/sso/connections/{c} with
// {"directory": name} links the connection to a directory of the org (answered as
// directory_id); a directory the org lacks is 422 and changes nothing; "" unlinks.
func TestSSOConnectionDirectoryLink(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewSSOEnv(t, b)
		md := ssotest.NewMetadataServer(t, ssotest.IdPMetadata(t, "okta", time.Now().Add(20*24*time.Hour)))
		dir := e.API("POST", "/api/v1/directories", map[string]any{"name": "okta"}).Want(t, 201).Str("directory", "id")
		id := e.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "Okta", "idp_metadata_url": md.URL,
			"directory": "okta"}).Want(t, 201).Str("id")
		if got := e.API("GET", "/api/v1/sso/connections/"+id, nil).Want(t, 200).Str("directory_id"); got != dir {
			t.Fatalf("created linked to %q, want %q", got, dir)
		}
		before := ssoState(t, e)
		e.API("PATCH", "/api/v1/sso/connections/"+id, map[string]any{"directory": "entra"}).Want(t, 422)
		if ssoState(t, e) != before {
			t.Error("a refused link changed something")
		}
		if r := e.API("PATCH", "/api/v1/sso/connections/"+id, map[string]any{"directory": ""}).Want(t, 200); r.Str("directory_id") != "" {
			t.Errorf("after unlinking: %s", r.Raw)
		}
		if r := e.API("PATCH", "/api/v1/sso/connections/"+id, map[string]any{"directory": dir}).Want(t, 200); r.Str("directory_id") != dir {
			t.Errorf("linked by id: %s", r.Raw)
		}
	})
}
