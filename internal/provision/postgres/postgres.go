// Package postgres is the provisioning driver for shared PostgreSQL
// servers: it implements the provision package's roles (see that package
// for the rules every driver follows).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// pgMaxConns keeps the admin pool small: a shared server's connection slots
// belong to the tenants, and DDL from the control plane is low volume.
const pgMaxConns = 8

// SQLSTATEs this driver reacts to.
const (
	pgDuplicateObject   = "42710" // CREATE ROLE raced with another CREATE ROLE
	pgUniqueViolation   = "23505" // same race, caught by pg_authid's unique index
	pgDuplicateDatabase = "42P04" // CREATE DATABASE raced with another
	pgUndefinedObject   = "42704" // role vanished between look-up and ALTER
)

// pgLockName serializes this package's transactions on one role or database
// across all Cellar processes: concurrent ALTER ROLE or GRANT on the same
// catalog row fails with "tuple concurrently updated" instead of waiting.
// The advisory lock is transaction-scoped, so it cannot outlive a failure;
// a hash collision merely serializes two unrelated names.
const pgLockName = "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1, 0))"

// pgReservedDatabases are PostgreSQL's own databases. The admin pool usually
// connects to "postgres", and the templates are copied by every CREATE
// DATABASE; Cellar must never alter or drop them.
var pgReservedDatabases = map[string]bool{"postgres": true, "template0": true, "template1": true}

// The roles this engine plays (see the provision package).
var (
	_ provision.Driver     = (*Driver)(nil)
	_ provision.LoadLogins = (*Driver)(nil)
)

// Driver is the provision.Driver (and provision.LoadLogins) of one
// PostgreSQL server (15 or later), connected through a small pgx pool with
// an admin role that is a superuser (needed for SET LOCAL log_statement and
// for managing roles and databases).
type Driver struct {
	pool *pgxpool.Pool
	// dropSem serializes DropDatabase: every DROP DATABASE scans all of
	// shared_buffers and forces an immediate checkpoint, so concurrent drops
	// on one server would stall every tenant on it. A channel rather than a
	// sync.Mutex so that waiting respects the caller's context.
	dropSem chan struct{}
	// accessSem serializes ApplyAccess, which rewrites pg_hba.conf; like
	// dropSem a channel, so that waiting respects the caller's context.
	accessSem chan struct{}
}

// Open connects to a PostgreSQL server with an admin DSN in any form
// pgx accepts (URL or key=value) and checks the connection. The pool is
// capped at 8 connections.
func Open(ctx context.Context, adminDSN string) (*Driver, error) {
	cfg, err := pgxpool.ParseConfig(adminDSN)
	if err != nil {
		// pgx's parse error quotes the connection string with the password
		// redacted only on a best-effort basis, and keeps the raw string in
		// a public field, so it is not wrapped.
		return nil, errors.New("postgresql: cannot parse admin DSN (details withheld: they may contain the password)")
	}
	cfg.MaxConns = pgMaxConns
	// Keep pgx's default exec mode (extended protocol with a statement
	// cache) for every query with parameters; never the simple protocol.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgresql: open pool: %w", err)
	}
	p := &Driver{pool: pool, dropSem: make(chan struct{}, 1), accessSem: make(chan struct{}, 1)}
	if err := p.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

// pgQuote is the only way this driver quotes an identifier for PostgreSQL.
// Callers have already checked the name with ValidIdentifier (or read it
// from a catalog), so quoting is defense in depth.
func pgQuote(name string) string {
	return pgx.Identifier{name}.Sanitize()
}

// pgCode returns the SQLSTATE of a server error, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Engine returns cellar.PostgreSQL.
func (p *Driver) Engine() cellar.Engine { return cellar.PostgreSQL }

// Close closes the admin pool.
func (p *Driver) Close() { p.pool.Close() }

// Ping checks that the server answers on the admin pool.
func (p *Driver) Ping(ctx context.Context) error {
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgresql: ping: %w", err)
	}
	return nil
}

// ServerVersion returns the server's version number, e.g. "15.18" (the
// distribution suffix of server_version, like "(Debian 15.18-1)", is cut).
func (p *Driver) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := p.pool.QueryRow(ctx, "SELECT current_setting('server_version')").Scan(&v); err != nil {
		return "", fmt.Errorf("postgresql: server version: %w", err)
	}
	if f := strings.Fields(v); len(f) > 0 {
		v = f[0]
	}
	return v, nil
}

