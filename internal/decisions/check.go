package decisions

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions/index"
)

// MaxBatch caps the questions of one batch (POST /api/v1/check/batch).
const MaxBatch = 1000

// Reason codes the engine adds to the core's, for questions about things it cannot
// find.
const (
	ReasonUnknownUser      = "unknown_user"
	ReasonUnknownWorkspace = "unknown_workspace"
	ReasonUnknownResource  = "unknown_resource"
)

// Question is one question an application asks: may User do Action (on Resource)
// in Workspace? References are as the caller wrote them.
type Question struct {
	User        string            `json:"user"`        // id, email or user name
	Workspace   string            `json:"workspace"`   // id or slug
	Environment string            `json:"environment"` // name or id, optional
	Action      core.Action       `json:"action"`
	Resource    *QuestionResource `json:"resource,omitempty"`
	// Space is where a resource would be created (create on a type), optional.
	Space string `json:"space,omitempty"`
}

// QuestionResource names the resource of a question.
type QuestionResource struct {
	Type core.ResourceType `json:"type"`
	ID   string            `json:"id"` // the application's own id; empty asks about the type
}

// Validate refuses malformed questions; questions about things that do not exist
// are answered (deny, with the reason), not refused.
func (q Question) Validate() error {
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
	for _, f := range []struct{ name, v string }{{"user", q.User}, {"workspace", q.Workspace},
		{"environment", q.Environment}, {"space", q.Space}, {"resource.id", q.resourceID()}} {
		if len(f.v) > core.MaxRef {
			return fmt.Errorf("%q is longer than %d bytes: it names nothing", f.name, core.MaxRef)
		}
	}
	return nil
}

func (q Question) resourceID() string {
	if q.Resource == nil {
		return ""
	}
	return q.Resource.ID
}

func denyBecause(reason, msg string) core.Decision {
	return core.Decision{Effect: core.Deny, Reason: reason, Message: msg, Chain: []core.Step{{Kind: "reason", Detail: msg}}}
}

// Check answers one question for p from the decision index, at the org's state
// as of the request's generation (read now when it has none). A person asking about
// someone else is refused (*Refused).
func (e *Engine) Check(ctx context.Context, p Principal, q Question) (core.Decision, error) {
	v, err := e.view(ctx, p)
	if err != nil {
		return core.Decision{}, err
	}
	return e.answer(ctx, p, v, q)
}

// CheckBatch answers up to MaxBatch questions, all from one view of the org. A
// refused question fails the batch with an error naming its index.
func (e *Engine) CheckBatch(ctx context.Context, p Principal, qs []Question) ([]core.Decision, error) {
	v, err := e.view(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]core.Decision, len(qs))
	for i, q := range qs {
		if out[i], err = e.answer(ctx, p, v, q); err != nil {
			var r *Refused
			if errors.As(err, &r) {
				r.Decision.Message = fmt.Sprintf("checks[%d]: %s", i, r.Decision.Message)
			}
			return nil, err
		}
	}
	return out, nil
}

func (e *Engine) askAbout(ctx context.Context, p Principal, userID string) error {
	d, err := e.Authorize(ctx, p, AskAbout(userID))
	if err != nil {
		return err
	}
	return d.Err()
}

// answer decides one question from the view: the references resolved in memory,
// the facts gathered by the index, the rules core.Decide's.
func (e *Engine) answer(ctx context.Context, p Principal, v *index.View, q Question) (core.Decision, error) {
	u, ok := v.User(q.User)
	if !ok {
		if err := e.askAbout(ctx, p, ""); err != nil {
			return core.Decision{}, err
		}
		return denyBecause(ReasonUnknownUser, fmt.Sprintf("no user %q in this organization", q.User)), nil
	}
	if err := e.askAbout(ctx, p, u.ID); err != nil {
		return core.Decision{}, err
	}
	ws, ok := v.Workspace(q.Workspace)
	if !ok {
		return unknownWorkspace(q), nil
	}
	var d core.Decision
	err := v.WithFacts(u.ID, ws.ID, func(f *core.Facts) { d = decideOn(p, v, ws, f, q) })
	return d, err
}

func unknownWorkspace(q Question) core.Decision {
	return denyBecause(ReasonUnknownWorkspace, fmt.Sprintf("no workspace %q in this organization", q.Workspace))
}

// decideOn answers q about f's user in ws, from f (theirs in ws) and the view.
func decideOn(p Principal, v *index.View, ws core.Workspace, f *core.Facts, q Question) core.Decision {
	if !sees(p, f) {
		// A person asks about themselves (f is theirs): a workspace they cannot see
		// gets the very answer a workspace that does not exist gets.
		return unknownWorkspace(q)
	}
	req := core.Request{Action: q.Action, Environment: q.Environment}
	if q.Resource != nil {
		req.ResourceType = q.Resource.Type
		if q.Resource.ID != "" {
			res, ok := v.Resource(ws.ID, q.Resource.Type, q.Resource.ID)
			switch {
			case ok:
				req.Resource = &res
			case q.Action != core.ActionCreate:
				return denyBecause(ReasonUnknownResource, fmt.Sprintf(
					"%s %q is not registered in workspace %s: register it (POST /api/v1/workspaces/%s/resources) before asking about %s",
					q.Resource.Type, q.Resource.ID, ws.Slug, ws.Slug, q.Action))
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
			return denyBecause(core.ReasonBadRequest, fmt.Sprintf("workspace %s has no space %q", ws.Slug, q.Space))
		}
	}
	return core.Decide(f, req)
}
