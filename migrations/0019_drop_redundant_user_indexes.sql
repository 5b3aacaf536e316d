-- Two indexes on users that others cover. Every user insert and delete wrote both
-- (two more B-tree pages to change, and to write to the log at commit, per user),
-- and no query needed them:
-- - users_email_idx (org_id, lower(email)) is a prefix of users_email_id_idx
--   (org_id, lower(email), id), which answers every email lookup (0007);
-- - users_directory_idx (directory_id): every query of a directory's users also
--   names the org, which users_owner_directory_idx (org_id, directory_id, id)
--   answers (0016), as it does the users_directory_fkey check when a directory
--   goes.
DROP INDEX users_email_idx;
DROP INDEX users_directory_idx;