// pgNoLogSettings are applied with SET LOCAL before a statement that carries a
// password verifier, so that no log or statistics view records its text:
//   - log_statement: DDL is commonly logged ('ddl' or 'all').
//   - log_min_error_statement: a failing statement is logged with its text
//     at the default level 'error'; 'panic' effectively turns that off.
//   - log_min_duration_statement / log_min_duration_sample: a slow
//     statement is logged with its text whatever log_statement says.
//   - log_transaction_sample_rate: logs every statement of sampled
//     transactions.
//   - pg_stat_statements.track_utility: pg_stat_statements stores utility
//     statements such as ALTER ROLE verbatim. If the extension is not loaded
//     this only sets a harmless placeholder variable.
//
// All of these are superuser-settable; if any SET fails the password
// statement is not sent (fail closed).
var pgNoLogSettings = []string{
	"SET LOCAL log_statement = 'none'",
	"SET LOCAL log_min_error_statement = 'panic'",
	"SET LOCAL log_min_duration_statement = -1",
	"SET LOCAL log_min_duration_sample = -1",
	"SET LOCAL log_transaction_sample_rate = 0",
	"SET LOCAL pg_stat_statements.track_utility = off",
}

// pgRoleAttrs are the attributes of every tenant role, applied on create and
// re-applied on every password change so that a role drifted by hand (say,
// given CREATEDB) converges back.
const pgRoleAttrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"

// checkRoleManageable refuses roles Cellar must never alter or drop: the admin
// role this driver is connected as, and any superuser. Without this, a bug
// that passed the admin's name to EnsureUser would demote it (NOSUPERUSER) or
// reset its password. exists reports whether the role exists at all.
func checkRoleManageable(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, username string) (exists bool, err error) {
	var super, self bool
	err = q.QueryRow(ctx,
		"SELECT rolsuper, rolname = current_user OR rolname = session_user FROM pg_catalog.pg_roles WHERE rolname = $1",
		username).Scan(&super, &self)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up role %q: %w", username, err)
	}
	if super || self {
		return true, fmt.Errorf("role %q is a superuser or the admin role: %w", username, provision.ErrReserved)
	}
	return true, nil
}

// EnsureUser creates a login role with the password, or sets the password
// (and resets the role's attributes) if the role exists.
//
// The plaintext never reaches the server: a SCRAM-SHA-256 verifier is
// computed here and sent instead, inside a transaction that first switches
// off statement logging (see pgNoLogSettings). The password must be 1..1024
// bytes of printable ASCII (see ValidPassword).
func (p *Driver) EnsureUser(ctx context.Context, username, password string) error {
	if err := provision.ValidNames("user", username); err != nil {
		return err
	}
	if err := provision.ValidPassword(password); err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	verifier, err := SCRAMVerifier(password)
	if err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	// The verifier goes into the statement as a string literal, since
	// CREATE/ALTER ROLE take no bind parameters. Its alphabet is fixed by
	// this regex, so it cannot close the literal.
	if !scramVerifierRE.MatchString(verifier) {
		return fmt.Errorf("user %q: internal error: SCRAM verifier has an unexpected form", username)
	}

	err = p.ensureRole(ctx, username, verifier, password)
	if err != nil && (pgCode(err) == pgDuplicateObject || pgCode(err) == pgUniqueViolation) {
		// Another caller created the role between our look-up and our
		// CREATE ROLE; the role exists now, so a retry takes the ALTER path.
		err = p.ensureRole(ctx, username, verifier, password)
	}
	return err
}

// ensureRole runs one attempt of EnsureUser's transaction.
func (p *Driver) ensureRole(ctx context.Context, username, verifier, password string) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for _, set := range pgNoLogSettings {
			if _, err := tx.Exec(ctx, set); err != nil {
				return fmt.Errorf("user %q: %s: %w", username, set, err)
			}
		}
		if _, err := tx.Exec(ctx, pgLockName, "cellar/provision/role/"+username); err != nil {
			return fmt.Errorf("user %q: lock: %w", username, err)
		}
		exists, err := checkRoleManageable(ctx, tx, username)
		if err != nil {
			return err
		}
		verb := "CREATE"
		if exists {
			verb = "ALTER"
		}
		stmt := verb + " ROLE " + pgQuote(username) + " WITH " + pgRoleAttrs + " PASSWORD '" + verifier + "'"
		if _, err := tx.Exec(ctx, stmt); err != nil {
			code := pgCode(err)
			err = provision.WithholdSecrets(err, "SQLSTATE "+code, verifier, password)
			return fmt.Errorf("%s role %q: %w", strings.ToLower(verb), username, err)
		}
		return nil
	})
}

