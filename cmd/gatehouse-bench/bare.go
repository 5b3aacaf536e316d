package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // postgres://
	_ "modernc.org/sqlite"             // sqlite:
)

// bare is the reference the SCIM workload is measured against: plain net/http over
// the same database engine, doing only the one statement each request needs, with
// no authentication, audit, log, metrics, limits or propagation to user groups. It
// understands exactly what scimBench.workload sends and nothing more; it is the
// ceiling, not a SCIM server.
type bare struct {
	w, r *sql.DB // one writer (SQLite has one anyway) and a reader pool; the same pool on PostgreSQL
	pg   bool
	// stmts are the handler's statements, prepared once on their pool, as Gatehouse
	// caches its own: parsing SQL on every request is not the limit being measured.
	stmts map[string]*sql.Stmt
}

// The reference's fixed statements, and the pool each runs on (true: the writer).
const (
	qLookup       = `SELECT doc, 1 FROM bare_users WHERE lower(user_name) = lower(?)`
	qCount        = `SELECT count(*) FROM bare_users`
	qPage         = `SELECT doc, (SELECT count(*) FROM bare_users) FROM bare_users ORDER BY id LIMIT ? OFFSET ?`
	qInsertUser   = `INSERT INTO bare_users (id, user_name, active, doc) VALUES (?, ?, ?, ?)`
	qDeactivate   = `UPDATE bare_users SET active = ? WHERE id = ? RETURNING doc`
	qInsertGroup  = `INSERT INTO bare_groups (id, display_name, version) VALUES (?, ?, 1)`
	qGroup        = `SELECT display_name, version FROM bare_groups WHERE id = ?`
	qGroupMembers = `SELECT g.display_name, m.user_id FROM bare_groups g LEFT JOIN bare_members m ON m.group_id = g.id WHERE g.id = ?`
	qRemoveMember = `DELETE FROM bare_members WHERE group_id = ? AND user_id = ?`
)

var bareStatements = map[string]bool{
	qLookup: false, qCount: false, qPage: false, qGroup: false, qGroupMembers: false,
	qInsertUser: true, qDeactivate: true, qInsertGroup: true, qRemoveMember: true,
	`DELETE FROM bare_users WHERE id = ?`: true, `DELETE FROM bare_groups WHERE id = ?`: true,
}

// st is a prepared statement of bareStatements.
func (b *bare) st(query string) *sql.Stmt {
	st, ok := b.stmts[query]
	if !ok {
		panic("bare: statement not prepared: " + query)
	}
	return st
}

// bareSchema keeps the lookups Gatehouse indexes (userName case-insensitively,
// members by group) indexed here too, so the comparison is about the work per
// request, not about a missing index.
const bareSchema = `
CREATE TABLE IF NOT EXISTS bare_users (id TEXT PRIMARY KEY, user_name TEXT NOT NULL, active BOOLEAN NOT NULL, doc TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS bare_users_name ON bare_users (lower(user_name));
CREATE TABLE IF NOT EXISTS bare_groups (id TEXT PRIMARY KEY, display_name TEXT NOT NULL, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bare_members (group_id TEXT NOT NULL REFERENCES bare_groups (id) ON DELETE CASCADE, user_id TEXT NOT NULL REFERENCES bare_users (id) ON DELETE CASCADE, PRIMARY KEY (group_id, user_id));
CREATE INDEX IF NOT EXISTS bare_members_user ON bare_members (user_id);
`

