-- PostgreSQL only (SQLite has no fillfactor). A user's row holds its SCIM document,
-- near a kilobyte, and inserts fill a heap page to the brim: the first update of a
-- row there (a deactivation, a PATCH) found no room beside it, so it could not be a
-- heap-only update and wrote a new entry into every one of users' nine indexes.
-- A tenth of each page left free keeps that first update on the page, and index
-- entries untouched, for the pages written from now on.
ALTER TABLE users SET (fillfactor = 90);
