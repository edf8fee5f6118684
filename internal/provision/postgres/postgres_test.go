package postgres

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// newPG opens a driver on the private test PostgreSQL, or skips.
func newPG(t *testing.T) *Driver {
	t.Helper()
	if pgAdminDSN == "" {
		t.Skip("test PostgreSQL not running")
	}
	d, err := Open(testCtx(t), pgAdminDSN)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

// pgAdmin opens a plain admin connection for checks behind the driver's back.
func pgAdmin(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(testCtx(t), pgAdminDSN)
	if err != nil {
		t.Fatalf("admin connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// pgCleanup drops the databases and then the users at the end of the test.
func pgCleanup(t *testing.T, d *Driver, dbs []string, users []string) {
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

// pgLogin connects as a tenant with the plaintext password.
func pgLogin(ctx context.Context, user, password, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, pgDSN(user, password, db))
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestPostgresServerInfo(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	if d.Engine() != cellar.PostgreSQL {
		t.Errorf("Engine() = %q", d.Engine())
	}
	must(t, "Ping", d.Ping(ctx))
	v, err := d.ServerVersion(ctx)
	must(t, "ServerVersion", err)
	if !strings.HasPrefix(v, "15.") || strings.ContainsAny(v, " ()") {
		t.Errorf("ServerVersion() = %q, want like 15.18", v)
	}

	dd, err := Open(ctx, pgAdminDSN)
	must(t, "Open", err)
	defer dd.Close()
	if dd.Engine() != cellar.PostgreSQL {
		t.Errorf("Engine() = %q", dd.Engine())
	}
	if _, err := Open(ctx, pgDSN("postgres", "wrong-password", "postgres")); err == nil {
		t.Error("Open with a wrong password succeeded")
	} else if strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("Open error contains the password: %v", err)
	}
}

// TestPostgresLifecycle creates a user and a database, logs in as the user
// with the plaintext password, uses the database, and drops everything, with
// every step run twice to prove idempotency.
func TestPostgresLifecycle(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const user, db, pw = "cust_life_u", "cust_life_db", "Life-pw 1 with spaces & 'quotes'"
	pgCleanup(t, d, []string{db}, []string{user})

	for i := 0; i < 2; i++ {
		must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
		must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	}

	// Role attributes and stored verifier.
	var super, createdb, createrole, repl, bypass, inherit, login bool
	var stored string
	must(t, "read role", admin.QueryRow(ctx, `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication,
		rolbypassrls, rolinherit, rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1`, user).
		Scan(&super, &createdb, &createrole, &repl, &bypass, &inherit, &login, &stored))
	if super || createdb || createrole || repl || bypass || !inherit || !login {
		t.Errorf("role attributes: super=%v createdb=%v createrole=%v replication=%v bypassrls=%v inherit=%v login=%v",
			super, createdb, createrole, repl, bypass, inherit, login)
	}
	if !scramVerifierRE.MatchString(stored) {
		t.Errorf("stored password is not one of our SCRAM verifiers: %.20s...", stored)
	}

	// Database owner and ACL: the owner only, PUBLIC has nothing.
	var owner string
	var acl []string
	must(t, "read db", admin.QueryRow(ctx,
		"SELECT pg_get_userbyid(datdba), datacl::text[] FROM pg_database WHERE datname = $1", db).Scan(&owner, &acl))
	if owner != user {
		t.Errorf("owner = %q, want %q", owner, user)
	}
	for _, item := range acl {
		if !strings.HasPrefix(item, user+"=") {
			t.Errorf("unexpected ACL item %q in %v", item, acl)
		}
	}

	// Log in with the plaintext and use the database.
	c, err := pgLogin(ctx, user, pw, db)
	must(t, "tenant login", err)
	_, err = c.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, note text)")
	must(t, "create table", err)
	_, err = c.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 1, "hello")
	must(t, "insert", err)
	var n int
	must(t, "count", c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	if n != 1 {
		t.Errorf("count = %d", n)
	}
	c.Close(ctx)

	// Existence and listing.
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
	if all, err := d.ListDatabases(ctx, ""); err != nil || !slices.Contains(all, db) || slices.Contains(all, "template1") {
		t.Errorf("ListDatabases(\"\") = %v, %v", all, err)
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

// TestPostgresVerifierMatchesServer has the server compute a verifier from a
// plaintext, then recomputes it here with the server's salt.
func TestPostgresVerifierMatchesServer(t *testing.T) {
	newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const role = "cust_vec_probe"
	for _, pw := range []string{"pencil", "p@ss w0rd!\"'`\\ ~{}"} {
		_, err := admin.Exec(ctx, "SET password_encryption = 'scram-sha-256'")
		must(t, "set", err)
		// The server computes the verifier for the plaintext in this
		// statement (test data only; the driver never does this).
		_, err = admin.Exec(ctx, "CREATE ROLE "+pgQuote(role)+" PASSWORD '"+strings.ReplaceAll(pw, "'", "''")+"'")
		must(t, "create role with plaintext", err)
		var serverV string
		must(t, "read", admin.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&serverV))
		_, err = admin.Exec(ctx, "DROP ROLE "+pgQuote(role))
		must(t, "drop", err)

		_, salt, _, _ := parseVerifier(t, serverV)
		ours, err := scramVerifierWithSalt(pw, salt, 4096)
		must(t, "verifier", err)
		if ours != serverV {
			t.Errorf("password %q:\n ours   %s\n server %s", pw, ours, serverV)
		}
	}
}

// TestPostgresPasswordChange rotates a password: the old one must stop
// working and the new one must work.
func TestPostgresPasswordChange(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const user, db, pw1, pw2 = "cust_rot_u", "cust_rot_db", "first-password-1", "second-password-2"
	pgCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw1))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	c, err := pgLogin(ctx, user, pw1, db)
	must(t, "login pw1", err)
	c.Close(ctx)

	must(t, "EnsureUser pw2", d.EnsureUser(ctx, user, pw2))
	if c, err := pgLogin(ctx, user, pw1, db); err == nil {
		c.Close(ctx)
		t.Error("old password still works")
	} else if sqlState(err) != "28P01" { // invalid_password
		t.Errorf("old password: got %v, want SQLSTATE 28P01", err)
	}
	c, err = pgLogin(ctx, user, pw2, db)
	must(t, "login pw2", err)
	c.Close(ctx)
}

// TestPostgresTenantIsolation: a second tenant cannot connect to the first
// tenant's database, because CONNECT was revoked from PUBLIC.
func TestPostgresTenantIsolation(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const ua, dba, ub, dbb, pwa, pwb = "cust_iso_a", "cust_iso_a_db", "cust_iso_b", "cust_iso_b_db", "pw-tenant-a", "pw-tenant-b"
	pgCleanup(t, d, []string{dba, dbb}, []string{ua, ub})
	must(t, "EnsureUser a", d.EnsureUser(ctx, ua, pwa))
	must(t, "EnsureUser b", d.EnsureUser(ctx, ub, pwb))
	must(t, "EnsureDatabase a", d.EnsureDatabase(ctx, dba, ua))
	must(t, "EnsureDatabase b", d.EnsureDatabase(ctx, dbb, ub))

	c, err := pgLogin(ctx, ub, pwb, dbb)
	must(t, "b into own db", err)
	c.Close(ctx)
	for _, tc := range []struct{ user, pw, db string }{{ub, pwb, dba}, {ua, pwa, dbb}} {
		c, err := pgLogin(ctx, tc.user, tc.pw, tc.db)
		if err == nil {
			c.Close(ctx)
			t.Errorf("%s connected to %s", tc.user, tc.db)
		} else if sqlState(err) != "42501" { // insufficient_privilege: permission denied for database
			t.Errorf("%s into %s: got %v, want SQLSTATE 42501", tc.user, tc.db, err)
		}
	}
}

// TestPostgresDropDatabaseWithSession: dropping a database in use ends the
// session and succeeds.
func TestPostgresDropDatabaseWithSession(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const user, db, pw = "cust_dses_u", "cust_dses_db", "pw-drop-session"
	pgCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	c, err := pgLogin(ctx, user, pw, db)
	must(t, "login", err)
	defer c.Close(context.Background())
	tx, err := c.Begin(ctx) // an open transaction, as a busy tenant would have
	must(t, "begin", err)
	_, err = tx.Exec(ctx, "CREATE TABLE t (id int)")
	must(t, "create", err)

	must(t, "DropDatabase", d.DropDatabase(ctx, db))
	if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("session survived DROP DATABASE")
	}
	if ok, _ := d.DatabaseExists(ctx, db); ok {
		t.Error("database still exists")
	}
}

// TestPostgresDropUserWithSession: dropping a logged-in user ends its
// sessions and succeeds.
func TestPostgresDropUserWithSession(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const user, pw = "cust_uses_u", "pw-user-session"
	pgCleanup(t, d, nil, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	// The harness revokes CONNECT on "postgres" from PUBLIC, so the
	// sessions go to a scratch database that PUBLIC may enter (a grant to
	// the user itself would be a dependency that blocks DROP ROLE).
	const scratch = "cust_uses_scratch"
	admin := pgAdmin(t)
	_, err := admin.Exec(ctx, "CREATE DATABASE "+scratch)
	must(t, "create scratch database", err)
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+scratch+" WITH (FORCE)") })
	var conns []*pgx.Conn
	for i := 0; i < 3; i++ {
		c, err := pgLogin(ctx, user, pw, scratch)
		must(t, "login", err)
		defer c.Close(context.Background())
		conns = append(conns, c)
	}
	must(t, "DropUser", d.DropUser(ctx, user))
	for i, c := range conns {
		if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
			t.Errorf("session %d survived DropUser", i)
		}
	}
	if ok, _ := d.UserExists(ctx, user); ok {
		t.Error("user still exists")
	}
	if _, err := pgLogin(ctx, user, pw, "postgres"); err == nil {
		t.Error("dropped user can log in")
	}
}

