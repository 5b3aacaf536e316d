package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// ProposalKind says what a proposal changes.
type ProposalKind string

// Proposal kinds.
const (
	// ProposalChange: a change to a resource (or a new one of a type) in a
	// workspace and environment, which the host application applies.
	ProposalChange ProposalKind = "change"
	// ProposalPromote: a resource promoted from one environment to the next on the
	// workspace's path, which the host application applies.
	ProposalPromote ProposalKind = "promote"
	// ProposalAccess: an access change held for a second org admin, which
	// Gatehouse applies itself when it is approved.
	ProposalAccess ProposalKind = "access"
)

// ProposalState is where a proposal is in its life: open → approved | rejected |
// withdrawn, and approved → applied | failed.
type ProposalState string

// Proposal states.
const (
	ProposalOpen      ProposalState = "open"
	ProposalApproved  ProposalState = "approved"
	ProposalRejected  ProposalState = "rejected"
	ProposalWithdrawn ProposalState = "withdrawn"
	ProposalApplied   ProposalState = "applied"
	ProposalFailed    ProposalState = "failed"
)

// ProposalStates lists every state.
var ProposalStates = []ProposalState{ProposalOpen, ProposalApproved, ProposalRejected, ProposalWithdrawn, ProposalApplied, ProposalFailed}

// Valid reports whether s is a state.
func (s ProposalState) Valid() bool {
	for _, x := range ProposalStates {
		if s == x {
			return true
		}
	}
	return false
}

// MaxPayload caps a proposal's payload: the host application's description of the
// change, which Gatehouse keeps but never reads.
const MaxPayload = 256 << 10

// ProposalResource is the resource a proposal is about, by the application's own
// id; ID is empty for a create, which names the type alone. GatehouseID and
// Version are the registered resource as it was when the proposal was opened.
type ProposalResource struct {
	Type        core.ResourceType `json:"type"`
	ID          string            `json:"id,omitempty"`
	GatehouseID string            `json:"gatehouse_id,omitempty"`
	Version     int64             `json:"version,omitempty"`
}

