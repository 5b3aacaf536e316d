package decisions

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions/index"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Tokens authenticates API tokens and says which generation of the token's org it
// read (-1 when none), so the request's decisions need no second read.
type Tokens interface {
	Token(ctx context.Context, secret string) (store.Token, int64, error)
}

// Engine is the one authorizer: every API route, admin page, /me and the access
// checks ask it, and it answers from core.Decide over facts gathered by the
// decision index (package decisions/index). Build it with New or NewIndexed.
type Engine struct {
	Store  store.Store
	Tokens Tokens

	ix    *index.Index
	gens  *genReader
	noIdx error // why the store cannot be indexed; nil when it can
}

// New builds the engine over st with a decision index that keeps every org it is
// asked about (NewIndexed with no bound).
func New(st store.Store, gens store.Generations) *Engine {
	return NewIndexed(st, gens, index.Options{})
}

// NewIndexed builds the engine over st with a decision index tuned by opts (the
// process-wide memory bound among them). gens reads the orgs' change numbers; nil
// reads them from st. The store must be SQL (store.OrgSnapshots): every decision
// reads through the index, there is no other source.
func NewIndexed(st store.Store, gens store.Generations, opts index.Options) *Engine {
	e := &Engine{Store: st}
	if gens == nil {
		gens, _ = st.(store.Generations)
	}
	snaps, ok := st.(store.OrgSnapshots)
	switch {
	case !ok:
		e.noIdx = fmt.Errorf("decisions: store %T cannot be indexed", st)
	case gens == nil:
		e.noIdx = fmt.Errorf("decisions: no change numbers to read for store %T", st)
	default:
		e.ix = index.New(snaps, opts)
		e.gens = newGenReader(gens)
	}
	e.Tokens = newTokenCache(st, e.gens, e.ix)
	return e
}

// Index is the engine's decision index (nil when the store cannot be indexed): its
// Stats say what it holds and has done.
func (e *Engine) Index() *index.Index { return e.ix }

// Principal is an authenticated caller: a person with a session or an API token.
type Principal struct {
	OrgID   string
	UserID  string // the person; empty for an API token
	TokenID string // the API token; empty for a person
	Admin   bool   // an org admin; an API token acts as one of its org
	Actor   core.Actor
	// Gen is the org's generation read while authenticating, or -1: every decision
	// of the request uses the state at that generation or later.
	Gen int64
}

// mayAskAbout is the rule "ask only about yourself": a person may ask about and
// read their own access and records; org admins (and API tokens) anyone's.
func (p Principal) mayAskAbout(userID string) bool {
	return p.Admin || (p.UserID != "" && p.UserID == userID)
}

// Authentication refusals; edges answer them as unauthenticated (401).
var (
	ErrUnauthenticated = errors.New("authenticate with an API token (Authorization: Bearer …) or a session")
	ErrSCIMToken       = errors.New("this token opens SCIM only; use an API token")
	ErrDeactivated     = errors.New("your account is deactivated")
)

// TokenPrincipal authenticates an API token's secret.
func (e *Engine) TokenPrincipal(ctx context.Context, secret string) (Principal, error) {
	tok, gen, err := e.Tokens.Token(ctx, secret)
	if errors.Is(err, core.ErrNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate token: %w", err)
	}
	if tok.Kind != store.TokenAPI {
		return Principal{}, ErrSCIMToken
	}
	return Principal{OrgID: tok.OrgID, TokenID: tok.ID, Admin: true, Gen: gen,
		Actor: core.Actor{Kind: core.ActorAPI, ID: tok.ID, Name: tok.Name}}, nil
}

// SessionPrincipal is the principal of a person with a live session: they must
// exist and be active, and whether they are an org admin is read now, all from the
// index at the org's current change. Its Gen is -1: each later decision of the
// request reads the change number again, so a page that changes something and
// then decides sees its own change.
func (e *Engine) SessionPrincipal(ctx context.Context, orgID, userID string) (Principal, error) {
	v, err := e.view(ctx, Principal{OrgID: orgID, Gen: -1})
	if err != nil {
		return Principal{}, err
	}
	u, ok := v.UserByID(userID)
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	if !u.Active {
		return Principal{}, ErrDeactivated
	}
	return Principal{OrgID: orgID, UserID: userID, Admin: v.IsOrgAdmin(userID), Gen: -1,
		Actor: core.Actor{Kind: core.ActorAdmin, ID: userID, Name: u.Label()}}, nil
}

