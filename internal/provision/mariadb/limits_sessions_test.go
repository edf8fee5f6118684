package mariadb

// Connection limits, sessions and live figures on the test MariaDB.

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/provision"
)

// mariaLoginN opens n pinned sessions as a tenant and closes them at the end
// of the test.
func mariaLoginN(t *testing.T, ctx context.Context, n int, user, pw, db string) []*sql.Conn {
	t.Helper()
	var conns []*sql.Conn
	for i := 0; i < n; i++ {
		c, done, err := mariaLogin(ctx, user, pw, db)
		if err != nil {
			t.Fatalf("login %d of %d as %s: %v", i+1, n, user, err)
		}
		t.Cleanup(done)
		conns = append(conns, c)
	}
	return conns
}

// mariaAlive reports whether a session still answers a query.
func mariaAlive(ctx context.Context, c *sql.Conn) bool {
	var one int
	return c.QueryRowContext(ctx, "SELECT 1").Scan(&one) == nil
}

// mariaConnID returns a session's connection id.
func mariaConnID(t *testing.T, ctx context.Context, c *sql.Conn) int64 {
	t.Helper()
	var id int64
	must(t, "CONNECTION_ID()", c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id))
	return id
}

// TestMariaDBConnectionLimit: MAX_USER_CONNECTIONS is set on every host of
// the owner and enforced (the 11th session of 10 is refused), and raising
// it lets the 11th in.
func TestMariaDBConnectionLimit(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const user, other, db, pw = "cust_lim_u", "cust_lim_other", "cust_lim_db", "pw-limit"
	mariaCleanup(t, d, []string{db}, []string{user, other})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureUser other", d.EnsureUser(ctx, other, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	// A second host variant, as a host allowlist would create.
	_, err := admin.ExecContext(ctx, "CREATE USER `"+user+"`@`10.99.0.0/255.255.0.0` IDENTIFIED BY PASSWORD '"+MySQLNativeHash(pw)+"'")
	must(t, "second host", err)
	limitIs := func(want int) {
		t.Helper()
		rows, err := admin.QueryContext(ctx, "SELECT CONCAT(Host, '=', max_user_connections) FROM mysql.user WHERE User = ? ORDER BY Host", user)
		must(t, "read max_user_connections", err)
		got, err := scanStrings(rows)
		must(t, "read max_user_connections", err)
		if w := []string{"%=" + strconv.Itoa(want), "10.99.0.0/255.255.0.0=" + strconv.Itoa(want)}; !slices.Equal(got, w) {
			t.Errorf("max_user_connections = %v, want %v", got, w)
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

	mariaLoginN(t, ctx, 10, user, pw, db)
	if _, done, err := mariaLogin(ctx, user, pw, db); err == nil {
		done()
		t.Fatal("11th session accepted with MAX_USER_CONNECTIONS 10")
	} else if mariaErrNo(err) != mariaErrUserLimitReached || !strings.Contains(err.Error(), "max_user_connections") {
		// 1203 ER_TOO_MANY_USER_CONNECTIONS is the error of the global
		// max_user_connections; an account's own limit gives 1226.
		t.Fatalf("11th session: got %v, want error 1226 (max_user_connections)", err)
	}

	must(t, "SetConnectionLimit 12", d.SetConnectionLimit(ctx, db, user, 12))
	limitIs(12)
	mariaLoginN(t, ctx, 1, user, pw, db)

	must(t, "SetConnectionLimit unlimited", d.SetConnectionLimit(ctx, db, user, provision.Unlimited))
	limitIs(0)
	mariaLoginN(t, ctx, 3, user, pw, db) // 14 > 12

	for _, bad := range []int{0, -2, -100, math.MaxInt32 + 1} {
		if err := d.SetConnectionLimit(ctx, db, user, bad); err == nil || !strings.Contains(err.Error(), "invalid connection limit") {
			t.Errorf("SetConnectionLimit(%d) = %v, want invalid connection limit", bad, err)
		}
	}
	limitIs(0)
	if err := d.SetConnectionLimit(ctx, "cust_lim_missing", user, 10); !errors.Is(err, provision.ErrNoSuchDatabase) {
		t.Errorf("SetConnectionLimit(missing database) = %v, want provision.ErrNoSuchDatabase", err)
	}
	if err := d.SetConnectionLimit(ctx, db, "cust_lim_nobody", 10); !errors.Is(err, provision.ErrNoSuchUser) {
		t.Errorf("SetConnectionLimit(missing owner) = %v, want provision.ErrNoSuchUser", err)
	}
	if err := d.SetConnectionLimit(ctx, db, other, 10); err == nil || !strings.Contains(err.Error(), "holds no grant") {
		t.Errorf("SetConnectionLimit(not the owner) = %v, want an error", err)
	}
	if err := d.SetConnectionLimit(ctx, "mysql", user, 10); !errors.Is(err, provision.ErrReserved) {
		t.Errorf("SetConnectionLimit(mysql) = %v, want provision.ErrReserved", err)
	}
	if err := d.SetConnectionLimit(ctx, db, mariaAdminUser, 10); !errors.Is(err, provision.ErrReserved) {
		t.Errorf("SetConnectionLimit(owner=admin) = %v, want provision.ErrReserved", err)
	}
	limitIs(0)
	var otherLimit int
	must(t, "read other", admin.QueryRowContext(ctx, "SELECT max_user_connections FROM mysql.user WHERE User = ?", other).Scan(&otherLimit))
	if otherLimit != 0 {
		t.Errorf("a refused call changed %s's limit to %d", other, otherLimit)
	}
}

// TestMariaDBEndDatabaseSessions: the sessions on database A end and are
// counted: those with A as default database and the owner's sessions
// without a database (or on information_schema). Sessions on database B of
// another tenant, and the owner's session on its other database C, keep
// working.
func TestMariaDBEndDatabaseSessions(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	const ua, dba, dbc, ub, dbb, pwa, pwb = "cust_eds_a", "cust_eds_a_db", "cust_eds_c_db", "cust_eds_b", "cust_eds_b_db", "pw-eds-a", "pw-eds-b"
	mariaCleanup(t, d, []string{dba, dbb, dbc}, []string{ua, ub})
	must(t, "EnsureUser a", d.EnsureUser(ctx, ua, pwa))
	must(t, "EnsureUser b", d.EnsureUser(ctx, ub, pwb))
	must(t, "EnsureDatabase a", d.EnsureDatabase(ctx, dba, ua))
	must(t, "EnsureDatabase c", d.EnsureDatabase(ctx, dbc, ua))
	must(t, "EnsureDatabase b", d.EnsureDatabase(ctx, dbb, ub))

	onA := mariaLoginN(t, ctx, 2, ua, pwa, dba)
	onA = append(onA, mariaLoginN(t, ctx, 1, ua, pwa, "")...)
	onA = append(onA, mariaLoginN(t, ctx, 1, ua, pwa, "information_schema")...)
	_, err := onA[2].ExecContext(ctx, "CREATE TABLE "+mariaQuote(dba)+".t (id INT)")
	must(t, "create table by qualified name", err)
	onC := mariaLoginN(t, ctx, 1, ua, pwa, dbc)[0]
	onB := mariaLoginN(t, ctx, 1, ub, pwb, dbb)[0]

	if info, err := d.DatabaseInfo(ctx, dba, ua); err != nil || info.Connections != 4 {
		t.Errorf("DatabaseInfo before = %+v, %v; want 4 connections", info, err)
	}
	n, err := d.EndDatabaseSessions(ctx, dba, ua)
	must(t, "EndDatabaseSessions", err)
	if n != 4 {
		t.Errorf("EndDatabaseSessions = %d, want 4", n)
	}
	for i, c := range onA {
		if mariaAlive(ctx, c) {
			t.Errorf("session %d on %s survived", i+1, dba)
		}
	}
	if !mariaAlive(ctx, onB) {
		t.Errorf("session on %s was ended", dbb)
	}
	if !mariaAlive(ctx, onC) {
		t.Errorf("owner's session on its other database %s was ended", dbc)
	}
	if info, err := d.DatabaseInfo(ctx, dba, ua); err != nil || info.Connections != 0 {
		t.Errorf("DatabaseInfo after = %+v, %v; want 0 connections", info, err)
	}
	if n, err := d.EndDatabaseSessions(ctx, dba, ua); err != nil || n != 0 {
		t.Errorf("EndDatabaseSessions again = %d, %v; want 0", n, err)
	}
	if _, err := d.EndDatabaseSessions(ctx, "cust_eds_missing", ua); !errors.Is(err, provision.ErrNoSuchDatabase) {
		t.Errorf("EndDatabaseSessions(missing) = %v, want provision.ErrNoSuchDatabase", err)
	}
	if _, err := d.EndDatabaseSessions(ctx, "mysql", ua); !errors.Is(err, provision.ErrReserved) {
		t.Errorf("EndDatabaseSessions(mysql) = %v, want provision.ErrReserved", err)
	}
	// Naming the admin as owner must not end the admin's sessions (the
	// driver's own pools among them): it holds no grant on the database.
	adminPool := mariaAdmin(t)
	adminConn, err := adminPool.Conn(ctx)
	must(t, "admin conn", err)
	defer adminConn.Close()
	if n, err := d.EndDatabaseSessions(ctx, dbb, mariaAdminUser); err != nil || n != 1 {
		t.Errorf("EndDatabaseSessions(b, owner=admin) = %d, %v; want 1 (b's session)", n, err)
	}
	if !mariaAlive(ctx, adminConn) {
		t.Error("an admin session was ended")
	}
	if err := d.Ping(ctx); err != nil {
		t.Errorf("admin pool broken: %v", err)
	}
}

// TestMariaDBEndSessions: the sessions listed before a rotation end, one
// opened after survives, and an id of another user's session is left
// alone.
func TestMariaDBEndSessions(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	const ua, dba, ub, dbb, pwa, pwb = "cust_es_a", "cust_es_a_db", "cust_es_b", "cust_es_b_db", "pw-es-a", "pw-es-b"
	mariaCleanup(t, d, []string{dba, dbb}, []string{ua, ub})
	must(t, "EnsureUser a", d.EnsureUser(ctx, ua, pwa))
	must(t, "EnsureUser b", d.EnsureUser(ctx, ub, pwb))
	must(t, "EnsureDatabase a", d.EnsureDatabase(ctx, dba, ua))
	must(t, "EnsureDatabase b", d.EnsureDatabase(ctx, dbb, ub))

	old := mariaLoginN(t, ctx, 2, ua, pwa, dba)
	ids, err := d.UserSessions(ctx, ua)
	must(t, "UserSessions", err)
	want := []int64{mariaConnID(t, ctx, old[0]), mariaConnID(t, ctx, old[1])}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("UserSessions = %v, want %v", ids, want)
	}
	fresh := mariaLoginN(t, ctx, 1, ua, pwa, dba)[0]
	otherUser := mariaLoginN(t, ctx, 1, ub, pwb, dbb)[0]

	n, err := d.EndSessions(ctx, ua, append(slices.Clone(ids), mariaConnID(t, ctx, otherUser), 0, -5))
	must(t, "EndSessions", err)
	if n != 2 {
		t.Errorf("EndSessions = %d, want 2", n)
	}
	for i, c := range old {
		if mariaAlive(ctx, c) {
			t.Errorf("old session %d survived", i+1)
		}
	}
	if !mariaAlive(ctx, fresh) {
		t.Error("session opened after the listing was ended")
	}
	if !mariaAlive(ctx, otherUser) {
		t.Error("another user's session was ended")
	}
	if got, err := d.UserSessions(ctx, ua); err != nil || !slices.Equal(got, []int64{mariaConnID(t, ctx, fresh)}) {
		t.Errorf("UserSessions after = %v, %v; want [%d]", got, err, mariaConnID(t, ctx, fresh))
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
	if _, err := d.EndSessions(ctx, mariaAdminUser, []int64{1}); !errors.Is(err, provision.ErrReserved) {
		t.Errorf("EndSessions(admin) = %v, want provision.ErrReserved", err)
	}
}

// TestMariaDBDatabaseInfo: size is 0 when empty and grows with data,
// connections and limit are live, the owner is the grant holder, a missing
// database is ErrNoSuchDatabase.
func TestMariaDBDatabaseInfo(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	const user, other, db, pw = "cust_info_u", "cust_info_other", "cust_info_db", "pw-info"
	mariaCleanup(t, d, []string{db}, []string{user, other})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureUser other", d.EnsureUser(ctx, other, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))

	before, err := d.DatabaseInfo(ctx, db, user)
	must(t, "DatabaseInfo", err)
	if before != (provision.DatabaseInfo{Owner: user, ConnectionLimit: provision.Unlimited}) {
		t.Errorf("DatabaseInfo of a new database = %+v", before)
	}

	c := mariaLoginN(t, ctx, 1, user, pw, db)[0]
	_, err = c.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY, pad TEXT) ENGINE=InnoDB")
	must(t, "create table", err)
	// 1,000 rows of 1 KiB of hex: about 1 MB.
	_, err = c.ExecContext(ctx, `INSERT INTO t WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000)
		SELECT n, REPEAT(MD5(n), 32) FROM s`)
	must(t, "insert", err)
	mid, err := d.DatabaseInfo(ctx, db, user)
	must(t, "DatabaseInfo", err)
	t.Logf("size before ANALYZE TABLE: %d", mid.SizeBytes)
	// InnoDB's DATA_LENGTH comes from index statistics, which are refreshed
	// in the background; ANALYZE TABLE refreshes them now.
	_, err = c.ExecContext(ctx, "ANALYZE TABLE t")
	must(t, "analyze", err)
	mariaLoginN(t, ctx, 1, user, pw, db)
	mariaLoginN(t, ctx, 1, user, pw, "") // no default database: still the owner's
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, db, user, 7))

	after, err := d.DatabaseInfo(ctx, db, user)
	must(t, "DatabaseInfo", err)
	t.Logf("size %d -> %d bytes", before.SizeBytes, after.SizeBytes)
	if after.SizeBytes < 1_000_000 {
		t.Errorf("size is %d bytes after inserting 1 MB, want >= 1000000", after.SizeBytes)
	}
	if after.Connections != 3 || after.ConnectionLimit != 7 || after.Owner != user {
		t.Errorf("DatabaseInfo = %+v, want 3 connections, limit 7, owner %s", after, user)
	}
	// Another user as owner: the grant holder is reported, and counted.
	if got, err := d.DatabaseInfo(ctx, db, other); err != nil || got.Owner != user || got.Connections != 3 || got.ConnectionLimit != 7 {
		t.Errorf("DatabaseInfo(owner=%s) = %+v, %v; want the figures of %s", other, got, err, user)
	}
	if _, err := d.DatabaseInfo(ctx, "cust_info_missing", user); !errors.Is(err, provision.ErrNoSuchDatabase) {
		t.Errorf("DatabaseInfo(missing) = %v, want provision.ErrNoSuchDatabase", err)
	}
}