// TestPostgresDropUserOwningDatabase: DropUser fails (wrapped) while the user
// still owns a database; EnsureUser then restores its login, and after the
// database is dropped DropUser succeeds.
func TestPostgresDropUserOwningDatabase(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const user, db, pw = "cust_own_u", "cust_own_db", "pw-owner"
	pgCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	err := d.DropUser(ctx, user)
	if err == nil || !strings.Contains(err.Error(), "drop role") || sqlState(err) != "2BP01" { // dependent_objects_still_exist
		t.Fatalf("DropUser of an owner = %v, want wrapped 2BP01", err)
	}
	must(t, "EnsureUser again", d.EnsureUser(ctx, user, pw))
	c, err := pgLogin(ctx, user, pw, db)
	must(t, "login after EnsureUser", err)
	c.Close(ctx)
	must(t, "DropDatabase", d.DropDatabase(ctx, db))
	must(t, "DropUser", d.DropUser(ctx, user))
}

// TestPostgresInvalidDatabase simulates a DROP DATABASE interrupted on
// PostgreSQL 15.4+ (datconnlimit = -2): EnsureDatabase reports it and
// DropDatabase finishes the drop.
func TestPostgresInvalidDatabase(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const user, db, pw = "cust_inv_u", "cust_inv_db", "pw-invalid"
	pgCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	_, err := admin.Exec(ctx, "UPDATE pg_database SET datconnlimit = -2 WHERE datname = $1", db)
	must(t, "mark invalid", err)
	if _, err := pgLogin(ctx, user, pw, db); err == nil {
		t.Error("could connect to an invalid database")
	}
	if ok, err := d.DatabaseExists(ctx, db); err != nil || !ok {
		t.Errorf("DatabaseExists(invalid) = %v, %v; want true", ok, err)
	}
	if err := d.EnsureDatabase(ctx, db, user); !errors.Is(err, provision.ErrDatabaseInvalid) {
		t.Errorf("EnsureDatabase(invalid) = %v, want provision.ErrDatabaseInvalid", err)
	}
	must(t, "DropDatabase(invalid)", d.DropDatabase(ctx, db))
	if ok, _ := d.DatabaseExists(ctx, db); ok {
		t.Error("invalid database survived DropDatabase")
	}
	must(t, "EnsureDatabase after", d.EnsureDatabase(ctx, db, user))
}