// EnsureDatabase creates the database if missing, owned by owner, and makes
// owner the only role with database-level privileges: PUBLIC loses its
// default CONNECT and TEMPORARY, owner is granted CONNECT and TEMPORARY, and
// grants to any other role are revoked. An existing database with another
// owner is given to owner. The owner role must already exist.
//
// It also closes the server's shared databases to tenants (see
// closeSharedDatabases). A database left invalid by an interrupted drop
// yields ErrDatabaseInvalid.
func (p *Driver) EnsureDatabase(ctx context.Context, name, owner string) error {
	if err := provision.ValidNames("database", name, "owner", owner); err != nil {
		return err
	}
	if pgReservedDatabases[name] {
		return fmt.Errorf("database %q: %w", name, provision.ErrReserved)
	}
	// A superuser or the admin role as owner would defeat the isolation this
	// function exists for, so they are refused like in EnsureUser.
	if exists, err := checkRoleManageable(ctx, p.pool, owner); err != nil {
		return fmt.Errorf("database %q: owner: %w", name, err)
	} else if !exists {
		return fmt.Errorf("database %q: owner %q: %w", name, owner, provision.ErrNoSuchUser)
	}

	if err := p.closeSharedDatabases(ctx); err != nil {
		return fmt.Errorf("database %q: %w", name, err)
	}
	curOwner, invalid, found, err := p.databaseInfo(ctx, name)
	if err != nil {
		return err
	}
	if !found {
		// CREATE DATABASE cannot run inside a transaction block, so this is a
		// single statement on its own. The default strategy in 15+ is
		// WAL_LOG, which avoids the two checkpoints FILE_COPY forces.
		// A concurrent CREATE of the same name fails with 42P04, or with
		// 23505 from pg_database's unique index; either way it exists now.
		_, err := p.pool.Exec(ctx, "CREATE DATABASE "+pgQuote(name)+" OWNER "+pgQuote(owner))
		if err != nil && pgCode(err) != pgDuplicateDatabase && pgCode(err) != pgUniqueViolation {
			return fmt.Errorf("create database %q: %w", name, err)
		}
		if curOwner, invalid, found, err = p.databaseInfo(ctx, name); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("create database %q: database missing right after CREATE DATABASE (dropped concurrently?)", name)
		}
	}
	if invalid {
		return fmt.Errorf("database %q: %w", name, provision.ErrDatabaseInvalid)
	}

	// Everything below is re-run on every call, so a crash between CREATE
	// DATABASE and the REVOKE is healed by the next call.
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, pgLockName, "cellar/provision/database/"+name); err != nil {
			return fmt.Errorf("database %q: lock: %w", name, err)
		}
		// Re-read the owner under the lock: a concurrent call may have
		// changed it since the look-up above.
		if err := tx.QueryRow(ctx,
			"SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = $1",
			name).Scan(&curOwner); err != nil {
			return fmt.Errorf("look up database %q: %w", name, err)
		}
		if curOwner != owner {
			if _, err := tx.Exec(ctx, "ALTER DATABASE "+pgQuote(name)+" OWNER TO "+pgQuote(owner)); err != nil {
				return fmt.Errorf("alter database %q owner to %q: %w", name, owner, err)
			}
		}
		// By default PUBLIC may connect to every database and create
		// temporary tables in it; on a shared server that lets every tenant
		// into every other tenant's database.
		if _, err := tx.Exec(ctx, "REVOKE ALL ON DATABASE "+pgQuote(name)+" FROM PUBLIC"); err != nil {
			return fmt.Errorf("revoke public on database %q: %w", name, err)
		}
		if _, err := tx.Exec(ctx, "GRANT CONNECT, TEMPORARY ON DATABASE "+pgQuote(name)+" TO "+pgQuote(owner)); err != nil {
			return fmt.Errorf("grant on database %q to %q: %w", name, owner, err)
		}
		// Revoke database-level grants held by any other role, e.g. a
		// previous owner or a grant made by hand. Names read from the
		// catalog are quoted the same way as validated ones.
		rows, err := tx.Query(ctx, `
			SELECT DISTINCT pg_catalog.pg_get_userbyid(a.grantee)
			FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
			WHERE d.datname = $1 AND a.grantee <> 0 AND a.grantee <> d.datdba`, name)
		if err != nil {
			return fmt.Errorf("list grants on database %q: %w", name, err)
		}
		others, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list grants on database %q: %w", name, err)
		}
		for _, r := range others {
			if _, err := tx.Exec(ctx, "REVOKE ALL ON DATABASE "+pgQuote(name)+" FROM "+pgQuote(r)); err != nil {
				return fmt.Errorf("revoke on database %q from %q: %w", name, r, err)
			}
		}
		return nil
	})
}

