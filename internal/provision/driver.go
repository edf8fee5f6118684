// Package provision is the contract of the only code in Cellar that runs
// DDL on managed database servers, the engine drivers: they create and drop
// customer databases and their login users on shared PostgreSQL 15
// (package provision/postgres) and MariaDB 10.11 (package provision/mariadb)
// servers. This package holds what they share: the role interfaces they
// implement, shared types and errors, and name validation.
//
// Design rules that every engine driver follows:
//
//   - Every name is checked with ValidIdentifier before any SQL is built, and
//     then quoted by exactly one quoting function per engine. Values that the
//     server accepts as bind parameters (catalog queries) are sent as such.
//   - Plaintext passwords never leave the process: PostgreSQL receives a
//     client-computed SCRAM-SHA-256 verifier and MariaDB a mysql_native_password
//     hash. Neither a password nor its hash ever appears in an error.
//   - Every method is idempotent and safe to call again after a crash at any
//     point, so a level-triggered reconciler can simply retry.
//   - The drivers refuse to touch the server's own system databases and
//     administrative accounts, since a bug upstream must not be able to drop
//     "postgres" or demote the admin user.
//
// Tenant content and privileged sessions never meet. No tenant-controlled
// content (a dump's objects and data, a function, a view, a trigger, a
// constraint, a default, an index expression, a materialized view) is ever
// loaded, refreshed or evaluated in a session whose session user is
// privileged: SET ROLE / --role is no boundary, since code running in the
// session can RESET ROLE. So:
//
//   - A PostgreSQL restore logs in as a load login (EnsureLoadLogin): a
//     NOSUPERUSER role made for that restore whose only rights are its
//     membership in the database's owner, dropped afterwards
//     (DropLoadLogin, whose clean-up inside the database runs as the login
//     too). Cellar's pg_hba.conf section lets load logins in ahead of the
//     tenants' allowlists.
//   - A MariaDB restore logs in as the owner's own account, and every
//     DEFINER in the dump is rewritten to that account (CURRENT_USER()); a
//     non-SUPER account can only name itself as definer, so a clause the
//     rewrite missed fails instead of running as someone else.
//   - What needs the admin (creating the empty target database, the swap,
//     drops, grants, pg_hba.conf) happens before or after the load, and
//     never evaluates tenant objects: the PostgreSQL admin pool stays in the
//     maintenance database and only reads catalogs and renames; the MariaDB
//     swap re-creates saved view, trigger, routine and event definitions
//     (creating them runs none of them) and renames tables.
//   - Snapshots (pg_dump, mariadb-dump) read as the admin. pg_dump pins an
//     empty search_path, reads catalogs and copies table data with COPY,
//     which fires no trigger and calls no tenant function (tenants cannot
//     create base types, whose output functions would run); mariadb-dump
//     only reads too.
package provision

import (
	"context"
	"errors"

	"github.com/cellar/cellar/internal/cellar"
)

// ErrReserved is returned (wrapped) when a name refers to a system database
// or an administrative account that Cellar must never create, alter or drop.
var ErrReserved = errors.New("reserved name")

// ErrNoSuchUser is returned (wrapped) by EnsureDatabase when the owner does
// not exist: the caller must run EnsureUser first.
var ErrNoSuchUser = errors.New("user does not exist")

// ErrDatabaseInvalid is returned (wrapped) by PostgreSQL's EnsureDatabase for
// a database left invalid by an interrupted DROP DATABASE (PostgreSQL 15.4+
// marks it with pg_database.datconnlimit = -2). Nobody can connect to such a
// database; the only way forward is to finish the drop with DropDatabase.
var ErrDatabaseInvalid = errors.New("database is invalid (interrupted DROP DATABASE); finish it with DropDatabase")

// ErrNoSuchDatabase is returned (wrapped) by SetConnectionLimit,
// EndDatabaseSessions and DatabaseInfo when the database does not exist.
var ErrNoSuchDatabase = errors.New("database does not exist")

// Unlimited is the connection limit that removes a limit (see
// Limiter.SetConnectionLimit and DatabaseInfo.ConnectionLimit).
const Unlimited = -1

