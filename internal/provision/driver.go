// Package provision is the only code in Cellar that runs DDL on managed
// database servers: it creates and drops customer databases and their login
// users on shared PostgreSQL 15 and MariaDB 10.11 servers.
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
package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Engine names returned by Driver.Engine and accepted by Open.
const (
	EnginePostgres = "postgresql"
	EngineMariaDB  = "mariadb"
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

// Driver manages databases and their users on one managed server. All methods
// are idempotent: safe to call again after a crash at any point.
type Driver interface {
	// Engine reports which engine this driver talks to: EnginePostgres or
	// EngineMariaDB.
	Engine() string
	// Ping checks that the admin connection to the server works.
	Ping(ctx context.Context) error
	// ServerVersion returns the server's version, e.g. "15.18" or
	// "10.11.19-MariaDB".
	ServerVersion(ctx context.Context) (string, error)
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
	// Close releases the driver's connections.
	Close()
}

// Compile-time checks that both engines implement Driver.
var (
	_ Driver = (*Postgres)(nil)
	_ Driver = (*MariaDB)(nil)
)

// Open connects to a managed server of the given engine (EnginePostgres or
// EngineMariaDB) with an admin DSN in that engine's driver format.
func Open(ctx context.Context, engine, adminDSN string) (Driver, error) {
	switch engine {
	case EnginePostgres:
		p, err := OpenPostgres(ctx, adminDSN)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return p, nil
	case EngineMariaDB:
		m, err := OpenMariaDB(ctx, adminDSN)
		if err != nil {
			return nil, err
		}
		return m, nil
	default:
		return nil, fmt.Errorf("unknown engine %q (want %q or %q)", engine, EnginePostgres, EngineMariaDB)
	}
}

// validNames runs ValidIdentifier over each name, labelling the error with
// the argument's role ("database", "user", ...).
func validNames(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := ValidIdentifier(pairs[i+1]); err != nil {
			return fmt.Errorf("%s: %w", pairs[i], err)
		}
	}
	return nil
}

// withholdSecrets returns err unchanged unless its text quotes one of the
// secrets (or a base64/hex chunk of one), in which case it returns a new error
// that keeps only code (e.g. a SQLSTATE) and does not wrap the original: a
// caller that logs the error, or digs the server error out with errors.As,
// must not find a credential in it. Servers do not normally echo a literal
// from a well-formed statement, but a syntax error message quotes the token
// near the error, so this is cheap insurance.
func withholdSecrets(err error, code string, secrets ...string) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	for _, s := range secrets {
		for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '$' || r == ':' || r == '*' }) {
			if len(part) >= 8 && strings.Contains(text, part) {
				return fmt.Errorf("server error %s (message withheld: it quoted a credential)", code)
			}
		}
	}
	return err
}
