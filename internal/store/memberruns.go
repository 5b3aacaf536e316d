package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// memberReq describes a SCIM change of a group's members alone (SCIMUpdateGroup
// without attributes, If-Match or a replace): what changeMembersRun needs to run it
// together with the changes of the same group beside it in a batch. out is where
// the group as the change left it goes.
type memberReq struct {
	actor                       core.Actor
	orgID, directoryID, groupID string
	mc                          MemberChange
	out                         *SCIMGroup
}

// memberRunIDs bounds the ids of a change that runs with others: one-member PATCHes,
// what an IdP sends as people join and leave a large group, run together; a bulk
// change runs alone, at one statement per chunk of members anyway.
const memberRunIDs = 16

// memberRun returns the changes at the head of todo that run together: member
// changes of one group, each small, none given up or of a run that failed. A run of
// fewer than two is nothing to gain.
func memberRun(todo []*writeReq) []*writeReq {
	first := todo[0].members
	if first == nil {
		return nil
	}
	n := 0
	for ; n < len(todo); n++ {
		r, m := todo[n], todo[n].members
		if m == nil || r.stmt != nil || r.noMerge || r.ctx.Err() != nil || len(m.mc.Add)+len(m.mc.Remove) > memberRunIDs ||
			m.orgID != first.orgID || m.directoryID != first.directoryID || m.groupID != first.groupID {
			break
		}
	}
	return todo[:n]
}

// errRunFailed fails a run that cannot be played as its changes would each succeed
// one after the other: they then run one by one, each to its own outcome.
var errRunFailed = errors.New("store: member changes run one by one")

// changeMembersRun runs member changes of one group (memberRun) as they would run
// one after the other (scimChangeMembers), in four statements whatever their
// number, and their audit events. The group's members among the ids named, and
// which of the ids added are the directory's users, are read once; each change is
// played on that, in order, to learn what it adds and removes; the difference
// between the first state and the last is written; the group's version moves by
// one per change, each change taking its own number (its ETag) and audit event.
// Any change that would fail alone (an id that is no user of the directory, a
// group not found, a token revoked) fails the run (errRunFailed or its error), which
// the batch then undoes and runs change by change.
func (t *tx) changeMembersRun(run []*writeReq) error {
	ctx := context.Background()
	first := run[0].members
	orgID, dirID, groupID := first.orgID, first.directoryID, first.groupID
	var named, added []string
	for _, r := range run {
		named = append(append(named, r.members.mc.Remove...), r.members.mc.Add...)
		added = append(added, r.members.mc.Add...)
	}
	named, added = dedupe(named), dedupe(added)

	var rows []struct {
		ID     string `db:"id"`
		Member int    `db:"member"`
	}
	if len(named) > 0 {
		inNamed, namedArg, err := t.s.inIDs("user_id", named)
		if err != nil {
			return err
		}
		query, args := `SELECT user_id AS id, 1 AS member FROM idp_group_members WHERE org_id = ? AND idp_group_id = ? AND `+inNamed, []any{orgID, groupID, namedArg}
		if len(added) > 0 {
			inAdded, addedArg, err := t.s.inIDs("id", added)
			if err != nil {
				return err
			}
			query, args = query+` UNION ALL SELECT id, 0 FROM users WHERE org_id = ? AND directory_id = ? AND `+inAdded, append(args, orgID, dirID, addedArg)
		}
		if err := t.sel(ctx, &rows, query, args...); err != nil {
			return err
		}
	}
	member, user := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		if r.Member == 1 {
			member[r.ID] = true
		} else {
			user[r.ID] = true
		}
	}
	before := maps.Clone(member)
	played := make([]struct{ added, removed []string }, len(run))
	for i, r := range run {
		for _, id := range dedupe(r.members.mc.Remove) {
			if member[id] {
				member[id] = false
				played[i].removed = append(played[i].removed, id)
			}
		}
		for _, id := range dedupe(r.members.mc.Add) {
			if !user[id] {
				return errRunFailed // alone, this change is refused: no user of the directory
			}
			if !member[id] {
				member[id] = true
				played[i].added = append(played[i].added, id)
			}
		}
	}
	var gone, come []string
	for id, now := range member {
		if before[id] && !now {
			gone = append(gone, id)
		} else if !before[id] && now {
			come = append(come, id)
		}
	}
	slices.Sort(gone)
	slices.Sort(come)
	now := t.s.now()
	if len(gone) > 0 {
		in, arg, err := t.s.inIDs("user_id", gone)
		if err != nil {
			return err
		}
		if err := t.execAll(ctx, len(gone), `DELETE FROM idp_group_members WHERE org_id = ? AND idp_group_id = ? AND `+in, orgID, groupID, arg); err != nil {
			return err
		}
	}
	if len(come) > 0 {
		in, arg, err := t.s.inIDs("u.id", come)
		if err != nil {
			return err
		}
		if err := t.execAll(ctx, len(come), `INSERT INTO idp_group_members (org_id, idp_group_id, user_id, created_at, `+memberOfUserCols+`)
			SELECT u.org_id, ?, u.id, ?, `+memberOfUser+` FROM users u WHERE u.org_id = ? AND u.directory_id = ? AND `+in+`
			ON CONFLICT (idp_group_id, user_id) DO NOTHING`, groupID, now, orgID, dirID, arg); err != nil {
			return err
		}
		t.s.analyze.grewMembers(len(come))
	}
	var g idpGroupRow
	if err := t.get(ctx, &g, `UPDATE idp_groups SET updated_at = ?, version = version + ?
		WHERE org_id = ? AND id = ? AND directory_id = ? RETURNING `+idpGroupCols, now, len(run), orgID, groupID, dirID); err != nil {
		return fmt.Errorf("%w: %w", errRunFailed, err) // not found, most likely
	}
	last := g.idpGroup()
	outs := make([]SCIMGroup, len(run))
	for i, r := range run {
		outs[i] = last
		outs[i].Version = last.Version - int64(len(run)-i-1)
		if err := t.auditMembersChange(r.ctx, r.members.actor, outs[i], r.members.mc, played[i].added, played[i].removed); err != nil {
			return err
		}
	}
	for i, r := range run {
		*r.members.out = outs[i]
	}
	return nil
}

// execAll runs a statement that must change exactly n rows; any other count fails
// the run.
func (t *tx) execAll(ctx context.Context, n int, query string, args ...any) error {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	got, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if got != int64(n) {
		return fmt.Errorf("%w: %d of %d rows changed", errRunFailed, got, n)
	}
	return nil
}
