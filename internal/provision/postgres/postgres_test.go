package postgres

import (
	"context"
	"errors"
	"math"
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