// databaseInfo reads a database's owner and whether it is invalid
// (datconnlimit = -2 marks a database whose DROP DATABASE was interrupted,
// PostgreSQL 15.4+).
func (p *Driver) databaseInfo(ctx context.Context, name string) (owner string, invalid, found bool, err error) {
	err = p.pool.QueryRow(ctx,
		"SELECT pg_catalog.pg_get_userbyid(datdba), datconnlimit = -2 FROM pg_catalog.pg_database WHERE datname = $1",
		name).Scan(&owner, &invalid)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, fmt.Errorf("look up database %q: %w", name, err)
	}
	return owner, invalid, true, nil
}

// DropDatabase terminates the database's sessions and drops it if it exists,
// including a database left invalid by an earlier interrupted drop.
//
// At most one DropDatabase runs at a time per Postgres value (see dropSem);
// others wait, or give up when their context ends.
func (p *Driver) DropDatabase(ctx context.Context, name string) error {
	if err := provision.ValidNames("database", name); err != nil {
		return err
	}
	if pgReservedDatabases[name] {
		return fmt.Errorf("database %q: %w", name, provision.ErrReserved)
	}
	select {
	case p.dropSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("drop database %q: waiting for another drop: %w", name, ctx.Err())
	}
	defer func() { <-p.dropSem }()
	if err := p.clearTemplateFlag(ctx, name); err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}

	// WITH (FORCE) (PostgreSQL 13+) terminates the database's sessions and
	// stops new ones from starting in the same step, which a separate
	// pg_terminate_backend pass cannot do without a race. IF EXISTS makes the
	// re-run after a crash a no-op, and since 15.4 the same statement
	// finishes a drop that was interrupted and left the database invalid.
	if _, err := p.pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgQuote(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return nil
}

// DropUser ends the role's sessions and drops it if it exists. The role is
// first made NOLOGIN so no new session can start between the termination and
// the drop. The termination is needed because DROP ROLE succeeds while the
// role is logged in and leaves its sessions running.
//
// If the role still owns objects or holds privileges (for example on a
// database that was not dropped first), DROP ROLE fails and the error is
// returned; the role is then left NOLOGIN, and EnsureUser restores LOGIN.
func (p *Driver) DropUser(ctx context.Context, username string) error {
	if err := provision.ValidNames("user", username); err != nil {
		return err
	}
	exists, err := checkRoleManageable(ctx, p.pool, username)
	if err != nil {
		return err
	}
	if !exists {
		return nil
	}
	if _, err := p.pool.Exec(ctx, "ALTER ROLE "+pgQuote(username)+" NOLOGIN"); err != nil && pgCode(err) != pgUndefinedObject {
		return fmt.Errorf("disable login for role %q: %w", username, err)
	}
	// pg_terminate_backend's timeout (PostgreSQL 14+) waits up to 5 s for each
	// backend to exit, so the sessions are gone, not merely signalled, when
	// DROP ROLE runs.
	rows, err := p.pool.Query(ctx, `
		SELECT pg_catalog.pg_terminate_backend(pid, 5000)
		FROM pg_catalog.pg_stat_activity
		WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()`, username)
	if err != nil {
		return fmt.Errorf("terminate sessions of role %q: %w", username, err)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("terminate sessions of role %q: %w", username, err)
	}
	if _, err := p.pool.Exec(ctx, "DROP ROLE IF EXISTS "+pgQuote(username)); err != nil {
		return fmt.Errorf("drop role %q: %w", username, err)
	}
	return nil
}