// TestPostgresOwnerConverges: EnsureDatabase on an existing database with
// the wrong owner, and with extra grants, converges to the owner only.
func TestPostgresOwnerConverges(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const ua, ub, uc, db = "cust_conv_a", "cust_conv_b", "cust_conv_c", "cust_conv_db"
	pgCleanup(t, d, []string{db}, []string{ua, ub, uc})
	for _, u := range []string{ua, ub, uc} {
		must(t, "EnsureUser", d.EnsureUser(ctx, u, "pw-"+u))
	}
	must(t, "EnsureDatabase a", d.EnsureDatabase(ctx, db, ua))
	_, err := admin.Exec(ctx, "GRANT CONNECT, CREATE ON DATABASE "+pgQuote(db)+" TO "+pgQuote(uc))
	must(t, "grant c", err)

	must(t, "EnsureDatabase b", d.EnsureDatabase(ctx, db, ub))
	var owner string
	must(t, "owner", admin.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", db).Scan(&owner))
	if owner != ub {
		t.Errorf("owner = %s, want %s", owner, ub)
	}
	for u, want := range map[string]bool{ua: false, ub: true, uc: false} {
		var got bool
		must(t, "priv", admin.QueryRow(ctx, "SELECT has_database_privilege($1, $2, 'CONNECT')", u, db).Scan(&got))
		if got != want {
			t.Errorf("%s CONNECT on %s = %v, want %v", u, db, got, want)
		}
	}
}

// TestPostgresReserved: the admin role, superusers and system databases are
// refused before any DDL.
func TestPostgresReserved(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const su = "cust_rsv_super"
	_, err := admin.Exec(ctx, "CREATE ROLE "+pgQuote(su)+" SUPERUSER")
	must(t, "create superuser", err)
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgQuote(su)) })

	for what, err := range map[string]error{
		"EnsureUser(postgres)":        d.EnsureUser(ctx, "postgres", "x-password"),
		"EnsureUser(superuser)":       d.EnsureUser(ctx, su, "x-password"),
		"DropUser(postgres)":          d.DropUser(ctx, "postgres"),
		"DropUser(superuser)":         d.DropUser(ctx, su),
		"EnsureDatabase(owner=super)": d.EnsureDatabase(ctx, "cust_rsv_db", su),
		"EnsureDatabase(postgres)":    d.EnsureDatabase(ctx, "postgres", "cust_x"),
		"DropDatabase(postgres)":      d.DropDatabase(ctx, "postgres"),
		"DropDatabase(template1)":     d.DropDatabase(ctx, "template1"),
	} {
		if !errors.Is(err, provision.ErrReserved) {
			t.Errorf("%s = %v, want provision.ErrReserved", what, err)
		}
	}
	var super bool
	must(t, "read", admin.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = $1", su).Scan(&super))
	if !super {
		t.Error("superuser was demoted")
	}
	if err := d.EnsureDatabase(ctx, "cust_rsv_db", "cust_rsv_nobody"); !errors.Is(err, provision.ErrNoSuchUser) {
		t.Errorf("EnsureDatabase(missing owner) = %v, want provision.ErrNoSuchUser", err)
	}
}