// view is the principal's org in the index, holding every change up to the
// request's generation (read now when the request has none): a change committed
// by any instance before that read is in it.
func (e *Engine) view(ctx context.Context, p Principal) (*index.View, error) {
	if e.ix == nil {
		return nil, e.noIdx
	}
	gen := p.Gen
	if gen < 0 {
		var err error
		if gen, err = e.gens.read(ctx, p.OrgID); err != nil {
			return nil, err
		}
	}
	return e.ix.At(ctx, p.OrgID, gen)
}

// freshView is the org as of a change number read now, for a request that met an
// object newer than its generation (created after its token was authenticated).
func (e *Engine) freshView(ctx context.Context, p Principal) (*index.View, error) {
	p.Gen = -1
	return e.view(ctx, p)
}

// Request is what a caller asks to do; build one with the functions below.
type Request struct {
	kind      requestKind
	userID    string
	workspace core.Workspace
	do        core.Request
}

type requestKind int

const (
	readOrg requestKind = iota
	manageOrg
	readUser
	askAbout
	viewWorkspace
	inWorkspace
)

// ReadOrg is reading what every member of the org may read (the org, the roles).
func ReadOrg() Request { return Request{kind: readOrg} }

// ManageOrg is anything only org admins do: users, groups, mappings, directories,
// tokens, SSO, the audit log, org admins, creating and deleting workspaces.
func ManageOrg() Request { return Request{kind: manageOrg} }

// ReadUser is reading a user's records (profile, groups, access). A person reads
// their own; others are refused as if they did not exist.
func ReadUser(userID string) Request { return Request{kind: readUser, userID: userID} }

// AskAbout is an access question about a user (POST /check). A person asks about
// themselves only.
func AskAbout(userID string) Request { return Request{kind: askAbout, userID: userID} }

// ViewWorkspace is seeing a workspace at all. A workspace the caller cannot see is
// refused as if it did not exist.
func ViewWorkspace(ws core.Workspace) Request { return Request{kind: viewWorkspace, workspace: ws} }

// InWorkspace is an action in a workspace: what core.Decide says, and everything
// for org admins.
func InWorkspace(ws core.Workspace, r core.Request) Request {
	return Request{kind: inWorkspace, workspace: ws, do: r}
}

// Reason codes of refusals that are not core.Decide's.
const (
	ReasonOrgAdminOnly = "org_admin_only"
	ReasonOwnOnly      = "own_access_only"
	ReasonNotVisible   = "not_visible"
)

// Decision is the authorizer's answer. Hide says the caller may not even learn that
// the object exists: an edge refuses it exactly as it answers for an object that
// does not exist (404), not with 403.
type Decision struct {
	core.Decision
	Hide bool
}

// Allowed reports whether the decision allows the request.
func (d Decision) Allowed() bool { return d.Effect == core.Allow }

// Err is nil for an allowed decision and a *Refused otherwise.
func (d Decision) Err() error {
	if d.Allowed() {
		return nil
	}
	return &Refused{Decision: d}
}

// Refused is the error of a request the authorizer refused.
type Refused struct{ Decision Decision }

func (r *Refused) Error() string { return r.Decision.Message }

func allow(msg string) Decision {
	return Decision{Decision: core.Decision{Effect: core.Allow, Reason: core.ReasonAllowed, Message: msg}}
}

func refuse(reason, msg string, hide bool) Decision {
	return Decision{Decision: core.Decision{Effect: core.Deny, Reason: reason, Message: msg}, Hide: hide}
}

// Authorize answers whether p may do req. It is the one place that states who may
// do what: org-admin rights, asking about oneself, the visibility of workspaces
// and, through core.Decide, every rule inside a workspace.
func (e *Engine) Authorize(ctx context.Context, p Principal, req Request) (Decision, error) {
	switch req.kind {
	case readOrg:
		return allow("members of an org read it"), nil
	case manageOrg:
		if p.Admin {
			return allow("org admins manage their org"), nil
		}
		return refuse(ReasonOrgAdminOnly, "only org admins may do this", false), nil
	case readUser, askAbout:
		if p.mayAskAbout(req.userID) {
			return allow("a person may read their own access"), nil
		}
		if req.kind == readUser {
			return refuse(ReasonOwnOnly, "not found", true), nil
		}
		return refuse(ReasonOwnOnly, "you may ask about your own access only", false), nil
	case viewWorkspace:
		ok, err := e.visible(ctx, p, req.workspace)
		if err != nil || !ok {
			return refuse(ReasonNotVisible, "not found", true), err
		}
		return allow("the workspace is visible"), nil
	case inWorkspace:
		if p.Admin {
			return allow("org admins manage every workspace of their org"), nil
		}
		f, err := e.facts(ctx, p, req.workspace)
		if err != nil || f == nil {
			return refuse(core.ReasonNoGrant, "no grant", false), err
		}
		return Decision{Decision: core.Decide(f, req.do)}, nil
	}
	return Decision{}, fmt.Errorf("decisions: unknown request kind %d", req.kind)
}

