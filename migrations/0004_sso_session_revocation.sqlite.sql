-- Deactivating a user ends their sessions for good, whatever path deactivates them
-- (SCIM, the admin API, the CLI): the database does it in the same transaction.
-- The session lookup also requires an active user, so nothing depends on timing.
CREATE TRIGGER sso_sessions_end_on_deactivate
AFTER UPDATE OF active ON users
FOR EACH ROW WHEN NEW.active = 0 AND OLD.active <> 0
BEGIN
    DELETE FROM sso_sessions WHERE user_id = NEW.id;
END;
