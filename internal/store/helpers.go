package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/jmoiron/sqlx"
)

// slugRE is the shape of org and workspace slugs: they appear in URLs and CLI flags.
var slugRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$|^[a-z0-9]$`)

// validSlug checks a slug: lowercase letters, digits and dashes, 1 to 63 characters,
// not starting or ending with a dash.
func validSlug(kind, slug string) error {
	if !slugRE.MatchString(slug) {
		return core.Invalidf("%s slug %q is not valid: use 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit", kind, slug)
	}
	return nil
}

// validName checks a human name: not blank, at most max characters.
func validName(kind, name string, max int) error {
	if strings.TrimSpace(name) == "" {
		return core.Invalidf("%s must not be empty", kind)
	}
	if utf8.RuneCountInString(name) > max {
		return core.Invalidf("%s is longer than %d characters", kind, max)
	}
	return nil
}

// limit returns the page size to use: Limit, or MaxLimit when it is unset or too big.
func (p Page) limit() int {
	if p.Limit <= 0 || p.Limit > MaxLimit {
		return MaxLimit
	}
	return p.Limit
}

// notFound names what was not found, wrapping core.ErrNotFound.
func notFound(kind, id string) error {
	return fmt.Errorf("%s %q: %w", kind, id, core.ErrNotFound)
}

// orNotFound turns sql.ErrNoRows into a named not-found error.
func orNotFound(err error, kind, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(kind, id)
	}
	return err
}

// wrapf adds context to a translated error: "user name \"x\": already exists".
func (s *SQL) wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, s.translate(err))...)
}

// forUpdate locks the rows a read-modify-write reads. SQLite has one writer, so
// nothing to lock; PostgreSQL takes a row lock that still lets foreign keys reference
// the row (inserting a member key-share-locks its group and user).
func (t *tx) forUpdate() string {
	if t.s.dialect == Postgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// selIn runs a query with one IN (?) list, expanded by sqlx.In. An empty list selects nothing.
func (t *tx) selIn(ctx context.Context, dest any, query string, args ...any) error {
	q, a, err := sqlx.In(query, args...)
	if err != nil {
		return err
	}
	return t.sel(ctx, dest, q, a...)
}

// execIn runs a statement with IN (?) lists expanded by sqlx.In.
func (t *tx) execIn(ctx context.Context, query string, args ...any) (int64, error) {
	q, a, err := sqlx.In(query, args...)
	if err != nil {
		return 0, err
	}
	res, err := t.exec(ctx, q, a...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// nullStr stores an empty string as NULL (optional references and external ids).
func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// dedupe returns ids without blanks and repeats, in first-seen order.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// chunks splits ids so that no statement exceeds the drivers' parameter limits.
func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// likeEscape escapes LIKE wildcards so a search string matches literally (ESCAPE '\').
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func isNotFound(err error) bool { return errors.Is(err, core.ErrNotFound) }
