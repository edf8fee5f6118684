package mariadb

// SwapDatabase for MariaDB: listing, saving, dropping and re-creating the
// objects a RENAME TABLE does not move (views, triggers, routines,
// events), and the schema rewrite of their definitions (see swap.go's file
// comment).

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cellar/cellar/internal/provision"
)

// mariaListed is an object as listed from information_schema.
type mariaListed struct {
	kind, name, subject, definer string
}

// kindLabel is the SQL keyword of the object's kind (VIEW, TRIGGER, EVENT,
// or the routine type).
func (o mariaListed) kindLabel() string {
	if o.kind == "routine" {
		return o.subject
	}
	return strings.ToUpper(o.kind)
}

// listObjects lists the triggers (in creation order), views, routines
// (packages before their bodies) and events of database db.
func (s *mariaSwap) listObjects(ctx context.Context, db string) ([]mariaListed, error) {
	queries := []struct{ kind, query string }{
		{"trigger", `SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_TABLE, DEFINER FROM information_schema.TRIGGERS
			WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`},
		{"view", `SELECT TABLE_SCHEMA, TABLE_NAME, '', DEFINER FROM information_schema.VIEWS
			WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`},
		{"routine", `SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE, DEFINER FROM information_schema.ROUTINES
			WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE = 'PACKAGE BODY', ROUTINE_NAME, ROUTINE_TYPE`},
		{"event", `SELECT EVENT_SCHEMA, EVENT_NAME, '', DEFINER FROM information_schema.EVENTS
			WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME`},
	}
	var out []mariaListed
	for _, q := range queries {
		rows, err := s.m.db.QueryContext(ctx, q.query, db)
		if err != nil {
			return nil, fmt.Errorf("list %ss of database %q: %w", q.kind, db, err)
		}
		for rows.Next() {
			var schema string
			o := mariaListed{kind: q.kind}
			if err := rows.Scan(&schema, &o.name, &o.subject, &o.definer); err != nil {
				rows.Close()
				return nil, fmt.Errorf("list %ss of database %q: %w", q.kind, db, err)
			}
			// information_schema compares names case-insensitively.
			if schema == db {
				out = append(out, o)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("list %ss of database %q: %w", q.kind, db, err)
		}
	}
	return out, nil
}

// countObjects counts the views, triggers, routines and events of db.
func (s *mariaSwap) countObjects(ctx context.Context, db string) (int, error) {
	objs, err := s.listObjects(ctx, db)
	return len(objs), err
}

// tables lists the base tables of db (sequences and system-versioned
// tables included, views not), sorted.
func (s *mariaSwap) tables(ctx context.Context, db string) ([]string, error) {
	rows, err := s.m.db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_TYPE NOT IN ('VIEW', 'SYSTEM VIEW', 'TEMPORARY')`, db)
	if err != nil {
		return nil, fmt.Errorf("list tables of database %q: %w", db, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			return nil, fmt.Errorf("list tables of database %q: %w", db, err)
		}
		if schema == db {
			out = append(out, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables of database %q: %w", db, err)
	}
	slices.Sort(out)
	return out, nil
}

// charset returns db's default character set and collation.
func (s *mariaSwap) charset(ctx context.Context, db string) (cs, coll string, err error) {
	err = s.m.db.QueryRowContext(ctx, `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME
		FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ? AND SCHEMA_NAME = BINARY ?`, db, db).Scan(&cs, &coll)
	if err != nil {
		return "", "", fmt.Errorf("read character set of database %q: %w", db, err)
	}
	if !mariaCharsetRE.MatchString(cs) || !mariaCharsetRE.MatchString(coll) {
		return "", "", fmt.Errorf("database %q: unexpected character set %q / collation %q", db, cs, coll)
	}
	return cs, coll, nil
}

// fetchDefinitions reads the SHOW CREATE text of each listed object of db
// on a connection with character_set_results NULL, so the text comes back
// as stored, in the character set it was created with (csClient).
func (s *mariaSwap) fetchDefinitions(ctx context.Context, db, side string, listed []mariaListed) ([]mariaObject, error) {
	if len(listed) == 0 {
		return nil, nil
	}
	conn, err := s.m.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("read definitions in database %q: %w", db, err)
	}
	defer discardConn(conn)
	if _, err := conn.ExecContext(ctx, "SET SESSION character_set_results = NULL"); err != nil {
		return nil, fmt.Errorf("read definitions in database %q: %w", db, err)
	}
	// Views have no saved sql_mode: their text is rendered for this
	// session's, and is re-created under the same.
	var sessionMode string
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&sessionMode); err != nil {
		return nil, fmt.Errorf("read definitions in database %q: %w", db, err)
	}
	var out []mariaObject
	for i, l := range listed {
		cols, err := showCreate(ctx, conn, "SHOW CREATE "+l.kindLabel()+" "+mariaQuote(db)+"."+mariaQuote(l.name))
		if err != nil {
			return nil, fmt.Errorf("read definition of %s %q in database %q: %w", strings.ToLower(l.kindLabel()), l.name, db, err)
		}
		o := mariaObject{kind: l.kind, side: side, name: l.name, subject: l.subject, ord: i,
			sqlMode: sessionMode, csClient: string(cols["character_set_client"]),
			collConn: string(cols["collation_connection"]), timeZone: string(cols["time_zone"])}
		if m, ok := cols["sql_mode"]; ok {
			o.sqlMode = string(m)
		}
		for name, v := range cols {
			if strings.HasPrefix(name, "Create ") || name == "SQL Original Statement" {
				o.def = v
			}
		}
		if len(o.def) == 0 || o.csClient == "" || o.collConn == "" {
			return nil, fmt.Errorf("read definition of %s %q in database %q: empty", strings.ToLower(l.kindLabel()), l.name, db)
		}
		out = append(out, o)
	}
	return out, nil
}

// showCreate runs a SHOW CREATE statement and returns its one row by column
// name.
func showCreate(ctx context.Context, conn *sql.Conn, query string) (map[string][]byte, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("no row")
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(cols))
	for i, c := range cols {
		out[c] = slices.Clone([]byte(vals[i]))
	}
	return out, rows.Err()
}

// dropBeforeSwap drops, from the snapshot's list, the triggers of live and
// replacement, live's views and the events of both (see swap.go's file comment).
func (s *mariaSwap) dropBeforeSwap(ctx context.Context, saved []mariaObject) error {
	for _, side := range []string{"live", "replacement"} {
		db := s.live
		if side == "replacement" {
			db = s.replacement
		}
		for _, kind := range []string{"trigger", "view", "event"} {
			if kind == "view" && side == "replacement" {
				continue // replacement's views stay, and go with it
			}
			var drop []mariaListed
			for _, o := range pick(saved, kind, side) {
				drop = append(drop, mariaListed{kind: o.kind, name: o.name, subject: o.subject})
			}
			if err := s.dropObjects(ctx, db, drop, kind); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkUnchanged checks, right before the RENAME, that live and replacement
// hold exactly what the snapshot expects: no triggers or events, no views in
// live, and replacement's views and routines as saved. Anything else was
// made behind the lock-out (only possible after a crash) and would be lost.
func (s *mariaSwap) checkUnchanged(ctx context.Context, saved []mariaObject) error {
	for _, db := range []string{s.live, s.replacement} {
		current, err := s.listObjects(ctx, db)
		if err != nil {
			return err
		}
		var want []string
		if db == s.replacement {
			for _, o := range saved {
				if o.side == "replacement" && (o.kind == "view" || o.kind == "routine") {
					want = append(want, o.kind+" "+o.subject+" "+o.name)
				}
			}
		}
		var have []string
		for _, c := range current {
			if db == s.live && c.kind == "routine" {
				continue // live's routines stay until phase 3
			}
			have = append(have, c.kind+" "+c.subject+" "+c.name)
		}
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(want, have) {
			return fmt.Errorf("swap database %q: objects of database %q changed during the swap (have %q, want %q): %w",
				s.live, db, have, want, provision.ErrSwapConflict)
		}
	}
	return nil
}

// dropObjects drops the listed objects of one kind from db.
func (s *mariaSwap) dropObjects(ctx context.Context, db string, objs []mariaListed, kind string) error {
	if !slices.ContainsFunc(objs, func(o mariaListed) bool { return o.kind == kind }) {
		return nil
	}
	conn, err := s.ddlConn(ctx, "")
	if err != nil {
		return err
	}
	defer discardConn(conn)
	for _, o := range objs {
		if o.kind != kind {
			continue
		}
		name := mariaQuote(db) + "." + mariaQuote(o.name)
		stmt := "DROP " + o.kindLabel() + " IF EXISTS " + name
		if o.kind == "routine" && (o.subject == "PACKAGE" || o.subject == "PACKAGE BODY") {
			// DROP PACKAGE [BODY] exists only in Oracle mode.
			if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = 'ORACLE'"); err != nil {
				return fmt.Errorf("swap database %q: %w", s.live, err)
			}
		} else if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = DEFAULT"); err != nil {
			return fmt.Errorf("swap database %q: %w", s.live, err)
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("swap database %q: drop %s %q of database %q: %w", s.live, strings.ToLower(o.kindLabel()), o.name, db, err)
		}
	}
	return nil
}

// createObjects creates saved triggers, routines or events in db, with
// schema qualifiers naming from rewritten to db, each in the session
// settings it was created with, in saved order.
func (s *mariaSwap) createObjects(ctx context.Context, db string, objs []mariaObject, from string) error {
	if len(objs) == 0 {
		return nil
	}
	conn, err := s.ddlConn(ctx, db)
	if err != nil {
		return err
	}
	defer discardConn(conn)
	for _, o := range objs {
		if err := createObject(ctx, conn, o, from, db); err != nil {
			return fmt.Errorf("swap database %q: create %s %q in database %q: %w", s.live, o.kind, o.name, db, err)
		}
	}
	return nil
}

// createViews creates (or replaces) saved views in db, qualifiers naming
// from rewritten to db, in passes: a view on a view not created yet fails
// and is tried again in the next pass, until a pass creates none.
func (s *mariaSwap) createViews(ctx context.Context, db string, views []mariaObject, from string) error {
	if len(views) == 0 {
		return nil
	}
	// db as the default database: a view's text qualifies every table, but
	// a stored function called without a schema is kept unqualified and
	// resolved against the current database when the view is created.
	conn, err := s.ddlConn(ctx, db)
	if err != nil {
		return err
	}
	defer discardConn(conn)
	todo := views
	for {
		var again []mariaObject
		var lastErr error
		for _, v := range todo {
			err := createObject(ctx, conn, v, from, db)
			switch n := mariaErrNumber(err); {
			case err == nil:
			case n == mariaErrNoSuchTable || n == mariaErrViewInvalid || n == mariaErrSPDoesNotExist:
				again = append(again, v)
				lastErr = fmt.Errorf("create view %q in database %q: %w", v.name, db, err)
			default:
				return fmt.Errorf("create view %q in database %q: %w", v.name, db, err)
			}
		}
		if len(again) == 0 {
			return nil
		}
		if len(again) == len(todo) {
			return lastErr
		}
		todo = again
	}
}

// createObject runs one saved CREATE statement on conn (whose default
// database is the target, for the statements that name their object
// without a schema), under the object's saved session settings. Views are
// created with OR REPLACE.
func createObject(ctx context.Context, conn *sql.Conn, o mariaObject, from, to string) error {
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ?, character_set_client = ?, collation_connection = ?",
		o.sqlMode, o.csClient, o.collConn); err != nil {
		return err
	}
	if o.kind == "event" && o.timeZone != "" {
		if _, err := conn.ExecContext(ctx, "SET SESSION time_zone = ?", o.timeZone); err != nil {
			return err
		}
	}
	def := mariaRewriteSchema(o.def, from, to)
	if o.kind == "view" {
		if len(def) < 7 || !strings.EqualFold(string(def[:7]), "CREATE ") {
			return errors.New("saved view definition does not start with CREATE")
		}
		def = append([]byte("CREATE OR REPLACE "), def[7:]...)
	}
	// No arguments: sent as one text-protocol statement, bytes as they are.
	_, err := conn.ExecContext(ctx, string(def))
	return err
}

// ddlConn returns a connection of the admin pool for DDL with a bounded
// metadata lock wait and, if db is not "", db as its default database. The
// caller discards it (discardConn) so its session settings go with it.
func (s *mariaSwap) ddlConn(ctx context.Context, db string) (*sql.Conn, error) {
	conn, err := s.m.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("swap database %q: %w", s.live, err)
	}
	stmts := []string{"SET SESSION lock_wait_timeout = " + strconv.Itoa(mariaSwapLockWait)}
	if db != "" {
		stmts = append(stmts, "USE "+mariaQuote(db))
	}
	for _, st := range stmts {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			discardConn(conn)
			return nil, fmt.Errorf("swap database %q: %s: %w", s.live, st, err)
		}
	}
	return conn, nil
}

// discardConn closes conn and keeps it from going back to the pool.
func discardConn(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// fixDefaults rewrites column defaults of db's tables that name the schema
// from (nextval(`from`.`seq`) of a sequence that moved) to name db.
func (s *mariaSwap) fixDefaults(ctx context.Context, db, from string) error {
	rows, err := s.m.db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND INSTR(COLUMN_DEFAULT, ?) > 0`, db, from)
	if err != nil {
		return fmt.Errorf("swap database %q: read column defaults of %q: %w", s.live, db, err)
	}
	type fix struct{ table, column, def string }
	var fixes []fix
	for rows.Next() {
		var schema, table, column, def string
		if err := rows.Scan(&schema, &table, &column, &def); err != nil {
			rows.Close()
			return fmt.Errorf("swap database %q: read column defaults of %q: %w", s.live, db, err)
		}
		if schema != db {
			continue
		}
		if nd := string(mariaRewriteSchema([]byte(def), from, db)); nd != def {
			fixes = append(fixes, fix{table, column, nd})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("swap database %q: read column defaults of %q: %w", s.live, db, err)
	}
	for _, f := range fixes {
		// The expression is the server's own rendering of the default with
		// only the schema qualifier replaced.
		stmt := "SET STATEMENT lock_wait_timeout = " + strconv.Itoa(mariaSwapLockWait) + " FOR ALTER TABLE " +
			mariaQuote(db) + "." + mariaQuote(f.table) + " ALTER COLUMN " + mariaQuote(f.column) + " SET DEFAULT (" + f.def + ")"
		if _, err := s.m.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("swap database %q: rewrite default of %q.%q: %w", s.live, f.table, f.column, err)
		}
	}
	return nil
}

// mariaRewriteSchema returns def with every schema qualifier naming from
// replaced by to: `from`. and "from". (quoted) and from. at the start of a
// bare identifier chain. from and to are valid identifiers ([a-z0-9_]).
func mariaRewriteSchema(def []byte, from, to string) []byte {
	if from == to {
		return def
	}
	var out []byte
	for i := 0; i < len(def); {
		matched := false
		for _, q := range []string{"`", `"`, ""} {
			pat := q + from + q + "."
			if !bytes.HasPrefix(def[i:], []byte(pat)) {
				continue
			}
			if q == "" && i > 0 && isIdentByte(def[i-1]) {
				continue // the tail of a longer name, or a column after a table
			}
			out = append(out, q+to+q+"."...)
			i += len(pat)
			matched = true
			break
		}
		if !matched {
			out = append(out, def[i])
			i++
		}
	}
	return out
}

// isIdentByte reports whether b can be part of a bare identifier, or joins
// one to a qualifier (`.`) or a quote.
func isIdentByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '_' || b == '$' || b >= 0x80 || b == '.' || b == '`' || b == '"' || b == '@'
}