// DatabaseInfo holds a database's live figures, read from the server by
// Sampler.DatabaseInfo.
type DatabaseInfo struct {
	// SizeBytes is the database's size: PostgreSQL's pg_database_size (files
	// on disk, about 7.5 MB for an empty database), MariaDB's sum of
	// DATA_LENGTH + INDEX_LENGTH over the schema's tables (0 when it has
	// none). For InnoDB tables MariaDB's figure comes from index statistics,
	// so it can lag behind recent writes until the statistics are
	// recalculated (in the background, or by ANALYZE TABLE).
	SizeBytes int64
	// Connections is the number of current sessions on the database, counted
	// the way EndDatabaseSessions selects them, without the admin connection
	// that asks.
	Connections int
	// ConnectionLimit is the limit set by SetConnectionLimit, or Unlimited
	// (-1). On PostgreSQL it is pg_database.datconnlimit; on MariaDB the
	// MAX_USER_CONNECTIONS of the owner's accounts (the most permissive one
	// if they differ; 0 if an account is set to refuse every connection).
	ConnectionLimit int
	// Owner is the database's owner: on PostgreSQL the role in
	// pg_database.datdba; on MariaDB, which has no owners, the owner passed
	// in if it holds the database-level grant on exactly this database, else
	// the user that does (the first by name if several do), else "".
	Owner string
}

// The contract is split into roles, small interfaces that a driver
// implements only where its server supports them: every driver is a Server;
// a shared PostgreSQL or MariaDB server is also a Provisioner, Limiter,
// SessionManager, AccessManager, Swapper and Sampler (together a Driver);
// PostgreSQL alone makes LoadLogins. Callers ask for the role they need, so
// a driver for another kind of server (Redis, a dedicated instance)
// implements Server and what it supports, and nothing else. All methods are
// idempotent: safe to call again after a crash at any point.

// Server is the part every driver implements: which engine it talks to, a
// health check, and the connection's lifetime.
type Server interface {
	// Engine reports which engine this driver talks to.
	Engine() cellar.Engine
	// Ping checks that the admin connection to the server works.
	Ping(ctx context.Context) error
	// ServerVersion returns the server's version, e.g. "15.18" or
	// "10.11.19-MariaDB".
	ServerVersion(ctx context.Context) (string, error)
	// Close releases the driver's connections.
	Close()
}

// Provisioner creates, drops and lists databases and their login users.
type Provisioner interface {
	// EnsureUser creates a login user with the password, or sets the password
	// if the user exists.
	EnsureUser(ctx context.Context, username, password string) error
	// EnsureDatabase creates the database if missing, owned by / granted only
	// to owner.
	EnsureDatabase(ctx context.Context, name, owner string) error
	// DropDatabase terminates the database's sessions and drops it if it
	// exists.
	DropDatabase(ctx context.Context, name string) error
	// DropUser ends the user's sessions and drops it if it exists.
	DropUser(ctx context.Context, username string) error
	// DatabaseExists reports whether the database exists.
	DatabaseExists(ctx context.Context, name string) (bool, error)
	// UserExists reports whether the user exists (for MariaDB: for any host).
	UserExists(ctx context.Context, username string) (bool, error)
	// ListDatabases returns the names of databases starting with prefix
	// (e.g. "cust_"), sorted, for drift reports. An empty prefix lists all.
	ListDatabases(ctx context.Context, prefix string) ([]string, error)
	// ListUsers returns the names of users starting with prefix, sorted, for
	// drift reports. An empty prefix lists all.
	ListUsers(ctx context.Context, prefix string) ([]string, error)
}

// Limiter sets and reads connection limits.
type Limiter interface {
	// SetConnectionLimit caps the simultaneous connections to the database:
	// on PostgreSQL with ALTER ROLE owner ... CONNECTION LIMIT, which the
	// tenant cannot change, and the same value on ALTER DATABASE ...
	// CONNECTION LIMIT (superusers are exempt; see postgres/limits.go), on
	// MariaDB with ALTER USER ... WITH MAX_USER_CONNECTIONS for every host
	// the owner exists for (per account, so each host pattern gets limit
	// connections of its own). limit must be 1..math.MaxInt32, or Unlimited
	// (-1) to remove the limit. owner must be the database's owner
	// (PostgreSQL) or hold its grant (MariaDB). A missing database gives
	// ErrNoSuchDatabase.
	SetConnectionLimit(ctx context.Context, database, owner string, limit int) error
	// ConnectionLimits lists where connection limits are set for the users
	// (and, on PostgreSQL, databases) whose names start with prefix: the
	// reconciler compares them with the metadata to find limits changed
	// behind Cellar's back.
	ConnectionLimits(ctx context.Context, prefix string) ([]LimitSetting, error)
}

