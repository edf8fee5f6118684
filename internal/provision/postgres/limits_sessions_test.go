package postgres

// Connection limits, sessions and live figures on the test PostgreSQL.

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/provision"
)

// pgAdminTo opens a superuser connection to database (the admin DSN points
// at "postgres").
func pgAdminTo(t *testing.T, ctx context.Context, database string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgAdminDSN)
	must(t, "parse admin DSN", err)
	cfg.Database = database
	c, err := pgx.ConnectConfig(ctx, cfg)
	must(t, "superuser connect to "+database, err)
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// pgLoginN opens n sessions as a tenant and closes them at the end of the
// test.
func pgLoginN(t *testing.T, ctx context.Context, n int, user, pw, db string) []*pgx.Conn {
	t.Helper()
	var conns []*pgx.Conn
	for i := 0; i < n; i++ {
		c, err := pgLogin(ctx, user, pw, db)
		if err != nil {
			t.Fatalf("login %d of %d as %s: %v", i+1, n, user, err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		conns = append(conns, c)
	}
	return conns
}

// pgAlive reports whether a session still answers a query.
func pgAlive(ctx context.Context, c *pgx.Conn) bool {
	_, err := c.Exec(ctx, "SELECT 1")
	return err == nil
}

// TestPostgresConnectionLimit: the limit is set on the owner role and the
// database and enforced for the tenant (the 11th session of 10 is refused
// with 53300, by the role limit), not for a superuser, and raising it lets
// the 11th in.
func TestPostgresConnectionLimit(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const user, other, db, pw = "cust_lim_u", "cust_lim_other", "cust_lim_db", "pw-limit"
	pgCleanup(t, d, []string{db}, []string{user, other})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureUser other", d.EnsureUser(ctx, other, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	limitIs := func(want int) {
		t.Helper()
		var got, role int
		must(t, "read datconnlimit", admin.QueryRow(ctx, "SELECT datconnlimit FROM pg_database WHERE datname = $1", db).Scan(&got))
		if got != want {
			t.Errorf("datconnlimit = %d, want %d", got, want)
		}
		must(t, "read rolconnlimit", admin.QueryRow(ctx, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", user).Scan(&role))
		if role != want {
			t.Errorf("rolconnlimit = %d, want %d", role, want)
		}
	}
	for i := 0; i < 2; i++ {
		must(t, "SetConnectionLimit 10", d.SetConnectionLimit(ctx, db, user, 10))
	}
	limitIs(10)
	// A password rotation and a re-run of EnsureDatabase keep the limit.
	must(t, "EnsureUser (rotation)", d.EnsureUser(ctx, user, pw+"-old"))
	must(t, "EnsureUser (rotation)", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureDatabase again", d.EnsureDatabase(ctx, db, user))
	limitIs(10)

	pgLoginN(t, ctx, 10, user, pw, db)
	if c, err := pgLogin(ctx, user, pw, db); err == nil {
		c.Close(ctx)
		t.Fatal("11th session accepted with CONNECTION LIMIT 10")
	} else if sqlState(err) != "53300" || !strings.Contains(err.Error(), "too many connections for role") {
		t.Fatalf("11th session: got %v, want SQLSTATE 53300 too many connections for role", err)
	}
	// Superusers are exempt.
	su := pgAdminTo(t, ctx, db)
	su.Close(ctx)

	must(t, "SetConnectionLimit 12", d.SetConnectionLimit(ctx, db, user, 12))
	limitIs(12)
	pgLoginN(t, ctx, 1, user, pw, db)

	must(t, "SetConnectionLimit unlimited", d.SetConnectionLimit(ctx, db, user, provision.Unlimited))
	limitIs(-1)
	pgLoginN(t, ctx, 3, user, pw, db) // 14 > 12

	for _, bad := range []int{0, -2, -100, math.MaxInt32 + 1} {
		if err := d.SetConnectionLimit(ctx, db, user, bad); err == nil || !strings.Contains(err.Error(), "invalid connection limit") {
			t.Errorf("SetConnectionLimit(%d) = %v, want invalid connection limit", bad, err)
		}
	}
	limitIs(-1)
	if err := d.SetConnectionLimit(ctx, "cust_lim_missing", user, 10); !errors.Is(err, provision.ErrNoSuchDatabase) {
		t.Errorf("SetConnectionLimit(missing database) = %v, want provision.ErrNoSuchDatabase", err)
	}
	if err := d.SetConnectionLimit(ctx, db, "cust_lim_nobody", 10); !errors.Is(err, provision.ErrNoSuchUser) {
		t.Errorf("SetConnectionLimit(missing owner) = %v, want provision.ErrNoSuchUser", err)
	}
	if err := d.SetConnectionLimit(ctx, db, other, 10); err == nil || !strings.Contains(err.Error(), "is owned by") {
		t.Errorf("SetConnectionLimit(not the owner) = %v, want an error", err)
	}
	if err := d.SetConnectionLimit(ctx, "postgres", user, 10); !errors.Is(err, provision.ErrReserved) {
		t.Errorf("SetConnectionLimit(postgres) = %v, want provision.ErrReserved", err)
	}
	if err := d.SetConnectionLimit(ctx, db, "postgres", 10); !errors.Is(err, provision.ErrReserved) {
		t.Errorf("SetConnectionLimit(owner=postgres) = %v, want provision.ErrReserved", err)
	}
	limitIs(-1)
}

// TestPostgresEndDatabaseSessions: every session on database A ends (one of
// them in an open transaction) and is counted; a session on database B
// keeps working.
func TestPostgresEndDatabaseSessions(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const ua, dba, ub, dbb, pwa, pwb = "cust_eds_a", "cust_eds_a_db", "cust_eds_b", "cust_eds_b_db", "pw-eds-a", "pw-eds-b"
	pgCleanup(t, d, []string{dba, dbb}, []string{ua, ub})
	must(t, "EnsureUser a", d.EnsureUser(ctx, ua, pwa))
	must(t, "EnsureUser b", d.EnsureUser(ctx, ub, pwb))
	must(t, "EnsureDatabase a", d.EnsureDatabase(ctx, dba, ua))
	must(t, "EnsureDatabase b", d.EnsureDatabase(ctx, dbb, ub))

	onA := pgLoginN(t, ctx, 3, ua, pwa, dba)
	tx, err := onA[0].Begin(ctx) // an open transaction, as a busy tenant would have
	must(t, "begin", err)
	_, err = tx.Exec(ctx, "CREATE TABLE t (id int)")
	must(t, "create table", err)
	onB := pgLoginN(t, ctx, 1, ub, pwb, dbb)[0]

	n, err := d.EndDatabaseSessions(ctx, dba, ua)
	must(t, "EndDatabaseSessions", err)
	if n != 3 {
		t.Errorf("EndDatabaseSessions = %d, want 3", n)
	}
	for i, c := range onA {
		if pgAlive(ctx, c) {
			t.Errorf("session %d on %s survived", i+1, dba)
		}
	}
	if !pgAlive(ctx, onB) {
		t.Errorf("session on %s was ended", dbb)
	}
	if info, err := d.DatabaseInfo(ctx, dba, ua); err != nil || info.Connections != 0 {
		t.Errorf("DatabaseInfo after EndDatabaseSessions = %+v, %v; want 0 connections", info, err)
	}
	if n, err := d.EndDatabaseSessions(ctx, dba, ua); err != nil || n != 0 {
		t.Errorf("EndDatabaseSessions again = %d, %v; want 0", n, err)
	}
	if _, err := d.EndDatabaseSessions(ctx, "cust_eds_missing", ua); !errors.Is(err, provision.ErrNoSuchDatabase) {
		t.Errorf("EndDatabaseSessions(missing) = %v, want provision.ErrNoSuchDatabase", err)
	}
	if _, err := d.EndDatabaseSessions(ctx, "postgres", ua); !errors.Is(err, provision.ErrReserved) {
		t.Errorf("EndDatabaseSessions(postgres) = %v, want provision.ErrReserved", err)
	}
	if err := d.Ping(ctx); err != nil {
		t.Errorf("admin pool broken: %v", err)
	}
}

// TestPostgresEndSessions: the sessions listed before a rotation end, one
// opened after survives, and a listed id now used by another role's session
// is left alone.
func TestPostgresEndSessions(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const ua, dba, ub, dbb, pwa, pwb = "cust_es_a", "cust_es_a_db", "cust_es_b", "cust_es_b_db", "pw-es-a", "pw-es-b"
	pgCleanup(t, d, []string{dba, dbb}, []string{ua, ub})
	must(t, "EnsureUser a", d.EnsureUser(ctx, ua, pwa))
	must(t, "EnsureUser b", d.EnsureUser(ctx, ub, pwb))
	must(t, "EnsureDatabase a", d.EnsureDatabase(ctx, dba, ua))
	must(t, "EnsureDatabase b", d.EnsureDatabase(ctx, dbb, ub))

	old := pgLoginN(t, ctx, 2, ua, pwa, dba)
	ids, err := d.UserSessions(ctx, ua)
	must(t, "UserSessions", err)
	want := []int64{int64(old[0].PgConn().PID()), int64(old[1].PgConn().PID())}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("UserSessions = %v, want %v", ids, want)
	}
	fresh := pgLoginN(t, ctx, 1, ua, pwa, dba)[0]
	otherRole := pgLoginN(t, ctx, 1, ub, pwb, dbb)[0]

	// b's pid stands in for an id reused by another role's session.
	n, err := d.EndSessions(ctx, ua, append(slices.Clone(ids), int64(otherRole.PgConn().PID()), 0, -5, 1<<40))
	must(t, "EndSessions", err)
	if n != 2 {
		t.Errorf("EndSessions = %d, want 2", n)
	}
	for i, c := range old {
		if pgAlive(ctx, c) {
			t.Errorf("old session %d survived", i+1)
		}
	}
	if !pgAlive(ctx, fresh) {
		t.Error("session opened after the listing was ended")
	}
	if !pgAlive(ctx, otherRole) {
		t.Error("another role's session was ended")
	}
	if got, err := d.UserSessions(ctx, ua); err != nil || !slices.Equal(got, []int64{int64(fresh.PgConn().PID())}) {
		t.Errorf("UserSessions after = %v, %v; want [%d]", got, err, fresh.PgConn().PID())
	}
	if n, err := d.EndSessions(ctx, ua, ids); err != nil || n != 0 {
		t.Errorf("EndSessions again = %d, %v; want 0", n, err)
	}
	if n, err := d.EndSessions(ctx, ua, nil); err != nil || n != 0 {
		t.Errorf("EndSessions(no ids) = %d, %v; want 0", n, err)
	}
	if got, err := d.UserSessions(ctx, "cust_es_nobody"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("UserSessions(missing user) = %#v, %v; want []", got, err)
	}
	if _, err := d.EndSessions(ctx, "postgres", []int64{1}); !errors.Is(err, provision.ErrReserved) {
		t.Errorf("EndSessions(postgres) = %v, want provision.ErrReserved", err)
	}
}

// TestPostgresDatabaseInfo: size grows with data, connections and limit are
// live, the owner is the owner, a missing database is ErrNoSuchDatabase.
func TestPostgresDatabaseInfo(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const user, other, db, pw = "cust_info_u", "cust_info_other", "cust_info_db", "pw-info"
	pgCleanup(t, d, []string{db}, []string{user, other})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureUser other", d.EnsureUser(ctx, other, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))

	before, err := d.DatabaseInfo(ctx, db, user)
	must(t, "DatabaseInfo", err)
	if before.Owner != user || before.ConnectionLimit != provision.Unlimited || before.Connections != 0 || before.SizeBytes <= 0 {
		t.Errorf("DatabaseInfo of a new database = %+v", before)
	}

	c := pgLoginN(t, ctx, 1, user, pw, db)[0]
	_, err = c.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, pad text)")
	must(t, "create table", err)
	// 1,000 rows of 1 KiB of hex (inline, not compressed): about 1 MB.
	_, err = c.Exec(ctx, "INSERT INTO t SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, 1000) g")
	must(t, "insert", err)
	pgLoginN(t, ctx, 2, user, pw, db)
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, db, user, 7))

	after, err := d.DatabaseInfo(ctx, db, user)
	must(t, "DatabaseInfo", err)
	t.Logf("size %d -> %d bytes", before.SizeBytes, after.SizeBytes)
	if after.SizeBytes-before.SizeBytes < 1_000_000 {
		t.Errorf("size grew by %d bytes after inserting 1 MB, want >= 1000000", after.SizeBytes-before.SizeBytes)
	}
	if after.Connections != 3 || after.ConnectionLimit != 7 || after.Owner != user {
		t.Errorf("DatabaseInfo = %+v, want 3 connections, limit 7, owner %s", after, user)
	}
	// The owner reported is the real one, whatever the caller believes.
	if got, err := d.DatabaseInfo(ctx, db, other); err != nil || got.Owner != user {
		t.Errorf("DatabaseInfo(owner=%s).Owner = %q, %v; want %q", other, got.Owner, err, user)
	}
	if _, err := d.DatabaseInfo(ctx, "cust_info_missing", user); !errors.Is(err, provision.ErrNoSuchDatabase) {
		t.Errorf("DatabaseInfo(missing) = %v, want provision.ErrNoSuchDatabase", err)
	}
}