// TestPostgresNoSecretsInLog runs EnsureUser against a server that logs
// every statement (log_statement = all), once successfully and once with a
// statement the server rejects, and checks that neither the plaintext nor
// the verifier reaches the server log or the returned error.
func TestPostgresNoSecretsInLog(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const user, pw = "cust_log_u", "Log-Secret-Plaintext-42"
	pgCleanup(t, d, nil, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureUser again", d.EnsureUser(ctx, user, pw+"x"))
	// "pg_" names are reserved by the server: CREATE ROLE fails with the
	// verifier in its text, which is logged by default.
	err := d.EnsureUser(ctx, "pg_cust_log", pw)
	if err == nil {
		t.Fatal("EnsureUser(pg_cust_log) succeeded")
	}
	if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "SCRAM-SHA-256$") {
		t.Errorf("error leaks a secret: %v", err)
	}
	var stored string
	must(t, "read", admin.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", user).Scan(&stored))

	time.Sleep(200 * time.Millisecond) // let the server flush its log
	logText, err := os.ReadFile(pgLogPath)
	must(t, "read log", err)
	log := string(logText)
	// Sanity: statements before the SET are logged, and the failing CREATE
	// ROLE did reach the server (its error is logged, its text must not be).
	if !strings.Contains(log, "LOG:  statement: begin") ||
		!strings.Contains(log, `role name "pg_cust_log" is reserved`) {
		t.Fatalf("server log does not show the expected entries; is log_statement=all on? (%d bytes)", len(log))
	}
	if strings.Contains(log, "STATEMENT:  CREATE ROLE") || strings.Contains(log, "STATEMENT:  ALTER ROLE") {
		t.Error("server log contains the text of a failing role statement")
	}
	_, _, storedKey, _ := parseVerifier(t, stored)
	for _, secret := range []string{pw, "SCRAM-SHA-256$", stored, string(storedKey)} {
		if strings.Contains(log, secret) {
			t.Errorf("server log contains a secret (%.12s...)", secret)
		}
	}
	if strings.Contains(log, "ROLE \"cust_log_u\" WITH") || strings.Contains(log, "ROLE \"pg_cust_log\" WITH") {
		t.Error("server log contains the CREATE/ALTER ROLE statement")
	}
}

// TestPostgresDropSerialized: DropDatabase waits for the drop gate and
// gives up when its context ends; concurrent drops all succeed.
func TestPostgresDropSerialized(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	d.dropSem <- struct{}{} // another drop is "running"
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := d.DropDatabase(short, "cust_ser_none")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("DropDatabase while another runs = %v, want DeadlineExceeded", err)
	}
	<-d.dropSem

	const user = "cust_ser_u"
	dbs := []string{"cust_ser_1", "cust_ser_2", "cust_ser_3", "cust_ser_4"}
	pgCleanup(t, d, dbs, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, "pw-serial"))
	for _, db := range dbs {
		must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() { errs[i] = d.DropDatabase(ctx, db) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("DropDatabase(%s): %v", dbs[i], err)
		}
	}
}

// TestPostgresConcurrentEnsure: racing EnsureUser/EnsureDatabase calls for
// the same names all succeed (the loser of CREATE retries as ALTER).
func TestPostgresConcurrentEnsure(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const user, db, pw = "cust_race_u", "cust_race_db", "pw-race"
	pgCleanup(t, d, []string{db}, []string{user})
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
	c, err := pgLogin(ctx, user, pw, db)
	must(t, "login", err)
	c.Close(ctx)
}

// TestPostgresListPrefixIsLiteral: '_' in a prefix is not a wildcard.
func TestPostgresListPrefixIsLiteral(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	pgCleanup(t, d, nil, []string{"cust_lit_a", "custxlitxb"})
	must(t, "EnsureUser", d.EnsureUser(ctx, "cust_lit_a", "pw-lit"))
	must(t, "EnsureUser", d.EnsureUser(ctx, "custxlitxb", "pw-lit"))
	got, err := d.ListUsers(ctx, "cust_lit_")
	if err != nil || !slices.Equal(got, []string{"cust_lit_a"}) {
		t.Errorf("ListUsers(cust_lit_) = %v, %v", got, err)
	}
}