// Proposal is a change held for review. Author is who proposed it: a person (by
// their user id), or for an access change made with an API token, the token.
type Proposal struct {
	ID    string       `json:"id"`
	OrgID string       `json:"org_id"`
	Kind  ProposalKind `json:"kind"`
	// WorkspaceID is the workspace of a change or a promotion (and of an access
	// change to a grant); EnvironmentID a change's environment (empty: the
	// workspace as a whole) or the environment a promotion starts from, and
	// TargetEnvironmentID where it goes.
	WorkspaceID         string            `json:"workspace_id,omitempty"`
	EnvironmentID       string            `json:"environment_id,omitempty"`
	TargetEnvironmentID string            `json:"target_environment_id,omitempty"`
	Action              string            `json:"action"`
	Resource            *ProposalResource `json:"resource,omitempty"`
	SpaceID             string            `json:"space_id,omitempty"`
	Title               string            `json:"title"`
	Description         string            `json:"description"`
	// Payload is the host application's own JSON, opaque to Gatehouse.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Change is an access proposal's change; Diff what applying it did.
	Change            json.RawMessage `json:"change,omitempty"`
	Diff              json.RawMessage `json:"diff,omitempty"`
	Author            core.Actor      `json:"author"`
	State             ProposalState   `json:"state"`
	ApprovalsRequired int             `json:"approvals_required"`
	Approvals         int             `json:"approvals"`
	// Reference and Message are what the application reported with applied or
	// failed (Gatehouse's own message for an access change it could not apply).
	Reference string `json:"reference,omitempty"`
	Message   string `json:"message,omitempty"`
	// Stale says that the resource's registration changed or was deleted since
	// the proposal was opened; only open and approved proposals are stale.
	Stale       bool      `json:"stale"`
	StaleReason string    `json:"stale_reason,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
}

// Verdict is a review's answer.
type Verdict string

// Verdicts.
const (
	Approve Verdict = "approve"
	Reject  Verdict = "reject"
)

// Review is one reviewer's verdict on a proposal; each reviewer reviews a
// proposal once. Reviewer is the person who reviewed (an API token reviews on
// behalf of a person it names).
type Review struct {
	ProposalID string     `json:"proposal_id"`
	Reviewer   core.Actor `json:"reviewer"`
	Verdict    Verdict    `json:"verdict"`
	Comment    string     `json:"comment,omitempty"`
	At         time.Time  `json:"at"`
}

// MaxComment caps a review's comment (characters).
const MaxComment = 4000

// ProposalQuery filters a proposal list, newest first (Page.After: the last id of
// the previous page). Empty fields do not filter. Environment matches a change's
// environment and either end of a promotion. Workspaces, when not nil, keeps the
// proposals of those workspaces only (what a person may see), and then never an
// access proposal without a workspace.
type ProposalQuery struct {
	Page
	Kind          ProposalKind
	WorkspaceID   string
	EnvironmentID string
	State         ProposalState
	AuthorID      string
	ResourceType  core.ResourceType
	ResourceID    string
	Workspaces    []string
}

// ProposalEnd is how a proposal ends after review: withdrawn (from open), applied
// or failed (from approved).
type ProposalEnd struct {
	State     ProposalState
	Reference string
	Message   string
	// Diff is what an access change did, when Gatehouse applied it.
	Diff json.RawMessage
}

// Proposals holds proposals and their reviews. Every transition is one
// transaction with its audit event (proposal.create, proposal.review,
// proposal.approve, proposal.reject, proposal.withdraw, proposal.apply,
// proposal.fail), and a conditional UPDATE on the proposal's state, so two
// reviewers at once never produce two outcomes: the second finds the proposal no
// longer open (core.ErrConflict) and changes nothing.
type Proposals interface {
	// CreateProposal opens a proposal (its ID, state, times and version are set
	// here). It checks the shape of each kind; who may propose is the caller's rule.
	CreateProposal(ctx context.Context, actor core.Actor, p Proposal) (Proposal, error)
	GetProposal(ctx context.Context, orgID, id string) (Proposal, error)
	ListProposals(ctx context.Context, orgID string, q ProposalQuery) ([]Proposal, error)
	// ProposalReviews lists a proposal's reviews in the order they were given.
	ProposalReviews(ctx context.Context, orgID, id string) ([]Review, error)
	// ProposalHistory is the proposal's audit events, in order.
	ProposalHistory(ctx context.Context, orgID, id string) ([]core.AuditEvent, error)
	// ReviewProposal records r on an open proposal: a rejection rejects it; an
	// approval counts, and the one that reaches ApprovalsRequired approves it. A
	// proposal that is not open, or a second review by the same reviewer, is
	// core.ErrConflict and changes nothing. Who may review is the caller's rule.
	ReviewProposal(ctx context.Context, actor core.Actor, orgID, id string, r Review) (Proposal, error)
	// EndProposal moves a proposal to end.State: withdrawn from open, applied or
	// failed from approved; from any other state it is core.ErrConflict.
	EndProposal(ctx context.Context, actor core.Actor, orgID, id string, end ProposalEnd) (Proposal, error)
}

var _ Proposals = (*SQL)(nil)

type proposalRow struct {
	ID                  string  `db:"id"`
	OrgID               string  `db:"org_id"`
	Kind                string  `db:"kind"`
	WorkspaceID         *string `db:"workspace_id"`
	EnvironmentID       *string `db:"environment_id"`
	TargetEnvironmentID *string `db:"target_environment_id"`
	Action              string  `db:"action"`
	ResourceType        *string `db:"resource_type"`
	ResourceID          *string `db:"resource_id"`
	ResourceGID         *string `db:"resource_gid"`
	ResourceVersion     *int64  `db:"resource_version"`
	SpaceID             *string `db:"space_id"`
	Title               string  `db:"title"`
	Description         string  `db:"description"`
	Payload             *string `db:"payload"`
	Change              *string `db:"change"`
	Diff                *string `db:"diff"`
	AuthorKind          string  `db:"author_kind"`
	AuthorID            string  `db:"author_id"`
	AuthorName          string  `db:"author_name"`
	State               string  `db:"state"`
	ApprovalsRequired   int     `db:"approvals_required"`
	Approvals           int     `db:"approvals"`
	Reference           string  `db:"reference"`
	Message             string  `db:"message"`
	CreatedAt           int64   `db:"created_at"`
	UpdatedAt           int64   `db:"updated_at"`
	Version             int64   `db:"version"`
	// The resource as it is now (LEFT JOIN): nil when deleted.
	CurGID     *string `db:"cur_gid"`
	CurVersion *int64  `db:"cur_version"`
}

const proposalCols = `p.id, p.org_id, p.kind, p.workspace_id, p.environment_id, p.target_environment_id, p.action,
	p.resource_type, p.resource_id, p.resource_gid, p.resource_version, p.space_id, p.title, p.description, p.payload,
	p.change, p.diff, p.author_kind, p.author_id, p.author_name, p.state, p.approvals_required, p.approvals,
	p.reference, p.message, p.created_at, p.updated_at, p.version, r.id AS cur_gid, r.version AS cur_version`

const proposalFrom = ` FROM proposals p LEFT JOIN resources r ON r.id = p.resource_gid`

func rawOrNil(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
}

func (r proposalRow) proposal() Proposal {
	p := Proposal{ID: r.ID, OrgID: r.OrgID, Kind: ProposalKind(r.Kind), WorkspaceID: str(r.WorkspaceID),
		EnvironmentID: str(r.EnvironmentID), TargetEnvironmentID: str(r.TargetEnvironmentID), Action: r.Action,
		SpaceID: str(r.SpaceID), Title: r.Title, Description: r.Description,
		Payload: rawOrNil(r.Payload), Change: rawOrNil(r.Change), Diff: rawOrNil(r.Diff),
		Author: core.Actor{Kind: core.ActorKind(r.AuthorKind), ID: r.AuthorID, Name: r.AuthorName},
		State:  ProposalState(r.State), ApprovalsRequired: r.ApprovalsRequired, Approvals: r.Approvals,
		Reference: r.Reference, Message: r.Message,
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version}
	if r.ResourceType != nil {
		p.Resource = &ProposalResource{Type: core.ResourceType(*r.ResourceType), ID: str(r.ResourceID), GatehouseID: str(r.ResourceGID)}
		if r.ResourceVersion != nil {
			p.Resource.Version = *r.ResourceVersion
		}
	}
	// Staleness matters until the change is applied or given up.
	if r.ResourceGID != nil && (p.State == ProposalOpen || p.State == ProposalApproved) {
		switch {
		case r.CurGID == nil:
			p.Stale, p.StaleReason = true, fmt.Sprintf("%s %s was deleted after the proposal was opened", str(r.ResourceType), str(r.ResourceID))
		case r.ResourceVersion != nil && r.CurVersion != nil && *r.CurVersion != *r.ResourceVersion:
			p.Stale, p.StaleReason = true, fmt.Sprintf("%s %s changed after the proposal was opened (version %d, now %d)",
				str(r.ResourceType), str(r.ResourceID), *r.ResourceVersion, *r.CurVersion)
		}
	}
	return p
}

// CreateProposal implements Proposals.
func (s *SQL) CreateProposal(ctx context.Context, actor core.Actor, p Proposal) (Proposal, error) {
	if err := validProposal(&p); err != nil {
		return Proposal{}, err
	}
	now := s.now()
	p.ID, p.State, p.Approvals, p.Version = s.NewID(), ProposalOpen, 0, 1
	p.CreatedAt, p.UpdatedAt = fromMicros(now), fromMicros(now)
	p.Stale, p.StaleReason, p.Reference, p.Message, p.Diff = false, "", "", "", nil
	var rtype, rid, rgid *string
	var rversion *int64
	if res := p.Resource; res != nil {
		rtype, rid, rgid = nullStr(string(res.Type)), nullStr(res.ID), nullStr(res.GatehouseID)
		if res.GatehouseID != "" {
			rversion = &res.Version
		}
	}
	err := s.inTx(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO proposals (id, org_id, kind, workspace_id, environment_id, target_environment_id, action,
				resource_type, resource_id, resource_gid, resource_version, space_id, title, description, payload, change,
				author_kind, author_id, author_name, state, approvals_required, approvals, created_at, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 1)`,
			p.ID, p.OrgID, string(p.Kind), nullStr(p.WorkspaceID), nullStr(p.EnvironmentID), nullStr(p.TargetEnvironmentID), p.Action,
			rtype, rid, rgid, rversion, nullStr(p.SpaceID), p.Title, p.Description, nullStr(string(p.Payload)), nullStr(string(p.Change)),
			string(p.Author.Kind), p.Author.ID, p.Author.Name, string(p.State), p.ApprovalsRequired, now, now); err != nil {
			return s.wrapf(err, "proposal")
		}
		return t.audit(ctx, p.OrgID, actor, "proposal.create", "proposal", p.ID, proposalDetails(p, map[string]any{
			"payload_bytes": len(p.Payload), "description": p.Description}))
	})
	if err != nil {
		return Proposal{}, err
	}
	return p, nil
}