// DatabaseExists reports whether the database exists. A database left
// invalid by an interrupted drop counts as existing, since it still blocks
// its name and still needs DropDatabase.
func (p *Driver) DatabaseExists(ctx context.Context, name string) (bool, error) {
	if err := provision.ValidNames("database", name); err != nil {
		return false, err
	}
	_, _, found, err := p.databaseInfo(ctx, name)
	return found, err
}

// UserExists reports whether the role exists.
func (p *Driver) UserExists(ctx context.Context, username string) (bool, error) {
	if err := provision.ValidNames("user", username); err != nil {
		return false, err
	}
	var ok bool
	if err := p.pool.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", username).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up role %q: %w", username, err)
	}
	return ok, nil
}

// ListDatabases returns the databases whose names start with prefix, sorted,
// PostgreSQL's own templates excluded (see pgNotTemplateDB). starts_with is
// used rather than LIKE because '_' in a prefix such as "cust_" is a LIKE
// wildcard.
func (p *Driver) ListDatabases(ctx context.Context, prefix string) ([]string, error) {
	if err := provision.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	return p.listNames(ctx, "databases", `
		SELECT d.datname FROM pg_catalog.pg_database d
		WHERE `+pgNotTemplateDB+` AND starts_with(d.datname, $1)
		ORDER BY d.datname COLLATE "C"`, prefix)
}

// ListUsers returns the roles whose names start with prefix, sorted.
func (p *Driver) ListUsers(ctx context.Context, prefix string) ([]string, error) {
	if err := provision.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	return p.listNames(ctx, "roles", `
		SELECT rolname FROM pg_catalog.pg_roles
		WHERE starts_with(rolname, $1)
		ORDER BY rolname COLLATE "C"`, prefix)
}

func (p *Driver) listNames(ctx context.Context, what, query, prefix string) ([]string, error) {
	rows, err := p.pool.Query(ctx, query, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	if names == nil {
		names = []string{}
	}
	return names, nil
}

// pgUndefinedDatabase is the SQLSTATE of a statement naming a database that
// does not exist (or was dropped while the statement ran).
const pgUndefinedDatabase = "3D000"

// pgTerminateWaitMS is how long pg_terminate_backend waits for each backend
// to exit (PostgreSQL 14+), so that an ended session is gone, not merely
// signalled, when a method returns.
const pgTerminateWaitMS = 5000

// pgClientSessions selects the client sessions in pg_stat_activity other
// than the admin connection running the query. Background processes that
// are attached to a database (autovacuum workers, parallel workers) are not
// sessions.
const pgClientSessions = `FROM pg_catalog.pg_stat_activity
	WHERE backend_type = 'client backend' AND pid <> pg_catalog.pg_backend_pid()`

// UserSessions returns the backend pids of the role's client sessions,
// sorted. A role without sessions, or that does not exist, has none.
func (p *Driver) UserSessions(ctx context.Context, username string) ([]int64, error) {
	if err := provision.ValidNames("user", username); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, "SELECT pid::int8 "+pgClientSessions+" AND usename = $1 ORDER BY pid", username)
	if err != nil {
		return nil, fmt.Errorf("list sessions of role %q: %w", username, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list sessions of role %q: %w", username, err)
	}
	if ids == nil {
		ids = []int64{}
	}
	return ids, nil
}

// EndSessions terminates those of the backends in ids that are still
// sessions of username, and returns how many it ended. The ownership check
// and the termination are one statement, so a pid whose session ended and
// whose number went to another role's new session is left alone.
//
// A pid is a process id, so a pid reused by a new session of the same role
// (after the kernel's pid counter wrapped) cannot be told apart from the old
// session and is ended too.
func (p *Driver) EndSessions(ctx context.Context, username string, ids []int64) (int, error) {
	if err := provision.ValidNames("user", username); err != nil {
		return 0, err
	}
	pids := make([]int32, 0, len(ids))
	for _, id := range ids {
		if id > 0 && id <= math.MaxInt32 { // anything else is no pid
			pids = append(pids, int32(id))
		}
	}
	if len(pids) == 0 {
		return 0, nil
	}
	// Never the admin role or a superuser: their sessions include the
	// control plane's own pools.
	if _, err := checkRoleManageable(ctx, p.pool, username); err != nil {
		return 0, err
	}
	return p.terminate(ctx, fmt.Sprintf("role %q", username), "usename = $1 AND pid = ANY($2)", username, pids)
}

// EndDatabaseSessions terminates every client session connected to the
// database and returns how many it ended; owner is only validated, since on
// PostgreSQL a session belongs to exactly one database. New sessions may
// start right after; SetConnectionLimit or DropDatabase keep them out.
func (p *Driver) EndDatabaseSessions(ctx context.Context, database, owner string) (int, error) {
	if err := provision.ValidNames("database", database, "owner", owner); err != nil {
		return 0, err
	}
	if pgReservedDatabases[database] {
		return 0, fmt.Errorf("database %q: %w", database, provision.ErrReserved)
	}
	_, _, found, err := p.databaseInfo(ctx, database)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("database %q: %w", database, provision.ErrNoSuchDatabase)
	}
	return p.terminate(ctx, fmt.Sprintf("database %q", database), "datname = $1", database)
}