// startBare opens dsn (sqlite:PATH or postgres://…), creates the reference's
// tables (dropping a previous run's) and serves on a loopback port. h is the
// same handler, for seeding in-process (-seed).
func startBare(ctx context.Context, dsn string) (base string, h http.Handler, stop func(), err error) {
	b := &bare{}
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		// The pragmas Gatehouse's store uses (internal/store openSQLite), so both
		// sides give the same durability: WAL with synchronous=NORMAL (a commit
		// survives the process being killed; on power loss the last commits before
		// a checkpoint may be lost, alike on both sides), foreign keys on.
		pr := "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		if b.w, err = sql.Open("sqlite", "file:"+path+pr); err != nil {
			return "", nil, nil, err
		}
		b.w.SetMaxOpenConns(1)
		if b.r, err = sql.Open("sqlite", "file:"+path+pr+"&_pragma=query_only(1)"); err != nil {
			return "", nil, nil, err
		}
		// As Gatehouse's reader pool: 8 connections, all kept open (database/sql
		// keeps only 2 idle by default, and reopening a SQLite connection per
		// request would measure connection setup, not the statement).
		b.r.SetMaxOpenConns(8)
		b.r.SetMaxIdleConns(8)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		b.pg = true
		if b.w, err = sql.Open("pgx", dsn); err != nil {
			return "", nil, nil, err
		}
		b.w.SetMaxOpenConns(32)
		b.w.SetMaxIdleConns(32)
		b.r = b.w
	default:
		return "", nil, nil, fmt.Errorf("-reference: want sqlite:PATH or postgres://…, got %q", dsn)
	}
	for _, s := range []string{"DROP TABLE IF EXISTS bare_members", "DROP TABLE IF EXISTS bare_groups", "DROP TABLE IF EXISTS bare_users"} {
		if _, err := b.w.ExecContext(ctx, s); err != nil {
			return "", nil, nil, fmt.Errorf("reference schema: %w", err)
		}
	}
	for _, s := range strings.Split(strings.TrimSpace(bareSchema), ";\n") {
		if _, err := b.w.ExecContext(ctx, s); err != nil {
			return "", nil, nil, fmt.Errorf("reference schema: %w", err)
		}
	}
	b.stmts = map[string]*sql.Stmt{}
	for q, write := range bareStatements {
		db := b.r
		if write {
			db = b.w
		}
		if b.stmts[q], err = db.PrepareContext(ctx, b.q(q)); err != nil {
			return "", nil, nil, fmt.Errorf("reference statement: %w", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	h = b.routes()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), h, func() {
		_ = srv.Close()
		_ = b.w.Close()
		if b.r != b.w {
			_ = b.r.Close()
		}
	}, nil
}

// q rewrites ? placeholders for PostgreSQL.
func (b *bare) q(s string) string {
	if !b.pg {
		return s
	}
	var sb strings.Builder
	n := 0
	for _, c := range s {
		if c == '?' {
			n++
			sb.WriteString("$" + strconv.Itoa(n))
			continue
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

func (b *bare) routes() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /scim/v2/Users", b.listUsers)
	m.HandleFunc("POST /scim/v2/Users", b.createUser)
	m.HandleFunc("PATCH /scim/v2/Users/{id}", b.patchUser)
	m.HandleFunc("DELETE /scim/v2/Users/{id}", b.deleteRow("bare_users"))
	m.HandleFunc("POST /scim/v2/Groups", b.createGroup)
	m.HandleFunc("GET /scim/v2/Groups/{id}", b.getGroup)
	m.HandleFunc("PATCH /scim/v2/Groups/{id}", b.patchGroup)
	m.HandleFunc("DELETE /scim/v2/Groups/{id}", b.deleteRow("bare_groups"))
	return m
}

func bareFail(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": strconv.Itoa(status), "detail": err.Error()})
}

func bareJSON(w http.ResponseWriter, status int, raw []byte) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// listUsers answers the three list shapes of the workload: a userName filter, a
// count=0 total, and a page (startIndex, count), each in one statement. The page's
// total is an uncorrelated subquery, computed once; a window count(*) OVER () would
// sort the whole table for every page.
func (b *bare) listUsers(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	var rows *sql.Rows
	var err error
	switch {
	case qv.Get("filter") != "":
		name, ok := strings.CutPrefix(qv.Get("filter"), `userName eq "`)
		if !ok || !strings.HasSuffix(name, `"`) {
			bareFail(w, 400, errors.New("only userName eq is understood"))
			return
		}
		rows, err = b.st(qLookup).QueryContext(r.Context(), strings.TrimSuffix(name, `"`))
	case qv.Get("count") == "0":
		var n int
		if err := b.st(qCount).QueryRowContext(r.Context()).Scan(&n); err != nil {
			bareFail(w, 500, err)
			return
		}
		bareJSON(w, 200, fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":%d,"Resources":[]}`, n))
		return
	default:
		start, _ := strconv.Atoi(qv.Get("startIndex"))
		count, _ := strconv.Atoi(qv.Get("count"))
		rows, err = b.st(qPage).QueryContext(r.Context(), count, max(start, 1)-1)
	}
	if err != nil {
		bareFail(w, 500, err)
		return
	}
	defer rows.Close()
	out := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"Resources":[`)
	total := 0
	for i := 0; rows.Next(); i++ {
		var doc string
		if err := rows.Scan(&doc, &total); err != nil {
			bareFail(w, 500, err)
			return
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, doc...)
	}
	if err := rows.Err(); err != nil {
		bareFail(w, 500, err)
		return
	}
	bareJSON(w, 200, fmt.Appendf(out, `],"totalResults":%d}`, total))
}

func (b *bare) createUser(w http.ResponseWriter, r *http.Request) {
	var u map[string]any
	if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
		bareFail(w, 400, err)
		return
	}
	name, _ := u["userName"].(string)
	id := uuid.NewString()
	delete(u, "password")
	u["id"] = id
	doc, _ := json.Marshal(u)
	if _, err := b.st(qInsertUser).ExecContext(r.Context(), id, name, true, string(doc)); err != nil {
		bareFail(w, 409, err)
		return
	}
	bareJSON(w, 201, doc)
}

// patchUser applies the workload's one user PATCH (active false) and answers the
// stored document.
func (b *bare) patchUser(w http.ResponseWriter, r *http.Request) {
	var doc string
	err := b.st(qDeactivate).QueryRowContext(r.Context(), false, r.PathValue("id")).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		bareFail(w, 404, err)
		return
	} else if err != nil {
		bareFail(w, 500, err)
		return
	}
	bareJSON(w, 200, []byte(doc))
}

func (b *bare) deleteRow(table string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := b.st(`DELETE FROM `+table+` WHERE id = ?`).ExecContext(r.Context(), r.PathValue("id"))
		if err != nil {
			bareFail(w, 500, err)
			return
		}
		if n, _ := res.RowsAffected(); n == 0 {
			bareFail(w, 404, errors.New("not found"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (b *bare) createGroup(w http.ResponseWriter, r *http.Request) {
	var g struct {
		DisplayName string `json:"displayName"`
	}
	if err := json.NewDecoder(r.Body).Decode(&g); err != nil {
		bareFail(w, 400, err)
		return
	}
	id := uuid.NewString()
	if _, err := b.st(qInsertGroup).ExecContext(r.Context(), id, g.DisplayName); err != nil {
		bareFail(w, 409, err)
		return
	}
	out, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "id": id, "displayName": g.DisplayName, "members": []any{}})
	bareJSON(w, 201, out)
}

// getGroup answers the group with or without its members (streamed in one
// statement: the group row joined to its members).
func (b *bare) getGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if strings.Contains(r.URL.Query().Get("excludedAttributes"), "members") {
		var name string
		var version int
		err := b.st(qGroup).QueryRowContext(r.Context(), id).Scan(&name, &version)
		if err != nil {
			bareFail(w, 404, err)
			return
		}
		out, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "id": id, "displayName": name, "meta": map[string]any{"version": fmt.Sprintf(`W/"%d"`, version)}})
		bareJSON(w, 200, out)
		return
	}
	rows, err := b.st(qGroupMembers).QueryContext(r.Context(), id)
	if err != nil {
		bareFail(w, 500, err)
		return
	}
	defer rows.Close()
	w.Header().Set("Content-Type", "application/scim+json")
	n := 0
	for rows.Next() {
		var name string
		var member sql.NullString
		if err := rows.Scan(&name, &member); err != nil {
			return
		}
		if n == 0 {
			name, _ := json.Marshal(name)
			fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":%q,"displayName":%s,"members":[`, id, name)
		}
		if member.Valid {
			if n > 0 {
				_, _ = w.Write([]byte{','})
			}
			fmt.Fprintf(w, `{"value":%q}`, member.String)
		}
		n++
	}
	if n == 0 {
		bareFail(w, 404, errors.New("not found"))
		return
	}
	_, _ = w.Write([]byte("]}"))
}