// SessionManager lists and ends tenants' sessions.
type SessionManager interface {
	// UserSessions lists the ids of the user's current sessions (PostgreSQL
	// backend pids, MariaDB connection ids), sorted, excluding the admin
	// connection itself. A user without sessions, or that does not exist,
	// has none.
	UserSessions(ctx context.Context, username string) ([]int64, error)
	// EndSessions ends those of ids that still belong to username (an id
	// now used by another user's session is left alone) and returns how
	// many it ended. It is meant for ending, after a password rotation, the
	// sessions UserSessions listed before it.
	EndSessions(ctx context.Context, username string, ids []int64) (int, error)
	// EndDatabaseSessions ends every session on the database and returns
	// how many it ended: on PostgreSQL those connected to it; on MariaDB
	// those whose default database it is, plus the owner's sessions without
	// a default database (or on information_schema), since a tenant user may
	// connect without one and use qualified names; the owner's sessions on
	// another database of its own are left alone. Never the admin's own
	// connection. New sessions may start right after. A missing database
	// gives ErrNoSuchDatabase.
	EndDatabaseSessions(ctx context.Context, database, owner string) (int, error)
}

// AccessManager enforces network access rules on the server.
type AccessManager interface {
	// ApplyAccess converges the server to the policy and returns a
	// description of each repair it made (empty when the server already
	// matched). only, if non-nil, restricts the work to those databases
	// where the engine allows it (MariaDB); PostgreSQL always rewrites its
	// whole section. A server whose access cannot be managed from this
	// process gives ErrAccessUnsupported; a source the engine cannot
	// express gives ErrSourceUnsupported (see CheckSource).
	ApplyAccess(ctx context.Context, p AccessPolicy, only []string) ([]string, error)
}

// Swapper puts a restored copy of a database in place of the live one.
type Swapper interface {
	// SwapDatabase makes the contents of replacement become database live,
	// and moves live's previous contents to retired (a new name), ending
	// the live database's sessions at the swap. owner is live's owner/user.
	// Afterwards live has the same owner, privileges, connection limit and
	// access (pg CONNECT only for the owner; MariaDB grants of the owner's
	// accounts) as before; replacement no longer exists; retired holds the
	// old contents and is dropped later by the caller with DropDatabase. It
	// is idempotent: called again after a crash at any point, it completes
	// the swap (or reports it already done) and never swaps back. See
	// postgres/swap.go and mariadb/swap*.go for each engine's design, what
	// a failure leaves behind and what a re-run does.
	SwapDatabase(ctx context.Context, live, replacement, retired, owner string) error
	// SwapProgress reads how far a SwapDatabase of these names got, for a
	// caller whose swap returned an error and who must decide whether to
	// undo (SwapNotStarted) or not (SwapPartial, SwapDone).
	SwapProgress(ctx context.Context, live, replacement, retired string) (SwapProgress, error)
}

// Sampler reads live figures of the server and its databases.
type Sampler interface {
	// DatabaseInfo reads the database's live figures. A missing database
	// gives ErrNoSuchDatabase.
	DatabaseInfo(ctx context.Context, database, owner string) (DatabaseInfo, error)
	// Sample reads, in one pass over the server (a few queries, not one
	// per database), the figures of every database whose name starts with
	// prefix ("cust_"; "" for all), and the server's own figures (see
	// ServerSample and each engine's metrics.go). The process figures are
	// nil, not an error, when the server's process cannot be found on this
	// host.
	Sample(ctx context.Context, prefix string) (ServerSample, error)
}

// LoadLogins makes and drops the logins that load tenant content without
// privilege (see the package comment's rule). PostgreSQL only: a MariaDB
// restore logs in as the owner's own account.
type LoadLogins interface {
	// EnsureLoadLogin creates login, a role with no more rights than
	// owner's, or resets its password. The name must start with
	// PGLoadLoginPrefix.
	EnsureLoadLogin(ctx context.Context, login, owner, password string) error
	// DropLoadLogin hands what login owns in the databases to owner,
	// logged in as the login, and drops it.
	DropLoadLogin(ctx context.Context, login, owner, password string, databases ...string) error
}

// PGLoadLoginPrefix starts the name of every PostgreSQL load login.
const PGLoadLoginPrefix = "cellar_load_"

// Driver is a shared server's driver: every role but LoadLogins. The
// PostgreSQL and MariaDB drivers implement it, and the service's database
// lifecycle works with it.
type Driver interface {
	Server
	Provisioner
	Limiter
	SessionManager
	AccessManager
	Swapper
	Sampler
}

// ErrUnsupported is returned (wrapped) when a server's driver does not play
// the role an operation needs.
var ErrUnsupported = errors.New("not supported by this server's driver")

// ErrUnsafeServer is returned (wrapped) by EnsureDatabase on a server whose
// configuration would let a tenant reach beyond its database; the message
// says which setting to change.
var ErrUnsafeServer = errors.New("server configuration lets tenants escape their database")
