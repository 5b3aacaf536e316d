package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// maxBatch caps POST /api/v1/check/batch.
const maxBatch = 1000

// Reason codes the API adds to the core's, for questions about things it cannot find.
const (
	reasonUnknownUser      = "unknown_user"
	reasonUnknownWorkspace = "unknown_workspace"
	reasonUnknownResource  = "unknown_resource"
)

// checkRequest is one question an application asks.
type checkRequest struct {
	User        string         `json:"user"`        // id, email or user name
	Workspace   string         `json:"workspace"`   // id or slug
	Environment string         `json:"environment"` // name or id, optional
	Action      core.Action    `json:"action"`
	Resource    *checkResource `json:"resource,omitempty"`
	// Space is where a resource would be created (create on a type), optional.
	Space string `json:"space,omitempty"`
}

type checkResource struct {
	Type core.ResourceType `json:"type"`
	ID   string            `json:"id"` // the application's own id; empty asks about the type
}

// validate refuses malformed questions; questions about things that do not exist
// are answered (deny, with the reason), not refused.
func (q checkRequest) validate() error {
	switch {
	case q.User == "":
		return errors.New(`"user" is required`)
	case q.Workspace == "":
		return errors.New(`"workspace" is required`)
	case !q.Action.Valid():
		return fmt.Errorf(`"action" must be one of %v`, core.Actions)
	case q.Resource != nil && !q.Resource.Type.Valid():
		return fmt.Errorf(`"resource.type" must be one of %v`, core.ResourceTypes)
	}
	return nil
}

func denyBecause(reason, msg string) core.Decision {
	return core.Decision{Effect: core.Deny, Reason: reason, Message: msg, Chain: []core.Step{{Kind: "reason", Detail: msg}}}
}

// answer decides one question from the org's cache at one generation.
func (h *Handler) answer(ctx context.Context, c *caller, oc *orgCache, q checkRequest) (core.Decision, error) {
	u, err := oc.user(ctx, h.Store, c.OrgID, q.User)
	if errors.Is(err, core.ErrNotFound) {
		if !c.Admin {
			return core.Decision{}, forbidden("you may ask about your own access only")
		}
		return denyBecause(reasonUnknownUser, fmt.Sprintf("no user %q in this organization", q.User)), nil
	}
	if err != nil {
		return core.Decision{}, err
	}
	if !c.Admin && u.ID != c.UserID {
		return core.Decision{}, forbidden("you may ask about your own access only")
	}
	ws, err := oc.workspace(ctx, h.Store, c.OrgID, q.Workspace)
	if errors.Is(err, core.ErrNotFound) {
		return denyBecause(reasonUnknownWorkspace, fmt.Sprintf("no workspace %q in this organization", q.Workspace)), nil
	}
	if err != nil {
		return core.Decision{}, err
	}
	f, err := oc.getFacts(ctx, h.Store, c.OrgID, u.ID, ws.ID)
	if err != nil {
		return core.Decision{}, err
	}
	req := core.Request{Action: q.Action, Environment: q.Environment}
	if q.Resource != nil {
		req.ResourceType = q.Resource.Type
		if q.Resource.ID != "" {
			res, err := oc.resource(ctx, h.Store, c.OrgID, ws.ID, q.Resource.Type, q.Resource.ID)
			switch {
			case err == nil:
				req.Resource = &res
			case !errors.Is(err, core.ErrNotFound):
				return core.Decision{}, err
			case q.Action != core.ActionCreate:
				return denyBecause(reasonUnknownResource, fmt.Sprintf(
					"%s %q is not registered in workspace %s: register it (POST /api/v1/workspaces/%s/resources) before asking about %s",
					q.Resource.Type, q.Resource.ID, ws.Slug, ws.Slug, q.Action)), nil
			}
			// create of a not-yet-registered resource: the question is about its type.
		}
	}
	if q.Space != "" {
		for id, sp := range f.Spaces {
			if id == q.Space || strings.EqualFold(sp.Name, q.Space) {
				req.SpaceID = id
			}
		}
		if req.SpaceID == "" {
			return denyBecause(core.ReasonBadRequest, fmt.Sprintf("workspace %s has no space %q", ws.Slug, q.Space)), nil
		}
	}
	return core.Decide(f, req), nil
}

func (h *Handler) check(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var q checkRequest
	if err := decode(r, &q); err != nil {
		return err
	}
	if err := q.validate(); err != nil {
		return fail(http.StatusBadRequest, err.Error(), nil)
	}
	oc, err := h.cache.snapshot(r.Context(), c.OrgID, c.gen)
	if err != nil {
		return err
	}
	k := keyOf(q)
	a := oc.answer(k)
	if a == nil {
		d, err := h.answer(r.Context(), c, oc, q)
		if err != nil {
			return err
		}
		a = &answer{d: d}
		if u, err := oc.user(r.Context(), h.Store, c.OrgID, q.User); err == nil {
			a.userID = u.ID // cached by answer: no read
		}
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(d); err != nil {
			return err
		}
		a.body = buf.Bytes()
		oc.putAnswer(k, a)
	} else if !c.Admin && (a.userID == "" || a.userID != c.UserID) {
		// answer's own-access rule, for a question first asked by someone else.
		return forbidden("you may ask about your own access only")
	}
	h.Metrics.Decision(string(a.d.Effect), a.d.Reason)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(a.body)
	return err
}