// patchGroup applies the workload's member PATCHes: add a list of members (one
// multi-row INSERT) or remove one by a value filter (one DELETE).
func (b *bare) patchGroup(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Operations []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value []struct {
				Value string `json:"value"`
			} `json:"value"`
		} `json:"Operations"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || len(p.Operations) != 1 {
		bareFail(w, 400, fmt.Errorf("one operation expected: %v", err))
		return
	}
	op, id := p.Operations[0], r.PathValue("id")
	var err error
	switch {
	case strings.EqualFold(op.Op, "add") && op.Path == "members" && len(op.Value) > 0:
		var sb strings.Builder
		args := make([]any, 0, 2*len(op.Value))
		sb.WriteString(`INSERT INTO bare_members (group_id, user_id) VALUES `)
		for i, v := range op.Value {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?, ?)")
			args = append(args, id, v.Value)
		}
		sb.WriteString(` ON CONFLICT DO NOTHING`)
		_, err = b.w.ExecContext(r.Context(), b.q(sb.String()), args...)
	case strings.EqualFold(op.Op, "remove"):
		member, ok := strings.CutPrefix(op.Path, `members[value eq "`)
		if !ok {
			bareFail(w, 400, errors.New("only members[value eq] is understood"))
			return
		}
		_, err = b.st(qRemoveMember).ExecContext(r.Context(), id, strings.TrimSuffix(member, `"]`))
	default:
		bareFail(w, 400, fmt.Errorf("operation %q on %q is not understood", op.Op, op.Path))
		return
	}
	if err != nil {
		bareFail(w, 500, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
