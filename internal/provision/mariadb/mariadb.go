// Package mariadb is the provisioning driver for shared MariaDB servers:
// it implements the provision package's roles (see that package for the
// rules every driver follows).
package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// mariaMaxConns keeps the admin pool small, like the PostgreSQL one.
const mariaMaxConns = 8

// MariaDB error numbers this driver reacts to.
const (
	mariaErrNoSuchThread     = 1094 // KILL of a thread that already ended
	mariaErrNonexistingGrant = 1141 // REVOKE of a grant that is already gone
	mariaErrLockWaitTimeout  = 1205 // DROP DATABASE waited too long for a metadata lock
)

// mariaDefaultHosts are the host patterns EnsureUser creates a new user for:
// anywhere ('%'). ApplyAccess then converges the user's accounts to its
// database's allowlist, and EnsureUser leaves an existing user's set of
// accounts alone.
var mariaDefaultHosts = []string{"%"}

// mariaReservedDatabases are MariaDB's system schemas.
var mariaReservedDatabases = map[string]bool{
	"mysql": true, "information_schema": true, "performance_schema": true, "sys": true,
}

// mariaReservedUsers are accounts that mariadb-install-db creates and that
// Cellar must never alter or drop ("mariadb.sys" cannot pass ValidIdentifier
// anyway). Other administrative users are caught by manageableUserHosts.
var mariaReservedUsers = map[string]bool{"root": true, "mysql": true}

// dropDatabaseLockWait bounds how long one DROP DATABASE attempt waits for
// metadata locks. The server default (lock_wait_timeout) is a year, and a
// session holding locks on the database's tables that DropDatabase did not
// find (say, an admin's) would otherwise make the drop hang until that
// transaction ends.
const dropDatabaseLockWait = 5 // seconds

// dropDatabaseAttempts is how often DropDatabase kills sessions and retries
// after a lock wait timeout.
const dropDatabaseAttempts = 4

// The roles this engine plays (see the provision package); it makes no
// load logins: a restore logs in as the owner's own account.
var _ provision.Driver = (*Driver)(nil)

// Driver is the provision.Driver of one MariaDB server (10.4 or later;
// tested with 10.11), connected through database/sql and go-sql-driver/mysql with an
// admin user that has all privileges WITH GRANT OPTION (including SUPER,
// needed to kill other users' sessions and to set sql_log_off).
type Driver struct {
	db *sql.DB
	// quiet runs only statements that carry a password hash. Every one of
	// its connections has the general query log switched off
	// (sql_log_off=1, set by the driver at connect), and nothing else ever
	// uses them, so the setting cannot leak to other statements.
	quiet *sql.DB
	// locks holds the connections that hold MariaDB named locks (GET_LOCK)
	// for withNamedLock, apart from db so that a caller holding a lock can
	// always get a connection from db to work with.
	locks *sql.DB
	// accessSem serializes ApplyAccess within this process (a named lock
	// does it across processes); a channel so that waiting respects the
	// caller's context.
	accessSem chan struct{}
}

