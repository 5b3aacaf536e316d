-- A SCIM GET of a group lists its members with their display names, in pages of
-- thousands. Each member row now carries what that page shows of its user: the
-- display (displayName, or the userName when it is blank) and the user's directory
-- (a user transferred away is no member as the directory sees it). A page is then
-- one range of this table's primary key, where it was a join that read each
-- member's user. The trigger below keeps both columns with the user on every path
-- that renames or transfers them; the inserts of members (store: addIdPMembers,
-- changeMembersRun, pgChangeMembers) set them from the user.
ALTER TABLE idp_group_members ADD COLUMN member_directory_id TEXT, ADD COLUMN member_display TEXT;

UPDATE idp_group_members m
SET member_directory_id = u.directory_id,
    member_display = CASE WHEN u.display_name = '' THEN u.user_name ELSE u.display_name END
FROM users u WHERE u.org_id = m.org_id AND u.id = m.user_id;

ALTER TABLE idp_group_members ALTER COLUMN member_display SET NOT NULL;

CREATE FUNCTION idp_group_members_follow_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE idp_group_members
    SET member_directory_id = NEW.directory_id,
        member_display = CASE WHEN NEW.display_name = '' THEN NEW.user_name ELSE NEW.display_name END
    WHERE org_id = NEW.org_id AND user_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER idp_group_members_follow_user
AFTER UPDATE OF user_name, display_name, directory_id ON users
FOR EACH ROW WHEN (OLD.user_name IS DISTINCT FROM NEW.user_name OR OLD.display_name IS DISTINCT FROM NEW.display_name
    OR OLD.directory_id IS DISTINCT FROM NEW.directory_id)
EXECUTE FUNCTION idp_group_members_follow_user();