// validProposal checks what every proposal must be; each kind's rules beyond its
// shape (who may propose, the promotion path) are the operation's.
func validProposal(p *Proposal) error {
	p.Title = strings.TrimSpace(p.Title)
	switch {
	case p.OrgID == "":
		return core.Invalidf("a proposal belongs to an organization")
	case p.Title == "":
		return core.Invalidf(`a proposal needs a "title"`)
	case utf8.RuneCountInString(p.Title) > 200:
		return core.Invalidf("the title is longer than 200 characters")
	case utf8.RuneCountInString(p.Description) > 20000:
		return core.Invalidf("the description is longer than 20,000 characters")
	case len(p.Payload) > MaxPayload:
		return core.Invalidf("the payload is %d bytes; at most %d (256 KiB) are kept", len(p.Payload), MaxPayload)
	case p.Author.ID == "" || p.Author.Kind == "":
		return core.Invalidf("a proposal needs its author")
	case p.ApprovalsRequired < 1 || p.ApprovalsRequired > core.MaxApprovals:
		return core.Invalidf("a proposal needs from 1 to %d approvals", core.MaxApprovals)
	case !utf8.ValidString(p.Title) || !utf8.ValidString(p.Description) || strings.ContainsRune(p.Title+p.Description, 0):
		return core.Invalidf("the title and description must be text")
	}
	if len(p.Payload) > 0 && !json.Valid(p.Payload) {
		return core.Invalidf("the payload must be JSON")
	}
	if p.Resource != nil && !p.Resource.Type.Valid() {
		return core.Invalidf("unknown resource type %q", p.Resource.Type)
	}
	switch p.Kind {
	case ProposalChange:
		if p.WorkspaceID == "" || p.Resource == nil || p.TargetEnvironmentID != "" || len(p.Change) > 0 {
			return core.Invalidf("a change names its workspace, its resource (or, for a create, the type) and at most one environment")
		}
	case ProposalPromote:
		if p.WorkspaceID == "" || p.EnvironmentID == "" || p.TargetEnvironmentID == "" || p.Resource == nil || p.Resource.ID == "" || len(p.Change) > 0 {
			return core.Invalidf("a promotion names its workspace, its resource, and the environments from and to")
		}
		if p.EnvironmentID == p.TargetEnvironmentID {
			return core.Invalidf("a promotion goes from one environment to another")
		}
	case ProposalAccess:
		if len(p.Change) == 0 || !json.Valid(p.Change) || p.Resource != nil || p.EnvironmentID != "" || p.TargetEnvironmentID != "" {
			return core.Invalidf("an access proposal carries its change and no resource")
		}
	default:
		return core.Invalidf("unknown proposal kind %q (want change, promote or access)", p.Kind)
	}
	return nil
}

