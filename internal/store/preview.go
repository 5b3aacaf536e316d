package store

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// Previews are the bounded reads an access change's preview makes to learn whom
// and where a change can touch, without loading every member of a big group.
type Previews interface {
	// MemberSample counts the users who are members of any of groupIDs, directly
	// or through mapped IdP groups, and returns up to n of their ids: a sample
	// ordered by the random tail of the ids (a UUIDv7's last 12 hex digits are
	// random), so that a preview scaled up from it is a fair estimate.
	MemberSample(ctx context.Context, orgID string, groupIDs []string, n int) ([]string, int, error)
	// GroupWorkspaces lists the workspaces where any of groupIDs holds a grant or
	// sees a space: where a change to who is in those groups can change decisions.
	GroupWorkspaces(ctx context.Context, orgID string, groupIDs []string) ([]string, error)
	// CountResources counts a workspace's registered resources.
	CountResources(ctx context.Context, orgID, workspaceID string) (int, error)
}

var _ Previews = (*SQL)(nil)

// maxPreviewGroups bounds the groups of one preview read (an IN list).
const maxPreviewGroups = 5000

// membersOf is the set of users in any of the groups of an IN list: direct
// members and members of the IdP groups mapped onto them (GroupMembers' rule).
const membersOf = `SELECT m.user_id FROM user_group_members m WHERE m.org_id = ? AND m.group_id IN (?)
	UNION
	SELECT igm.user_id FROM group_mappings gm
	JOIN ` + mappedIdPGroups + `
	JOIN idp_group_members igm ON igm.idp_group_id = ig.id
	WHERE gm.org_id = ? AND gm.user_group_id IN (?)`

// MemberSample implements Previews.
func (s *SQL) MemberSample(ctx context.Context, orgID string, groupIDs []string, n int) ([]string, int, error) {
	groupIDs = dedupe(groupIDs)
	if len(groupIDs) == 0 {
		return nil, 0, nil
	}
	if len(groupIDs) > maxPreviewGroups {
		return nil, 0, core.Invalidf("a preview reads at most %d user groups, not %d", maxPreviewGroups, len(groupIDs))
	}
	var (
		ids   []string
		total int
	)
	err := s.read(ctx, func(t *tx) error {
		var counts []int
		if err := t.selIn(ctx, &counts, `SELECT COUNT(*) FROM (`+membersOf+`) x`, orgID, groupIDs, orgID, groupIDs); err != nil {
			return err
		}
		total = counts[0]
		return t.selIn(ctx, &ids, `SELECT user_id FROM (`+membersOf+`) x ORDER BY substr(user_id, 25), user_id LIMIT ?`,
			orgID, groupIDs, orgID, groupIDs, max(n, 0))
	})
	return ids, total, err
}

// GroupWorkspaces implements Previews.
func (s *SQL) GroupWorkspaces(ctx context.Context, orgID string, groupIDs []string) ([]string, error) {
	groupIDs = dedupe(groupIDs)
	if len(groupIDs) == 0 {
		return nil, nil
	}
	if len(groupIDs) > maxPreviewGroups {
		return nil, core.Invalidf("a preview reads at most %d user groups, not %d", maxPreviewGroups, len(groupIDs))
	}
	var out []string
	err := s.read(ctx, func(t *tx) error {
		return t.selIn(ctx, &out, `SELECT workspace_id FROM grants WHERE org_id = ? AND user_group_id IN (?)
			UNION
			SELECT workspace_id FROM space_groups WHERE org_id = ? AND user_group_id IN (?)
			ORDER BY 1`, orgID, groupIDs, orgID, groupIDs)
	})
	return out, err
}

// CountResources implements Previews.
func (s *SQL) CountResources(ctx context.Context, orgID, workspaceID string) (int, error) {
	var n int
	err := s.read(ctx, func(t *tx) error {
		return t.get(ctx, &n, `SELECT COUNT(*) FROM resources r JOIN workspaces w ON w.id = r.workspace_id
			WHERE w.org_id = ? AND r.workspace_id = ?`, orgID, workspaceID)
	})
	return n, err
}