// facts are the principal's own facts in ws; nil for an API token (no person).
func (e *Engine) facts(ctx context.Context, p Principal, ws core.Workspace) (*core.Facts, error) {
	if p.UserID == "" {
		return nil, nil
	}
	return e.factsOf(ctx, p, p.UserID, ws.ID)
}

// factsOf are a user's facts in a workspace (both by id) from the index. A user or
// workspace the request's view does not hold yet (read from the store after the
// request's generation) is looked for again at the org's current change.
func (e *Engine) factsOf(ctx context.Context, p Principal, userID, wsID string) (*core.Facts, error) {
	v, err := e.view(ctx, p)
	if err != nil {
		return nil, err
	}
	f, err := v.Facts(userID, wsID)
	if errors.Is(err, core.ErrNotFound) && p.Gen >= 0 {
		if v, err = e.freshView(ctx, p); err != nil {
			return nil, err
		}
		f, err = v.Facts(userID, wsID)
	}
	return f, err
}

// visible says whether p may see ws, by sees.
func (e *Engine) visible(ctx context.Context, p Principal, ws core.Workspace) (bool, error) {
	if p.Admin {
		return true, nil // no facts to read
	}
	f, err := e.facts(ctx, p, ws)
	if err != nil {
		return false, err
	}
	return sees(p, f), nil
}

// sees is the one visibility rule of workspaces: an org admin sees every workspace
// of their org; a person sees those where they hold a role (holdsRole), f being
// their own facts there. Whatever a person cannot see behaves as if it did not
// exist.
func sees(p Principal, f *core.Facts) bool {
	return p.Admin || (f != nil && holdsRole(f))
}

// holdsRole reports whether f's user holds a role in f's workspace: whether
// core.Decide lets them view it, as a whole or in one of its environments (a grant
// narrowed to development shows the workspace too).
func holdsRole(f *core.Facts) bool {
	if core.Decide(f, core.Request{Action: core.ActionView}).Effect == core.Allow {
		return true
	}
	for _, env := range f.Workspace.Environments {
		if core.Decide(f, core.Request{Action: core.ActionView, Environment: env.ID}).Effect == core.Allow {
			return true
		}
	}
	return false
}

// VisibleWorkspaces keeps the workspaces p may see, in order.
func (e *Engine) VisibleWorkspaces(ctx context.Context, p Principal, wss []core.Workspace) ([]core.Workspace, error) {
	out := make([]core.Workspace, 0, len(wss))
	for _, ws := range wss {
		ok, err := e.visible(ctx, p, ws)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ws)
		}
	}
	return out, nil
}

// ResolveUser finds a user of the org by reference, the way every edge names
// users: by id, then by email (when ref has an @), then by userName.
func ResolveUser(ctx context.Context, st store.Users, orgID, ref string) (core.User, error) {
	u, err := st.GetUser(ctx, orgID, ref)
	if !errors.Is(err, core.ErrNotFound) {
		return u, err
	}
	if strings.Contains(ref, "@") {
		u, err = st.GetUserByEmail(ctx, orgID, ref)
		if !errors.Is(err, core.ErrNotFound) {
			return u, err
		}
	}
	return st.GetUserByUserName(ctx, orgID, ref)
}

// User resolves a user reference (ResolveUser) for p to read: one p may not read
// (another person's) is core.ErrNotFound, as if it did not exist.
func (e *Engine) User(ctx context.Context, p Principal, ref string) (core.User, error) {
	u, err := ResolveUser(ctx, e.Store, p.OrgID, ref)
	if err != nil {
		return u, err
	}
	if d, err := e.Authorize(ctx, p, ReadUser(u.ID)); err != nil || !d.Allowed() {
		if err == nil {
			err = fmt.Errorf("user %q: %w", ref, core.ErrNotFound)
		}
		return core.User{}, err
	}
	return u, nil
}

// Workspace resolves a workspace reference (id or slug) for p: one p cannot see is
// core.ErrNotFound, as if it did not exist.
func (e *Engine) Workspace(ctx context.Context, p Principal, ref string) (core.Workspace, error) {
	ws, err := e.Store.GetWorkspace(ctx, p.OrgID, ref)
	if err != nil {
		return ws, err
	}
	if d, err := e.Authorize(ctx, p, ViewWorkspace(ws)); err != nil || !d.Allowed() {
		if err == nil {
			err = fmt.Errorf("workspace %q: %w", ref, core.ErrNotFound)
		}
		return core.Workspace{}, err
	}
	return ws, nil
}