// proposalDetails are the audit details every proposal event carries (never the
// payload: the event stream stays small), with extra added.
func proposalDetails(p Proposal, extra map[string]any) map[string]any {
	d := map[string]any{"kind": string(p.Kind), "title": p.Title, "action": p.Action, "state": string(p.State),
		"author_id": p.Author.ID, "author_name": p.Author.Name, "approvals": p.Approvals, "approvals_required": p.ApprovalsRequired}
	for k, v := range map[string]string{"workspace_id": p.WorkspaceID, "environment_id": p.EnvironmentID,
		"target_environment_id": p.TargetEnvironmentID, "space_id": p.SpaceID} {
		if v != "" {
			d[k] = v
		}
	}
	if res := p.Resource; res != nil {
		d["resource_type"] = string(res.Type)
		if res.ID != "" {
			d["resource_id"] = res.ID
		}
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func (t *tx) getProposal(ctx context.Context, orgID, id string) (Proposal, error) {
	var r proposalRow
	if err := t.get(ctx, &r, `SELECT `+proposalCols+proposalFrom+` WHERE p.org_id = ? AND p.id = ?`, orgID, id); err != nil {
		return Proposal{}, orNotFound(err, "proposal", id)
	}
	return r.proposal(), nil
}

// GetProposal implements Proposals.
func (s *SQL) GetProposal(ctx context.Context, orgID, id string) (Proposal, error) {
	var p Proposal
	err := s.read(ctx, func(t *tx) error {
		var err error
		p, err = t.getProposal(ctx, orgID, id)
		return err
	})
	return p, err
}

// ListProposals implements Proposals: newest first, by id.
func (s *SQL) ListProposals(ctx context.Context, orgID string, q ProposalQuery) ([]Proposal, error) {
	query := `SELECT ` + proposalCols + proposalFrom + ` WHERE p.org_id = ?`
	args := []any{orgID}
	add := func(cond string, v any) {
		query += ` AND ` + cond
		args = append(args, v)
	}
	if q.After != "" {
		add(`p.id < ?`, q.After)
	}
	if q.Kind != "" {
		add(`p.kind = ?`, string(q.Kind))
	}
	if q.WorkspaceID != "" {
		add(`p.workspace_id = ?`, q.WorkspaceID)
	}
	if q.EnvironmentID != "" {
		query += ` AND (p.environment_id = ? OR p.target_environment_id = ?)`
		args = append(args, q.EnvironmentID, q.EnvironmentID)
	}
	if q.State != "" {
		add(`p.state = ?`, string(q.State))
	}
	if q.AuthorID != "" {
		add(`p.author_id = ?`, q.AuthorID)
	}
	if q.ResourceType != "" {
		add(`p.resource_type = ?`, string(q.ResourceType))
	}
	if q.ResourceID != "" {
		add(`p.resource_id = ?`, q.ResourceID)
	}
	if q.Workspaces != nil {
		if len(q.Workspaces) == 0 {
			return []Proposal{}, nil
		}
		query += ` AND p.workspace_id IN (?)`
		args = append(args, q.Workspaces)
	}
	query += ` ORDER BY p.id DESC LIMIT ?`
	args = append(args, q.limit())
	var rows []proposalRow
	if err := s.read(ctx, func(t *tx) error { return t.selIn(ctx, &rows, query, args...) }); err != nil {
		return nil, err
	}
	out := make([]Proposal, len(rows))
	for i, r := range rows {
		out[i] = r.proposal()
	}
	return out, nil
}

type reviewRow struct {
	ProposalID   string `db:"proposal_id"`
	ReviewerID   string `db:"reviewer_id"`
	ReviewerKind string `db:"reviewer_kind"`
	ReviewerName string `db:"reviewer_name"`
	Verdict      string `db:"verdict"`
	Comment      string `db:"comment"`
	At           int64  `db:"at"`
}

// ProposalReviews implements Proposals.
func (s *SQL) ProposalReviews(ctx context.Context, orgID, id string) ([]Review, error) {
	var rows []reviewRow
	err := s.read(ctx, func(t *tx) error {
		if _, err := t.getProposal(ctx, orgID, id); err != nil {
			return err
		}
		return t.sel(ctx, &rows, `SELECT proposal_id, reviewer_id, reviewer_kind, reviewer_name, verdict, comment, at
			FROM proposal_reviews WHERE org_id = ? AND proposal_id = ? ORDER BY at, reviewer_id`, orgID, id)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Review, len(rows))
	for i, r := range rows {
		out[i] = Review{ProposalID: r.ProposalID, Reviewer: core.Actor{Kind: core.ActorKind(r.ReviewerKind), ID: r.ReviewerID, Name: r.ReviewerName},
			Verdict: Verdict(r.Verdict), Comment: r.Comment, At: fromMicros(r.At)}
	}
	return out, nil
}

// ProposalHistory implements Proposals with audit_events_proposal_idx.
func (s *SQL) ProposalHistory(ctx context.Context, orgID, id string) ([]core.AuditEvent, error) {
	var rows []auditRow
	err := s.read(ctx, func(t *tx) error {
		if _, err := t.getProposal(ctx, orgID, id); err != nil {
			return err
		}
		return t.sel(ctx, &rows, `SELECT `+auditCols+` FROM audit_events
			WHERE org_id = ? AND target_kind = 'proposal' AND target_id = ? ORDER BY seq`, orgID, id)
	})
	if err != nil {
		return nil, err
	}
	return auditEvents(rows)
}

// ReviewProposal implements Proposals. The review's row comes first (its key
// refuses a second review by the same reviewer); then one UPDATE moves the
// proposal only if it is still open, computing the outcome from the row it locks,
// so concurrent approvals each count once and exactly one reaches the threshold.
func (s *SQL) ReviewProposal(ctx context.Context, actor core.Actor, orgID, id string, r Review) (Proposal, error) {
	if r.Verdict != Approve && r.Verdict != Reject {
		return Proposal{}, core.Invalidf("a review approves or rejects, not %q", r.Verdict)
	}
	if r.Reviewer.ID == "" {
		return Proposal{}, core.Invalidf("a review names its reviewer")
	}
	if utf8.RuneCountInString(r.Comment) > MaxComment || !utf8.ValidString(r.Comment) || strings.ContainsRune(r.Comment, 0) {
		return Proposal{}, core.Invalidf("a comment is text of at most %d characters", MaxComment)
	}
	var out Proposal
	err := s.inTx(ctx, func(t *tx) error {
		cur, err := t.getProposal(ctx, orgID, id)
		if err != nil {
			return err
		}
		if cur.State != ProposalOpen {
			return notOpen(cur)
		}
		now := t.s.now()
		if _, err := t.exec(ctx, `INSERT INTO proposal_reviews (org_id, proposal_id, reviewer_id, reviewer_kind, reviewer_name, verdict, comment, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, orgID, id, r.Reviewer.ID, string(r.Reviewer.Kind), r.Reviewer.Name, string(r.Verdict), r.Comment, now); err != nil {
			if errors.Is(t.s.translate(err), core.ErrConflict) {
				return fmt.Errorf("%s has already reviewed this proposal: %w", r.Reviewer.Name, core.ErrConflict)
			}
			return err
		}
		var res sql.Result
		if r.Verdict == Reject {
			res, err = t.exec(ctx, `UPDATE proposals SET state = 'rejected', updated_at = ?, version = version + 1
				WHERE org_id = ? AND id = ? AND state = 'open'`, now, orgID, id)
		} else {
			res, err = t.exec(ctx, `UPDATE proposals SET approvals = approvals + 1, updated_at = ?, version = version + 1,
				state = CASE WHEN approvals + 1 >= approvals_required THEN 'approved' ELSE 'open' END
				WHERE org_id = ? AND id = ? AND state = 'open'`, now, orgID, id)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// Another review closed it between the read and the update: this one
			// counts for nothing and its review row goes with the transaction.
			if p, err := t.getProposal(ctx, orgID, id); err == nil {
				return notOpen(p)
			}
			return fmt.Errorf("proposal %s is no longer open: %w", id, core.ErrConflict)
		}
		if out, err = t.getProposal(ctx, orgID, id); err != nil {
			return err
		}
		action := "proposal.review"
		switch out.State {
		case ProposalRejected:
			action = "proposal.reject"
		case ProposalApproved:
			action = "proposal.approve"
		}
		return t.audit(ctx, orgID, actor, action, "proposal", id, proposalDetails(out, map[string]any{
			"verdict": string(r.Verdict), "comment": r.Comment, "reviewer_id": r.Reviewer.ID, "reviewer_name": r.Reviewer.Name,
			"stale": out.Stale}))
	})
	return out, err
}

// notOpen is the conflict of a transition from a state that does not allow it.
func notOpen(p Proposal) error {
	return fmt.Errorf("proposal %q is %s, not open: %w", p.Title, p.State, core.ErrConflict)
}

// EndProposal implements Proposals with one conditional UPDATE.
func (s *SQL) EndProposal(ctx context.Context, actor core.Actor, orgID, id string, end ProposalEnd) (Proposal, error) {
	var from ProposalState
	var action string
	switch end.State {
	case ProposalWithdrawn:
		from, action = ProposalOpen, "proposal.withdraw"
	case ProposalApplied:
		from, action = ProposalApproved, "proposal.apply"
	case ProposalFailed:
		from, action = ProposalApproved, "proposal.fail"
	default:
		return Proposal{}, core.Invalidf("a proposal ends withdrawn, applied or failed, not %q", end.State)
	}
	if utf8.RuneCountInString(end.Reference) > 500 || utf8.RuneCountInString(end.Message) > MaxComment ||
		!utf8.ValidString(end.Reference+end.Message) || strings.ContainsRune(end.Reference+end.Message, 0) {
		return Proposal{}, core.Invalidf("a reference is text of at most 500 characters, a message of at most %d", MaxComment)
	}
	if len(end.Diff) > 0 && !json.Valid(end.Diff) {
		return Proposal{}, core.Invalidf("a diff must be JSON")
	}
	var out Proposal
	err := s.inTx(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `UPDATE proposals SET state = ?, reference = ?, message = ?, diff = COALESCE(?, diff),
				updated_at = ?, version = version + 1
			WHERE org_id = ? AND id = ? AND state = ?`,
			string(end.State), end.Reference, end.Message, nullStr(string(end.Diff)), t.s.now(), orgID, id, string(from))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			p, err := t.getProposal(ctx, orgID, id)
			if err != nil {
				return err
			}
			return fmt.Errorf("proposal %q is %s, not %s: %w", p.Title, p.State, from, core.ErrConflict)
		}
		if out, err = t.getProposal(ctx, orgID, id); err != nil {
			return err
		}
		extra := map[string]any{}
		if end.Reference != "" {
			extra["reference"] = end.Reference
		}
		if end.Message != "" {
			extra["message"] = end.Message
		}
		return t.audit(ctx, orgID, actor, action, "proposal", id, proposalDetails(out, extra))
	})
	return out, err
}
