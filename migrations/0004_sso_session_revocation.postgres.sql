-- Deactivating a user ends their sessions for good, whatever path deactivates them
-- (SCIM, the admin API, the CLI): the database does it in the same transaction.
-- The session lookup also requires an active user, so nothing depends on timing.
CREATE FUNCTION sso_end_sessions_of_deactivated_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sso_sessions WHERE user_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER sso_sessions_end_on_deactivate
AFTER UPDATE OF active ON users
FOR EACH ROW WHEN (NEW.active = FALSE AND OLD.active = TRUE)
EXECUTE FUNCTION sso_end_sessions_of_deactivated_user();