// Open connects to a MariaDB server with an admin DSN in
// go-sql-driver/mysql format (user:pass@tcp(host:port)/?param=value) and
// checks the connection. multiStatements and interpolateParams are forced off
// whatever the DSN says: with them a quoting mistake could smuggle a second
// statement in, or parameters would be spliced in client-side. The pool is
// capped at 8 connections.
func Open(ctx context.Context, adminDSN string) (*Driver, error) {
	cfg, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("mariadb: parse admin DSN: %w", err)
	}
	cfg.MultiStatements = false
	cfg.InterpolateParams = false
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mariadb: admin DSN: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(mariaMaxConns)
	db.SetMaxIdleConns(2)
	db.SetConnMaxLifetime(10 * time.Minute)

	quietCfg := cfg.Clone()
	if quietCfg.Params == nil {
		quietCfg.Params = map[string]string{}
	}
	quietCfg.Params["sql_log_off"] = "1"
	quietConnector, err := mysql.NewConnector(quietCfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mariadb: admin DSN: %w", err)
	}
	quiet := sql.OpenDB(quietConnector)
	quiet.SetMaxOpenConns(mariaMaxConns)
	quiet.SetMaxIdleConns(2)
	quiet.SetConnMaxLifetime(10 * time.Minute)

	locks := sql.OpenDB(connector)
	locks.SetMaxOpenConns(2 * mariaMaxConns)
	locks.SetMaxIdleConns(1)
	locks.SetConnMaxLifetime(10 * time.Minute)

	m := &Driver{db: db, quiet: quiet, locks: locks, accessSem: make(chan struct{}, 1)}
	if err := m.Ping(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// mariaQuote is the only way this driver quotes an identifier for MariaDB:
// backticks, with embedded backticks doubled. It is also used for the user
// and host parts of account names (`u`@`%` is valid syntax), so no string
// literal quoting is needed anywhere for names.
func mariaQuote(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// mariaGrantDB is the database part of GRANT/REVOKE ... ON db.* for exactly
// the database name. In GRANT the database name is a LIKE-style pattern in
// which '_' and '%' are wildcards, so a grant on `cust_a` would also cover
// a database named custxa; escaping them with a backslash makes the grant
// match only name. (The escaped form is also what mysql.db stores.)
func mariaGrantDB(name string) string {
	return mariaQuote(mariaGrantPattern(name))
}

// mariaGrantPattern returns name with the GRANT wildcards escaped.
func mariaGrantPattern(name string) string {
	r := strings.NewReplacer(`\`, `\\`, `_`, `\_`, `%`, `\%`)
	return r.Replace(name)
}

// mariaAccount returns a quoted account name user@host.
func mariaAccount(user, host string) string {
	return mariaQuote(user) + "@" + mariaQuote(host)
}

// mariaErrNumber returns the server error number, or 0.
func mariaErrNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// Engine returns cellar.MariaDB.
func (m *Driver) Engine() cellar.Engine { return cellar.MariaDB }

// Close closes the admin pool.
func (m *Driver) Close() {
	m.db.Close()
	m.quiet.Close()
	m.locks.Close()
}

// Ping checks that the server answers on the admin pool.
func (m *Driver) Ping(ctx context.Context) error {
	if err := m.db.PingContext(ctx); err != nil {
		return fmt.Errorf("mariadb: ping: %w", err)
	}
	// The quiet pool's connect runs SET sql_log_off, which needs SUPER:
	// fail here, not at the first password change.
	if err := m.quiet.PingContext(ctx); err != nil {
		return fmt.Errorf("mariadb: ping (sql_log_off connection): %w", err)
	}
	return nil
}

// ServerVersion returns the server's version, e.g. "10.11.19-MariaDB" (a
// distribution suffix such as "-0+deb12u1" is cut).
func (m *Driver) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := m.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return "", fmt.Errorf("mariadb: server version: %w", err)
	}
	if i := strings.Index(v, "-MariaDB"); i >= 0 {
		v = v[:i+len("-MariaDB")]
	}
	return v, nil
}

// manageableUserHosts returns the host patterns the user exists for (one
// account per host in MariaDB), sorted, after refusing accounts Cellar must
// never alter or drop: the reserved system accounts, the admin user this
// driver is connected as, and any user with global SUPER, GRANT OPTION or
// CREATE USER (an administrator). Without this, a bug that passed the
// admin's name to EnsureUser would reset its password, or DropUser would
// lock Cellar out of the server. One query does both, since this is on the
// path of every create.
func (m *Driver) manageableUserHosts(ctx context.Context, username string) ([]string, error) {
	if mariaReservedUsers[username] {
		return nil, fmt.Errorf("user %q: %w", username, provision.ErrReserved)
	}
	rows, err := m.db.QueryContext(ctx, `
		SELECT Host, (User = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)
			OR Super_priv = 'Y' OR Grant_priv = 'Y' OR Create_user_priv = 'Y')
		FROM mysql.user WHERE User = ? ORDER BY Host`, username)
	if err != nil {
		return nil, fmt.Errorf("look up user %q: %w", username, err)
	}
	defer rows.Close()
	var hosts []string
	for rows.Next() {
		var host string
		var admin bool
		if err := rows.Scan(&host, &admin); err != nil {
			return nil, fmt.Errorf("look up user %q: %w", username, err)
		}
		if admin {
			return nil, fmt.Errorf("user %q is an administrator or the admin user: %w", username, provision.ErrReserved)
		}
		hosts = append(hosts, host)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up user %q: %w", username, err)
	}
	return hosts, nil
}

// EnsureUser creates the user with the password for host '%' (see
// mariaDefaultHosts), or sets the password if the user exists. Every
// existing account of the user (one per host pattern, as ApplyAccess
// creates them) gets the password, so a rotation never leaves an old
// password valid from some host; no account is added to an existing user,
// so a rotation never re-opens access that ApplyAccess restricted. An
// account locked by an interrupted DropUser is unlocked.
//
// The user's named lock (see withUserLock) keeps ApplyAccess from copying
// the old hash to a new account while the password changes.
//
// The plaintext never reaches the server: its mysql_native_password hash is
// sent with IDENTIFIED BY PASSWORD, on a connection with the general log
// switched off (sql_log_off). The password must be 1..1024 bytes of printable
// ASCII (see ValidPassword).
func (m *Driver) EnsureUser(ctx context.Context, username, password string) error {
	if err := provision.ValidNames("user", username); err != nil {
		return err
	}
	if err := provision.ValidPassword(password); err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	return m.withUserLock(ctx, username, func() error {
		return m.ensureUserHosts(ctx, username, password, mariaDefaultHosts)
	})
}

// ensureUserHosts is EnsureUser for an explicit list of host patterns: a
// user without accounts is created for hosts; a user with accounts keeps
// exactly those, and every one gets the password.
func (m *Driver) ensureUserHosts(ctx context.Context, username, password string, hosts []string) error {
	existing, err := m.manageableUserHosts(ctx, username)
	if err != nil {
		return err
	}
	hash := MySQLNativeHash(password)
	// The hash goes into the statement as a string literal (no placeholder
	// is allowed there); its alphabet is fixed by this regex, so it cannot
	// close the literal.
	if !nativeHashRE.MatchString(hash) {
		return fmt.Errorf("user %q: internal error: password hash has an unexpected form", username)
	}
	exec := func(what, host, stmt string) error {
		// The quiet pool keeps the hash out of the general query log. (The
		// binary log still carries it: replicas need it.)
		if _, err := m.quiet.ExecContext(ctx, stmt); err != nil {
			code := strconv.Itoa(int(mariaErrNumber(err)))
			return fmt.Errorf("%s user %q@%q: %w", what, username, host, provision.WithholdSecrets(err, code, hash, password))
		}
		return nil
	}
	want := existing
	if len(existing) == 0 {
		want = hosts
	}
	for _, h := range want {
		acct := mariaAccount(username, h)
		if !slices.Contains(existing, h) {
			// IF NOT EXISTS: a concurrent create of the same account must
			// not fail; the ALTER below is skipped only for accounts that
			// this statement certainly made with this hash.
			if err := exec("create", h, "CREATE USER IF NOT EXISTS "+acct+" IDENTIFIED BY PASSWORD '"+hash+"'"); err != nil {
				return err
			}
			continue
		}
		// ACCOUNT UNLOCK undoes the lock of an interrupted DropUser.
		if err := exec("alter", h, "ALTER USER "+acct+" IDENTIFIED BY PASSWORD '"+hash+"' ACCOUNT UNLOCK"); err != nil {
			return err
		}
	}
	return nil
}

// EnsureDatabase creates the database if missing (utf8mb4, unicode
// collation) and grants ALL PRIVILEGES on it to owner, for every host owner
// exists for. Grants on it held by any other user, or held by owner through
// an unescaped (wildcard) pattern, are revoked, so owner is the only grantee.
// The owner must already exist. A server with symbolic links enabled is
// refused (see checkSymlinksOff).
func (m *Driver) EnsureDatabase(ctx context.Context, name, owner string) error {
	if err := provision.ValidNames("database", name, "owner", owner); err != nil {
		return err
	}
	if mariaReservedDatabases[name] {
		return fmt.Errorf("database %q: %w", name, provision.ErrReserved)
	}
	if err := m.checkSymlinksOff(ctx); err != nil {
		return fmt.Errorf("database %q: %w", name, err)
	}
	// Under the owner's named lock, so that an account ApplyAccess adds
	// meanwhile cannot miss the grant.
	return m.withUserLock(ctx, owner, func() error { return m.ensureDatabase(ctx, name, owner) })
}

// ensureDatabase is EnsureDatabase after validation, under the owner's
// named lock.
func (m *Driver) ensureDatabase(ctx context.Context, name, owner string) error {
	hosts, err := m.manageableUserHosts(ctx, owner)
	if err != nil {
		return fmt.Errorf("database %q: owner: %w", name, err)
	}
	if len(hosts) == 0 {
		return fmt.Errorf("database %q: owner %q: %w", name, owner, provision.ErrNoSuchUser)
	}
	if _, err := m.db.ExecContext(ctx,
		"CREATE DATABASE IF NOT EXISTS "+mariaQuote(name)+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	for _, h := range hosts {
		// ALL PRIVILEGES at database level does not include GRANT OPTION,
		// so the tenant cannot pass access on.
		if _, err := m.db.ExecContext(ctx,
			"GRANT ALL PRIVILEGES ON "+mariaGrantDB(name)+".* TO "+mariaAccount(owner, h)); err != nil {
			return fmt.Errorf("grant on database %q to %q@%q: %w", name, owner, h, err)
		}
	}
	return m.revokeDatabaseGrants(ctx, name, owner)
}

// mariaGrant is one database-level grant row of mysql.db.
type mariaGrant struct{ user, host, db string }

// databaseGrants returns the database-level grants on exactly name, whether
// stored escaped (`cust\_a`, as this driver grants) or as a wildcard
// pattern (`cust_a`, as a hand-made grant might be).
func (m *Driver) databaseGrants(ctx context.Context, name string) ([]mariaGrant, error) {
	rows, err := m.db.QueryContext(ctx,
		"SELECT User, Host, Db FROM mysql.db WHERE Db = ? OR Db = ?", mariaGrantPattern(name), name)
	if err != nil {
		return nil, fmt.Errorf("list grants on database %q: %w", name, err)
	}
	defer rows.Close()
	var grants []mariaGrant
	for rows.Next() {
		var g mariaGrant
		if err := rows.Scan(&g.user, &g.host, &g.db); err != nil {
			return nil, fmt.Errorf("list grants on database %q: %w", name, err)
		}
		grants = append(grants, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list grants on database %q: %w", name, err)
	}
	return grants, nil
}

// revokeDatabaseGrants revokes the database-level grants on exactly name
// (see databaseGrants) except owner's escaped grant; owner "" revokes all.
func (m *Driver) revokeDatabaseGrants(ctx context.Context, name, owner string) error {
	grants, err := m.databaseGrants(ctx, name)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if g.user == owner && g.db == mariaGrantPattern(name) {
			continue
		}
		// g.db is the pattern exactly as stored, so it is quoted as is (not
		// escaped again) to name the same mysql.db row. Both statements are
		// needed: ALL PRIVILEGES does not cover GRANT OPTION.
		on := mariaQuote(g.db) + ".* FROM " + mariaAccount(g.user, g.host)
		for _, stmt := range []string{"REVOKE ALL PRIVILEGES ON " + on, "REVOKE GRANT OPTION ON " + on} {
			if _, err := m.db.ExecContext(ctx, stmt); err != nil && mariaErrNumber(err) != mariaErrNonexistingGrant {
				return fmt.Errorf("revoke on database %q from %q@%q: %w", name, g.user, g.host, err)
			}
		}
	}
	return nil
}

// killSessions kills the sessions selected by a PROCESSLIST condition (with
// one bind parameter), except the admin connection doing the killing.
func (m *Driver) killSessions(ctx context.Context, what, where, arg string) error {
	rows, err := m.db.QueryContext(ctx,
		"SELECT ID FROM information_schema.PROCESSLIST WHERE "+where+" AND ID <> CONNECTION_ID()", arg)
	if err != nil {
		return fmt.Errorf("list sessions of %s: %w", what, err)
	}
	var ids []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("list sessions of %s: %w", what, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list sessions of %s: %w", what, err)
	}
	rows.Close()
	for _, id := range ids {
		// KILL takes no placeholder; id is an integer read from the server.
		_, err := m.db.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatUint(id, 10))
		if err != nil && mariaErrNumber(err) != mariaErrNoSuchThread { // already gone: fine
			return fmt.Errorf("kill session %d of %s: %w", id, what, err)
		}
	}
	return nil
}

// DropDatabase kills the database's sessions, drops it if it exists, and
// revokes every grant on it.
//
// Sessions are found two ways: those whose default database it is, and all
// sessions of the users holding a grant on it. The second catches a session
// that uses qualified names (cust_a.t) from another default database, whose
// open transaction would otherwise make DROP DATABASE wait for its metadata
// locks.
//
// The grants are revoked because MariaDB keeps them after DROP DATABASE: a
// database created later under the same name would otherwise be open to the
// old owner at once. They are revoked last, so that a re-run after a crash
// still knows whose sessions to kill.
func (m *Driver) DropDatabase(ctx context.Context, name string) error {
	if err := provision.ValidNames("database", name); err != nil {
		return err
	}
	if mariaReservedDatabases[name] {
		return fmt.Errorf("database %q: %w", name, provision.ErrReserved)
	}
	grants, err := m.databaseGrants(ctx, name)
	if err != nil {
		return err
	}
	var users []string
	for _, g := range grants {
		if !slices.Contains(users, g.user) {
			users = append(users, g.user)
		}
	}
	stmt := "SET STATEMENT lock_wait_timeout = " + strconv.Itoa(dropDatabaseLockWait) +
		" FOR DROP DATABASE IF EXISTS " + mariaQuote(name)
	for attempt := 1; ; attempt++ {
		// A session can reconnect between the kill and the drop (its
		// grants still exist), so a lock timeout gets a fresh kill and
		// another try.
		if err := m.killSessions(ctx, fmt.Sprintf("database %q", name), "DB = ?", name); err != nil {
			return err
		}
		for _, u := range users {
			if err := m.killSessions(ctx, fmt.Sprintf("user %q", u), "USER = ?", u); err != nil {
				return err
			}
		}
		_, err = m.db.ExecContext(ctx, stmt)
		if err == nil || mariaErrNumber(err) != mariaErrLockWaitTimeout || attempt == dropDatabaseAttempts {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return m.revokeDatabaseGrants(ctx, name, "")
}

// DropUser locks the user's accounts (so no new session can start), kills
// the user's sessions and drops every account of the user (one per host).
// MariaDB lets a dropped user's open sessions live on, hence the kill.
func (m *Driver) DropUser(ctx context.Context, username string) error {
	if err := provision.ValidNames("user", username); err != nil {
		return err
	}
	return m.withUserLock(ctx, username, func() error { return m.dropUser(ctx, username) })
}

// dropUser is DropUser under the user's named lock, so that ApplyAccess
// cannot add an account the drop would miss.
func (m *Driver) dropUser(ctx context.Context, username string) error {
	hosts, err := m.manageableUserHosts(ctx, username)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if _, err := m.db.ExecContext(ctx, "ALTER USER IF EXISTS "+mariaAccount(username, h)+" ACCOUNT LOCK"); err != nil {
			return fmt.Errorf("lock user %q@%q: %w", username, h, err)
		}
	}
	if err := m.killSessions(ctx, fmt.Sprintf("user %q", username), "USER = ?", username); err != nil {
		return err
	}
	for _, h := range hosts {
		if _, err := m.db.ExecContext(ctx, "DROP USER IF EXISTS "+mariaAccount(username, h)); err != nil {
			return fmt.Errorf("drop user %q@%q: %w", username, h, err)
		}
	}
	return nil
}

// DatabaseExists reports whether the database exists.
func (m *Driver) DatabaseExists(ctx context.Context, name string) (bool, error) {
	if err := provision.ValidNames("database", name); err != nil {
		return false, err
	}
	return m.databaseExists(ctx, name)
}

// UserExists reports whether the user exists for any host.
func (m *Driver) UserExists(ctx context.Context, username string) (bool, error) {
	if err := provision.ValidNames("user", username); err != nil {
		return false, err
	}
	var n int
	if err := m.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ?", username).Scan(&n); err != nil {
		return false, fmt.Errorf("look up user %q: %w", username, err)
	}
	return n > 0, nil
}

// ListDatabases returns the databases whose names start with prefix, sorted.
// LEFT() = ? is used rather than LIKE because '_' in "cust_" is a wildcard.
func (m *Driver) ListDatabases(ctx context.Context, prefix string) ([]string, error) {
	if err := provision.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	return m.listNames(ctx, "databases",
		"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, CHAR_LENGTH(?)) = ?", prefix)
}

// ListUsers returns the users (each once, whatever its hosts) whose names
// start with prefix, sorted.
func (m *Driver) ListUsers(ctx context.Context, prefix string) ([]string, error) {
	if err := provision.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	return m.listNames(ctx, "users",
		"SELECT DISTINCT User FROM mysql.user WHERE LEFT(User, CHAR_LENGTH(?)) = ?", prefix)
}

func (m *Driver) listNames(ctx context.Context, what, query, prefix string) ([]string, error) {
	rows, err := m.db.QueryContext(ctx, query, prefix, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	all, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	// The SQL filter may be case-insensitive; filter exactly here and sort
	// bytewise so both engines order names the same way.
	names := []string{}
	for _, n := range all {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// scanStrings reads a one-column result set and closes it.
func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
