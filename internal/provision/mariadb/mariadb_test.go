package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// newMaria opens a driver on the private test MariaDB, or skips.
func newMaria(t *testing.T) *Driver {
	t.Helper()
	if mariaAdminDSN == "" {
		t.Skip("test MariaDB not running")
	}
	d, err := Open(testCtx(t), mariaAdminDSN)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

// mariaAdmin opens a plain admin pool for checks behind the driver's back.
func mariaAdmin(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", mariaAdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mariaCleanup(t *testing.T, d *Driver, dbs []string, users []string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, db := range dbs {
			if err := d.DropDatabase(ctx, db); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		for _, u := range users {
			if err := d.DropUser(ctx, u); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

// mariaLogin opens one pinned connection as a tenant with the plaintext
// password (a *sql.Conn, so a killed session is not silently replaced).
func mariaLogin(ctx context.Context, user, password, db string) (*sql.Conn, func(), error) {
	pool, err := sql.Open("mysql", mariaDSN(user, password, db))
	if err != nil {
		return nil, nil, err
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return conn, func() { conn.Close(); pool.Close() }, nil
}

func mariaErrNo(err error) uint16 { return mariaErrNumber(err) }

// mariaErrUserLimitReached (ER_USER_LIMIT_REACHED) is what a session gets
// when its account is at its MAX_USER_CONNECTIONS.
const mariaErrUserLimitReached = 1226

func TestMariaDBServerInfo(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	if d.Engine() != cellar.MariaDB {
		t.Errorf("Engine() = %q", d.Engine())
	}
	must(t, "Ping", d.Ping(ctx))
	v, err := d.ServerVersion(ctx)
	must(t, "ServerVersion", err)
	if !strings.HasPrefix(v, "10.11.") || !strings.HasSuffix(v, "-MariaDB") {
		t.Errorf("ServerVersion() = %q, want like 10.11.19-MariaDB", v)
	}
	dd, err := Open(ctx, mariaAdminDSN)
	must(t, "Open", err)
	defer dd.Close()
	if dd.Engine() != cellar.MariaDB {
		t.Errorf("Engine() = %q", dd.Engine())
	}
	// multiStatements in the DSN is ignored: a stacked query is refused.
	m, err := Open(ctx, mariaAdminDSN+"&multiStatements=true&interpolateParams=true")
	must(t, "Open(multiStatements)", err)
	defer m.Close()
	if _, err := m.db.ExecContext(ctx, "SELECT 1; SELECT 2"); err == nil {
		t.Error("multi-statement query accepted: multiStatements was not forced off")
	}
	if _, err := Open(ctx, mariaDSN("admin", "wrong-password", "")); err == nil {
		t.Error("Open with a wrong password succeeded")
	} else if strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("Open error contains the password: %v", err)
	}
}

// TestMariaDBLifecycle creates a user and a database, logs in as the user
// with the plaintext password, uses the database, and drops everything, with
// every step run twice to prove idempotency.
func TestMariaDBLifecycle(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const user, db, pw = "cust_life_u", "cust_life_db", "Life-pw 1 with spaces & 'quotes' `bt` \\"
	mariaCleanup(t, d, []string{db}, []string{user})

	for i := 0; i < 2; i++ {
		must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
		must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	}

	// One account, for '%', with our hash; one escaped db grant.
	var host, authString, plugin string
	must(t, "read user", admin.QueryRowContext(ctx,
		"SELECT Host, authentication_string, plugin FROM mysql.user WHERE User = ?", user).Scan(&host, &authString, &plugin))
	if host != "%" || authString != MySQLNativeHash(pw) || plugin != "mysql_native_password" {
		t.Errorf("account = %q@%q plugin %q, hash matches: %v", user, host, plugin, authString == MySQLNativeHash(pw))
	}
	rows, err := admin.QueryContext(ctx, "SELECT Db FROM mysql.db WHERE User = ?", user)
	must(t, "read grants", err)
	grants, err := scanStrings(rows)
	must(t, "read grants", err)
	if !slices.Equal(grants, []string{`cust\_life\_db`}) {
		t.Errorf("mysql.db grants = %q, want [cust\\_life\\_db]", grants)
	}
	var charset, collation string
	must(t, "read schema", admin.QueryRowContext(ctx,
		"SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).
		Scan(&charset, &collation))
	if charset != "utf8mb4" || collation != "utf8mb4_unicode_ci" {
		t.Errorf("charset %s collation %s", charset, collation)
	}

	c, done, err := mariaLogin(ctx, user, pw, db)
	must(t, "tenant login", err)
	_, err = c.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY, note TEXT)")
	must(t, "create table", err)
	_, err = c.ExecContext(ctx, "INSERT INTO t VALUES (?, ?)", 1, "hello")
	must(t, "insert", err)
	var n int
	must(t, "count", c.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n))
	if n != 1 {
		t.Errorf("count = %d", n)
	}
	// No GRANT OPTION: the tenant cannot pass access on.
	if _, err := c.ExecContext(ctx, "GRANT SELECT ON "+mariaQuote(db)+".* TO 'root'@'localhost'"); err == nil {
		t.Error("tenant could GRANT")
	}
	done()

	if ok, err := d.UserExists(ctx, user); err != nil || !ok {
		t.Errorf("UserExists = %v, %v", ok, err)
	}
	if ok, err := d.DatabaseExists(ctx, db); err != nil || !ok {
		t.Errorf("DatabaseExists = %v, %v", ok, err)
	}
	if dbs, err := d.ListDatabases(ctx, "cust_life_"); err != nil || !slices.Equal(dbs, []string{db}) {
		t.Errorf("ListDatabases = %v, %v", dbs, err)
	}
	if users, err := d.ListUsers(ctx, "cust_life_"); err != nil || !slices.Equal(users, []string{user}) {
		t.Errorf("ListUsers = %v, %v", users, err)
	}

	for i := 0; i < 2; i++ {
		must(t, "DropDatabase", d.DropDatabase(ctx, db))
	}
	for i := 0; i < 2; i++ {
		must(t, "DropUser", d.DropUser(ctx, user))
	}
	if ok, err := d.DatabaseExists(ctx, db); err != nil || ok {
		t.Errorf("DatabaseExists after drop = %v, %v", ok, err)
	}
	if ok, err := d.UserExists(ctx, user); err != nil || ok {
		t.Errorf("UserExists after drop = %v, %v", ok, err)
	}
	if dbs, err := d.ListDatabases(ctx, "cust_life_"); err != nil || len(dbs) != 0 || dbs == nil {
		t.Errorf("ListDatabases after drop = %#v, %v", dbs, err)
	}
}

// TestMariaDBHashMatchesServer compares our hash with the server's
// PASSWORD() function.
func TestMariaDBHashMatchesServer(t *testing.T) {
	newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	for _, pw := range []string{"password", "pencil", "p@ss w0rd!\"'`\\ ~{}"} {
		var server string
		must(t, "PASSWORD()", admin.QueryRowContext(ctx, "SELECT PASSWORD(?)", pw).Scan(&server))
		if got := MySQLNativeHash(pw); got != server {
			t.Errorf("hash(%q) = %s, server says %s", pw, got, server)
		}
	}
}

// TestMariaDBPasswordChange rotates a password: the old one must stop
// working and the new one must work, for every host the user exists for.
func TestMariaDBPasswordChange(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const user, db, pw1, pw2 = "cust_rot_u", "cust_rot_db", "first-password-1", "second-password-2"
	mariaCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw1))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	// A second host variant of the same user (as a host allowlist would
	// create) must get the new password too.
	_, err := admin.ExecContext(ctx, "CREATE USER `"+user+"`@`10.99.0.0/255.255.0.0` IDENTIFIED BY PASSWORD '"+MySQLNativeHash(pw1)+"'")
	must(t, "second host", err)

	c, done, err := mariaLogin(ctx, user, pw1, db)
	must(t, "login pw1", err)
	_ = c
	done()

	must(t, "EnsureUser pw2", d.EnsureUser(ctx, user, pw2))
	if _, done, err := mariaLogin(ctx, user, pw1, db); err == nil {
		done()
		t.Error("old password still works")
	} else if mariaErrNo(err) != 1045 { // access denied
		t.Errorf("old password: got %v, want error 1045", err)
	}
	_, done, err = mariaLogin(ctx, user, pw2, db)
	must(t, "login pw2", err)
	done()

	rows, err := admin.QueryContext(ctx, "SELECT authentication_string FROM mysql.user WHERE User = ?", user)
	must(t, "read", err)
	hashes, err := scanStrings(rows)
	must(t, "read", err)
	if len(hashes) != 2 || hashes[0] != MySQLNativeHash(pw2) || hashes[1] != MySQLNativeHash(pw2) {
		t.Errorf("not every host variant got the new password (%d accounts)", len(hashes))
	}
	// DropUser removes every host variant.
	must(t, "DropDatabase", d.DropDatabase(ctx, db))
	must(t, "DropUser", d.DropUser(ctx, user))
	var left int
	must(t, "count", admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ?", user).Scan(&left))
	if left != 0 {
		t.Errorf("%d accounts left after DropUser", left)
	}
}

// TestMariaDBTenantIsolation: a second tenant cannot use the first
// tenant's database, neither as default database nor by qualified name.
func TestMariaDBTenantIsolation(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	const ua, dba, ub, dbb, pwa, pwb = "cust_iso_a", "cust_iso_a_db", "cust_iso_b", "cust_iso_b_db", "pw-tenant-a", "pw-tenant-b"
	mariaCleanup(t, d, []string{dba, dbb}, []string{ua, ub})
	must(t, "EnsureUser a", d.EnsureUser(ctx, ua, pwa))
	must(t, "EnsureUser b", d.EnsureUser(ctx, ub, pwb))
	must(t, "EnsureDatabase a", d.EnsureDatabase(ctx, dba, ua))
	must(t, "EnsureDatabase b", d.EnsureDatabase(ctx, dbb, ub))

	ca, done, err := mariaLogin(ctx, ua, pwa, dba)
	must(t, "a login", err)
	_, err = ca.ExecContext(ctx, "CREATE TABLE secret (v TEXT)")
	must(t, "a create", err)
	done()

	if _, done, err := mariaLogin(ctx, ub, pwb, dba); err == nil {
		done()
		t.Error("b connected with a's database as default")
	} else if mariaErrNo(err) != 1044 { // access denied to database
		t.Errorf("b into a's db: got %v, want error 1044", err)
	}
	cb, done, err := mariaLogin(ctx, ub, pwb, dbb)
	must(t, "b login", err)
	defer done()
	if _, err := cb.ExecContext(ctx, "SELECT * FROM "+mariaQuote(dba)+".secret"); err == nil {
		t.Error("b read a's table")
	} else if n := mariaErrNo(err); n != 1142 && n != 1044 {
		t.Errorf("b read a's table: got %v, want error 1142", err)
	}
	if _, err := cb.ExecContext(ctx, "USE "+mariaQuote(dba)); err == nil {
		t.Error("b could USE a's db")
	}
}

// TestMariaDBGrantUnderscoreIsNotWildcard: in GRANT, '_' in a database
// name matches any character. The owner of cust_a_my_b must not get access
// to custxaxmyxb, which differs only where the name has underscores. A
// control grant without escaping shows the test would catch the bug.
func TestMariaDBGrantUnderscoreIsNotWildcard(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const user, pw, db, lookalike = "cust_wild_u", "pw-wildcard", "cust_a_my_b", "custxaxmyxb"
	const ctrlUser, ctrlPw = "cust_wild_ctrl", "pw-wild-control"
	mariaCleanup(t, d, []string{db, lookalike}, []string{user, ctrlUser})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureUser ctrl", d.EnsureUser(ctx, ctrlUser, ctrlPw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	// The look-alike belongs to someone else (here: only the admin).
	_, err := admin.ExecContext(ctx, "CREATE DATABASE "+mariaQuote(lookalike))
	must(t, "create lookalike", err)
	_, err = admin.ExecContext(ctx, "CREATE TABLE "+mariaQuote(lookalike)+".t (v INT)")
	must(t, "create lookalike table", err)

	if _, done, err := mariaLogin(ctx, user, pw, lookalike); err == nil {
		done()
		t.Errorf("owner of %s connected to %s", db, lookalike)
	}
	c, done, err := mariaLogin(ctx, user, pw, db)
	must(t, "login", err)
	defer done()
	if _, err := c.ExecContext(ctx, "SELECT * FROM "+mariaQuote(lookalike)+".t"); err == nil {
		t.Errorf("owner of %s read %s.t", db, lookalike)
	}
	if _, err := c.ExecContext(ctx, "CREATE TABLE "+mariaQuote(lookalike)+".evil (v INT)"); err == nil {
		t.Errorf("owner of %s created a table in %s", db, lookalike)
	}

	// Control: the same grant without escaping does reach the look-alike.
	_, err = admin.ExecContext(ctx, "GRANT SELECT ON `cust_a_my_b`.* TO `"+ctrlUser+"`@`%`")
	must(t, "control grant", err)
	cc, cdone, err := mariaLogin(ctx, ctrlUser, ctrlPw, "")
	must(t, "control login", err)
	if _, err := cc.ExecContext(ctx, "SELECT * FROM "+mariaQuote(lookalike)+".t"); err != nil {
		t.Errorf("control: unescaped grant did not match the look-alike (%v); the test proves nothing", err)
	}
	cdone()
	// EnsureDatabase converges: it revokes the wildcard grant on its name.
	must(t, "EnsureDatabase again", d.EnsureDatabase(ctx, db, user))
	cc, cdone, err = mariaLogin(ctx, ctrlUser, ctrlPw, "")
	must(t, "control login", err)
	defer cdone()
	if _, err := cc.ExecContext(ctx, "SELECT * FROM "+mariaQuote(lookalike)+".t"); err == nil {
		t.Error("EnsureDatabase left another user's wildcard grant on its database name")
	}
}

// TestMariaDBDropDatabaseWithSession: dropping a database in use kills the
// session (even one in an open transaction holding metadata locks) and
// succeeds; the old owner gets no access to a new database of that name.
func TestMariaDBDropDatabaseWithSession(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const user, db, pw = "cust_dses_u", "cust_dses_db", "pw-drop-session"
	mariaCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	c, done, err := mariaLogin(ctx, user, pw, db)
	must(t, "login", err)
	defer done()
	_, err = c.ExecContext(ctx, "CREATE TABLE t (id INT) ENGINE=InnoDB")
	must(t, "create", err)
	tx, err := c.BeginTx(ctx, nil)
	must(t, "begin", err)
	// Roll back before done(): closing a Conn waits for its open Tx.
	defer tx.Rollback()
	// The insert holds a metadata lock on t until the transaction ends.
	_, err = tx.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	must(t, "insert", err)

	// A second session with no default database holds locks on the table
	// by qualified name: not found by PROCESSLIST.DB, found as the owner's.
	c2, done2, err := mariaLogin(ctx, user, pw, "")
	must(t, "login 2", err)
	defer done2()
	tx2, err := c2.BeginTx(ctx, nil)
	must(t, "begin 2", err)
	defer tx2.Rollback()
	_, err = tx2.ExecContext(ctx, "INSERT INTO "+mariaQuote(db)+".t VALUES (2)")
	must(t, "insert 2", err)

	start := time.Now()
	must(t, "DropDatabase", d.DropDatabase(ctx, db))
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("DropDatabase took %v", el)
	} else {
		t.Logf("DropDatabase with a session in a transaction took %v", el)
	}
	// (tx, not c: database/sql blocks calls on a Conn while its Tx is open.)
	for i, tx := range []*sql.Tx{tx, tx2} {
		if _, err := tx.ExecContext(ctx, "SELECT 1"); err == nil {
			t.Errorf("session %d survived DropDatabase", i+1)
		}
	}
	if ok, _ := d.DatabaseExists(ctx, db); ok {
		t.Error("database still exists")
	}
	var grants int
	must(t, "count grants", admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.db WHERE User = ?", user).Scan(&grants))
	if grants != 0 {
		t.Errorf("%d grants left on the dropped database", grants)
	}
}

// TestMariaDBDropUserWithSession: dropping a logged-in user kills its
// sessions and succeeds.
func TestMariaDBDropUserWithSession(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	const user, db, pw = "cust_uses_u", "cust_uses_db", "pw-user-session"
	mariaCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	var conns []*sql.Conn
	for i := 0; i < 3; i++ {
		c, done, err := mariaLogin(ctx, user, pw, db)
		must(t, "login", err)
		defer done()
		conns = append(conns, c)
	}
	must(t, "DropUser", d.DropUser(ctx, user))
	for i, c := range conns {
		if _, err := c.ExecContext(ctx, "SELECT 1"); err == nil {
			t.Errorf("session %d survived DropUser", i)
		}
	}
	if ok, _ := d.UserExists(ctx, user); ok {
		t.Error("user still exists")
	}
	if _, done, err := mariaLogin(ctx, user, pw, ""); err == nil {
		done()
		t.Error("dropped user can log in")
	}
}

// TestMariaDBEnsureUserUnlocks: an account locked by an interrupted
// DropUser is usable again after EnsureUser.
func TestMariaDBEnsureUserUnlocks(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const user, pw = "cust_lock_u", "pw-locked"
	mariaCleanup(t, d, nil, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	_, err := admin.ExecContext(ctx, "ALTER USER `"+user+"`@`%` ACCOUNT LOCK")
	must(t, "lock", err)
	if _, done, err := mariaLogin(ctx, user, pw, ""); err == nil {
		done()
		t.Fatal("locked account could log in")
	}
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	_, done, err := mariaLogin(ctx, user, pw, "")
	must(t, "login after EnsureUser", err)
	done()
}

// TestMariaDBReserved: system accounts, the admin user and system schemas
// are refused.
func TestMariaDBReserved(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const boss = "cust_rsv_boss"
	_, err := admin.ExecContext(ctx, "CREATE USER `"+boss+"`@`%` IDENTIFIED BY PASSWORD '"+MySQLNativeHash("boss-pw")+"'")
	must(t, "create boss", err)
	_, err = admin.ExecContext(ctx, "GRANT ALL PRIVILEGES ON *.* TO `"+boss+"`@`%` WITH GRANT OPTION")
	must(t, "grant boss", err)
	t.Cleanup(func() { admin.Exec("DROP USER IF EXISTS `" + boss + "`@`%`") })

	for what, err := range map[string]error{
		"EnsureUser(root)":            d.EnsureUser(ctx, "root", "x-password"),
		"EnsureUser(admin)":           d.EnsureUser(ctx, mariaAdminUser, "x-password"),
		"EnsureUser(boss)":            d.EnsureUser(ctx, boss, "x-password"),
		"DropUser(admin)":             d.DropUser(ctx, mariaAdminUser),
		"DropUser(mysql)":             d.DropUser(ctx, "mysql"),
		"DropUser(boss)":              d.DropUser(ctx, boss),
		"EnsureDatabase(owner=admin)": d.EnsureDatabase(ctx, "cust_rsv_db", mariaAdminUser),
		"EnsureDatabase(mysql)":       d.EnsureDatabase(ctx, "mysql", "cust_x"),
		"DropDatabase(mysql)":         d.DropDatabase(ctx, "mysql"),
		"DropDatabase(sys)":           d.DropDatabase(ctx, "sys"),
	} {
		if !errors.Is(err, provision.ErrReserved) {
			t.Errorf("%s = %v, want provision.ErrReserved", what, err)
		}
	}
	if err := d.Ping(ctx); err != nil {
		t.Errorf("admin broken after reserved calls: %v", err)
	}
	if err := d.EnsureDatabase(ctx, "cust_rsv_db", "cust_rsv_nobody"); !errors.Is(err, provision.ErrNoSuchUser) {
		t.Errorf("EnsureDatabase(missing owner) = %v, want provision.ErrNoSuchUser", err)
	}
	if ok, _ := d.DatabaseExists(ctx, "cust_rsv_db"); ok {
		t.Error("EnsureDatabase created a database for a missing owner")
	}
}

// TestMariaDBNoSecretsInLog: with the general query log on, EnsureUser
// leaves neither the plaintext nor the hash in it.
func TestMariaDBNoSecretsInLog(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	const user, db, pw = "cust_log_u", "cust_log_db", "Log-Secret-Plaintext-42"
	mariaCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureUser again", d.EnsureUser(ctx, user, pw+"x"))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	logText, err := os.ReadFile(mariaLogPath)
	must(t, "read log", err)
	log := string(logText)
	if !strings.Contains(log, "CREATE DATABASE IF NOT EXISTS `cust_log_db`") {
		t.Fatalf("general log does not show the driver's statements (%d bytes)", len(log))
	}
	for _, secret := range []string{pw, MySQLNativeHash(pw), MySQLNativeHash(pw + "x"), "USER `cust_log_u`"} {
		if strings.Contains(log, secret) {
			t.Errorf("general log contains a secret (%.12s...)", secret)
		}
	}
}

// TestMariaDBConcurrentEnsure: racing EnsureUser/EnsureDatabase calls for
// the same names all succeed.
func TestMariaDBConcurrentEnsure(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	const user, db, pw = "cust_race_u", "cust_race_db", "pw-race"
	mariaCleanup(t, d, []string{db}, []string{user})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Go(func() { errs <- d.EnsureUser(ctx, user, pw) })
	}
	wg.Wait()
	for i := 0; i < 4; i++ {
		wg.Go(func() { errs <- d.EnsureDatabase(ctx, db, user) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	_, done, err := mariaLogin(ctx, user, pw, db)
	must(t, "login", err)
	done()
}

// TestMariaDBListPrefixIsLiteral: '_' in a prefix is not a wildcard.
func TestMariaDBListPrefixIsLiteral(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	mariaCleanup(t, d, []string{"cust_lit_db", "custxlitxdb"}, []string{"cust_lit_a", "custxlitxb"})
	for _, u := range []string{"cust_lit_a", "custxlitxb"} {
		must(t, "EnsureUser", d.EnsureUser(ctx, u, "pw-lit"))
	}
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, "cust_lit_db", "cust_lit_a"))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, "custxlitxdb", "custxlitxb"))
	if got, err := d.ListUsers(ctx, "cust_lit_"); err != nil || !slices.Equal(got, []string{"cust_lit_a"}) {
		t.Errorf("ListUsers(cust_lit_) = %v, %v", got, err)
	}
	if got, err := d.ListDatabases(ctx, "cust_lit_"); err != nil || !slices.Equal(got, []string{"cust_lit_db"}) {
		t.Errorf("ListDatabases(cust_lit_) = %v, %v", got, err)
	}
}
