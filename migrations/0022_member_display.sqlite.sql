-- A SCIM GET of a group lists its members with their display names, in pages of
-- thousands. Each member row now carries what that page shows of its user: the
-- display (displayName, or the userName when it is blank) and the user's directory
-- (a user transferred away is no member as the directory sees it). A page is then
-- one range of this table, where it was a join that read each member's user (two
-- thirds of a 10,000-member page's time). The trigger below keeps both columns
-- with the user on every path that renames or transfers them; the inserts of
-- members (store: addIdPMembers, changeMembersRun, pgChangeMembers) set them from
-- the user.
--
-- SQLite: rebuilt WITHOUT ROWID on its primary key, so a range of a group's members
-- is read from the table itself, with no second lookup per row.
CREATE TABLE idp_group_members_new (
    org_id              TEXT   NOT NULL,
    idp_group_id        TEXT   NOT NULL,
    user_id             TEXT   NOT NULL,
    created_at          BIGINT NOT NULL,
    member_directory_id TEXT,
    member_display      TEXT   NOT NULL,
    CONSTRAINT idp_group_members_pkey PRIMARY KEY (idp_group_id, user_id),
    CONSTRAINT idp_group_members_group_fkey FOREIGN KEY (org_id, idp_group_id) REFERENCES idp_groups (org_id, id) ON DELETE CASCADE,
    CONSTRAINT idp_group_members_user_fkey FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
) WITHOUT ROWID;

INSERT INTO idp_group_members_new (org_id, idp_group_id, user_id, created_at, member_directory_id, member_display)
SELECT m.org_id, m.idp_group_id, m.user_id, m.created_at, u.directory_id,
       CASE WHEN u.display_name = '' THEN u.user_name ELSE u.display_name END
FROM idp_group_members m JOIN users u ON u.org_id = m.org_id AND u.id = m.user_id;

DROP TABLE idp_group_members;
ALTER TABLE idp_group_members_new RENAME TO idp_group_members;
CREATE INDEX idp_group_members_user_idx ON idp_group_members (user_id);

CREATE TRIGGER idp_group_members_follow_user
AFTER UPDATE OF user_name, display_name, directory_id ON users
FOR EACH ROW WHEN OLD.user_name IS NOT NEW.user_name OR OLD.display_name IS NOT NEW.display_name
    OR OLD.directory_id IS NOT NEW.directory_id
BEGIN
    UPDATE idp_group_members
    SET member_directory_id = NEW.directory_id,
        member_display = CASE WHEN NEW.display_name = '' THEN NEW.user_name ELSE NEW.display_name END
    WHERE user_id = NEW.id;
END;