// terminate ends the client sessions selected by cond (whose parameters are
// args), waiting up to pgTerminateWaitMS for each to exit, and returns how
// many it ended. pg_terminate_backend returns false both for a backend that
// exited on its own before the signal (not an error) and for one that did
// not exit in time (an error, reported after counting).
func (p *Driver) terminate(ctx context.Context, what, cond string, args ...any) (int, error) {
	rows, err := p.pool.Query(ctx,
		"SELECT pid, pg_catalog.pg_terminate_backend(pid, "+strconv.Itoa(pgTerminateWaitMS)+") "+pgClientSessions+" AND "+cond,
		args...)
	if err != nil {
		return 0, fmt.Errorf("end sessions of %s: %w", what, err)
	}
	ended := 0
	var missed []int32
	var pid int32
	var ok bool
	_, err = pgx.ForEachRow(rows, []any{&pid, &ok}, func() error {
		if ok {
			ended++
		} else {
			missed = append(missed, pid)
		}
		return nil
	})
	if err != nil {
		return ended, fmt.Errorf("end sessions of %s: %w", what, err)
	}
	if len(missed) > 0 {
		var alive int
		if err := p.pool.QueryRow(ctx,
			"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = ANY($1)", missed).Scan(&alive); err != nil {
			return ended, fmt.Errorf("end sessions of %s: %w", what, err)
		}
		if alive > 0 {
			return ended, fmt.Errorf("end sessions of %s: %d session(s) still running %d ms after pg_terminate_backend",
				what, alive, pgTerminateWaitMS)
		}
	}
	return ended, nil
}

// DatabaseInfo reads the database's size, its client sessions (without the
// admin connection asking), its connection limit and its owner in one
// statement. A database left invalid by an interrupted drop yields
// ErrDatabaseInvalid: it has no meaningful figures, only a drop to finish.
func (p *Driver) DatabaseInfo(ctx context.Context, database, owner string) (provision.DatabaseInfo, error) {
	if err := provision.ValidNames("database", database, "owner", owner); err != nil {
		return provision.DatabaseInfo{}, err
	}
	var info provision.DatabaseInfo
	var roleLimit int
	err := p.pool.QueryRow(ctx, `
		SELECT pg_catalog.pg_get_userbyid(d.datdba), d.datconnlimit, COALESCE(r.rolconnlimit, -1),
			CASE WHEN d.datconnlimit = -2 THEN 0 ELSE pg_catalog.pg_database_size(d.oid) END,
			(SELECT count(*) `+pgClientSessions+` AND datid = d.oid)
		FROM pg_catalog.pg_database d LEFT JOIN pg_catalog.pg_roles r ON r.oid = d.datdba
		WHERE d.datname = $1`, database).
		Scan(&info.Owner, &info.ConnectionLimit, &roleLimit, &info.SizeBytes, &info.Connections)
	if errors.Is(err, pgx.ErrNoRows) || pgCode(err) == pgUndefinedDatabase {
		return provision.DatabaseInfo{}, fmt.Errorf("database %q: %w", database, provision.ErrNoSuchDatabase)
	}
	if err != nil {
		return provision.DatabaseInfo{}, fmt.Errorf("read database %q: %w", database, err)
	}
	if info.ConnectionLimit == -2 {
		return provision.DatabaseInfo{}, fmt.Errorf("database %q: %w", database, provision.ErrDatabaseInvalid)
	}
	// The owner's role limit is the one the tenant cannot lift; the
	// database's may have been lifted by its owner. Report what binds.
	info.ConnectionLimit = provision.TighterLimit(info.ConnectionLimit, roleLimit)
	return info, nil
}