// checkBatch answers up to maxBatch questions, all at one generation of the org.
func (h *Handler) checkBatch(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Checks []checkRequest `json:"checks"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if len(in.Checks) == 0 {
		return failf(http.StatusBadRequest, `"checks" needs at least one question`)
	}
	if len(in.Checks) > maxBatch {
		return failf(http.StatusBadRequest, "a batch holds at most %d questions, not %d", maxBatch, len(in.Checks))
	}
	for i, q := range in.Checks {
		if err := q.validate(); err != nil {
			return failf(http.StatusBadRequest, "checks[%d]: %v", i, err)
		}
	}
	oc, err := h.cache.snapshot(r.Context(), c.OrgID, c.gen)
	if err != nil {
		return err
	}
	h.prefetch(r.Context(), c, oc, in.Checks)
	out := struct {
		Results []core.Decision `json:"results"`
	}{make([]core.Decision, len(in.Checks))}
	for i, q := range in.Checks {
		if out.Results[i], err = h.answer(r.Context(), c, oc, q); err != nil {
			var he *httpError
			if errors.As(err, &he) {
				he.detail = fmt.Sprintf("checks[%d]: %s", i, he.detail)
			}
			return err
		}
	}
	for _, d := range out.Results {
		h.Metrics.Decision(string(d.Effect), d.Reason)
	}
	return writeJSON(w, http.StatusOK, out)
}

// prefetch fills the org's cache with what a batch will read, so that answering
// it is in-memory work: with a store that reads in sets (store.Batches), a few
// set-based queries for all questions; otherwise the facts of each pair, gathered
// by a few workers in parallel. Errors are left for answer to meet and report.
func (h *Handler) prefetch(ctx context.Context, c *caller, oc *orgCache, qs []checkRequest) {
	if b, ok := h.Store.(store.Batches); ok {
		h.prefetchSets(ctx, c, oc, b, qs)
		return
	}
	type pair struct{ user, ws string }
	seen := map[pair]bool{}
	work := make(chan pair)
	var wg sync.WaitGroup
	for range prefetchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				u, err := oc.user(ctx, h.Store, c.OrgID, p.user)
				if err != nil || (!c.Admin && u.ID != c.UserID) {
					continue
				}
				ws, err := oc.workspace(ctx, h.Store, c.OrgID, p.ws)
				if err != nil {
					continue
				}
				_, _ = oc.getFacts(ctx, h.Store, c.OrgID, u.ID, ws.ID)
			}
		}()
	}
	for _, q := range qs {
		if p := (pair{q.User, q.Workspace}); !seen[p] {
			seen[p] = true
			work <- p
		}
	}
	close(work)
	wg.Wait()
}

// prefetchWorkers gathers facts in parallel when the store has no set reads.
const prefetchWorkers = 4

func (h *Handler) prefetchSets(ctx context.Context, c *caller, oc *orgCache, b store.Batches, qs []checkRequest) {
	var refs []string
	for _, q := range qs {
		if !oc.hasUser(q.User) {
			refs = append(refs, q.User)
		}
	}
	if len(refs) > 0 {
		users, err := b.UsersByRef(ctx, c.OrgID, refs)
		if err != nil {
			return
		}
		for _, ref := range refs {
			if u, ok := users[ref]; ok {
				oc.putUser(ref, u, nil)
			} else {
				oc.putUser(ref, core.User{}, fmt.Errorf("user %q: %w", ref, core.ErrNotFound))
			}
		}
	}
	var wsRefs []string
	for _, q := range qs {
		if !oc.hasWorkspace(q.Workspace) {
			wsRefs = append(wsRefs, q.Workspace)
		}
	}
	if len(wsRefs) > 0 {
		wss, err := b.WorkspacesByRef(ctx, c.OrgID, wsRefs)
		if err != nil {
			return
		}
		for _, ref := range wsRefs {
			if ws, ok := wss[ref]; ok {
				oc.putWorkspace(ref, ws, nil)
			} else {
				oc.putWorkspace(ref, core.Workspace{}, fmt.Errorf("workspace %q: %w", ref, core.ErrNotFound))
			}
		}
	}
	var keys []store.FactsKey
	var resKeys []store.ResourceKey
	seen := map[store.FactsKey]bool{}
	for _, q := range qs {
		u, err := oc.user(ctx, h.Store, c.OrgID, q.User)
		if err != nil {
			continue
		}
		ws, err := oc.workspace(ctx, h.Store, c.OrgID, q.Workspace)
		if err != nil {
			continue
		}
		if k := (store.FactsKey{UserID: u.ID, WorkspaceID: ws.ID}); !seen[k] && !oc.hasFacts(u.ID, ws.ID) {
			seen[k] = true
			keys = append(keys, k)
		}
		if q.Resource != nil && q.Resource.ID != "" && !oc.hasResource(ws.ID, q.Resource.Type, q.Resource.ID) {
			resKeys = append(resKeys, store.ResourceKey{WorkspaceID: ws.ID, Type: q.Resource.Type, ExternalID: q.Resource.ID})
		}
	}
	if len(keys) > 0 {
		facts, err := b.FactsMany(ctx, c.OrgID, keys)
		if err != nil {
			return
		}
		for k, f := range facts {
			oc.putFacts(k.UserID, k.WorkspaceID, f)
		}
	}
	if len(resKeys) > 0 {
		res, err := b.ResourcesByExternalID(ctx, c.OrgID, resKeys)
		if err != nil {
			return
		}
		for _, k := range resKeys {
			if r, ok := res[k]; ok {
				oc.putResource(k.WorkspaceID, k.Type, k.ExternalID, r, nil)
			} else {
				oc.putResource(k.WorkspaceID, k.Type, k.ExternalID, core.Resource{}, fmt.Errorf("resource %s %q: %w", k.Type, k.ExternalID, core.ErrNotFound))
			}
		}
	}
}

// ---- effective access ----

type accessMatrix struct {
	User       core.User         `json:"user"`
	Workspaces []workspaceAccess `json:"workspaces"`
	Next       string            `json:"next,omitempty"`
}

type workspaceAccess struct {
	Workspace    wsRef       `json:"workspace"`
	Environments []envAccess `json:"environments"`
}

type wsRef struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

type envAccess struct {
	Environment string      `json:"environment"`
	Roles       []roleGrant `json:"roles"`
}

// roleGrant is one role a user holds, with where it came from.
type roleGrant struct {
	Role    string    `json:"role"`
	Custom  bool      `json:"custom,omitempty"`
	GrantID string    `json:"grant_id"`
	Group   groupRef  `json:"group"`
	Via     []viaView `json:"via"`
}

type groupRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type viaView struct {
	Kind      string `json:"kind"` // direct, idp_group
	IdPGroup  string `json:"idp_group,omitempty"`
	Source    string `json:"source,omitempty"`
	MappingID string `json:"mapping_id,omitempty"`
}

func viaViews(vs []core.Via) []viaView {
	out := []viaView{}
	for _, v := range vs {
		if v.IdPGroup == nil {
			out = append(out, viaView{Kind: "direct"})
			continue
		}
		vv := viaView{Kind: "idp_group", IdPGroup: v.IdPGroup.DisplayName, Source: v.Source}
		if v.Mapping != nil {
			vv.MappingID = v.Mapping.ID
		}
		out = append(out, vv)
	}
	return out
}

// matrixOf is a user's roles per environment of one workspace, from its facts.
func matrixOf(f *core.Facts) workspaceAccess {
	wa := workspaceAccess{Workspace: wsRef{f.Workspace.ID, f.Workspace.Slug, f.Workspace.Name}, Environments: []envAccess{}}
	byGroup := map[string]core.Membership{}
	for _, m := range f.Memberships {
		byGroup[m.Group.ID] = m
	}
	for _, env := range f.Workspace.Environments {
		ea := envAccess{Environment: env.Name, Roles: []roleGrant{}}
		if f.User.Active {
			for _, g := range f.Grants {
				m, ok := byGroup[g.UserGroupID]
				if !ok || (len(g.EnvironmentIDs) > 0 && !slices.Contains(g.EnvironmentIDs, env.ID)) {
					continue
				}
				rg := roleGrant{Role: g.Role, GrantID: g.ID, Group: groupRef{m.Group.ID, m.Group.Name}, Via: viaViews(m.Via)}
				if g.CustomRoleID != "" {
					cr, ok := f.CustomRoles[g.CustomRoleID]
					if !ok {
						continue
					}
					rg.Role, rg.Custom = cr.Name, true
				}
				ea.Roles = append(ea.Roles, rg)
			}
		}
		wa.Environments = append(wa.Environments, ea)
	}
	return wa
}

// userAccess is the effective access matrix: every workspace (a page of them) and
// environment, with the roles held there and the path to each.
func (h *Handler) userAccess(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := h.selfOrAdmin(ctx, c, r.PathValue("user"))
	if err != nil {
		return err
	}
	m, err := h.accessMatrix(ctx, c, u, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (h *Handler) accessMatrix(ctx context.Context, c *caller, u core.User, p store.Page) (accessMatrix, error) {
	orgID := c.OrgID
	out := accessMatrix{User: u, Workspaces: []workspaceAccess{}}
	wss, err := h.Store.ListWorkspaces(ctx, orgID, p)
	if err != nil {
		return out, err
	}
	if len(wss) == p.Limit {
		out.Next = wss[len(wss)-1].ID
	}
	oc, err := h.cache.snapshot(ctx, orgID, c.gen)
	if err != nil {
		return out, err
	}
	for _, ws := range wss {
		f, err := oc.getFacts(ctx, h.Store, orgID, u.ID, ws.ID)
		if err != nil {
			return out, err
		}
		out.Workspaces = append(out.Workspaces, matrixOf(f))
	}
	return out, nil
}
