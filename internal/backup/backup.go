// Package backup makes logical dumps of customer databases and restores them,
// with the engines' own client tools: pg_dump/pg_restore for PostgreSQL and
// mariadb-dump/mariadb for MariaDB.
//
// Dumps stream: the tool's output goes to the caller's writer (usually a
// snapstore.Writer) as it is produced and is never held whole in memory or
// on a temporary disk. A restore streams the same way from a reader.
//
// Formats:
//   - postgresql: pg_dump's custom format (-Fc) with gzip level 1 (-Z 1), one
//     file that pg_restore reads. It is dumped as the admin and holds
//     ownership and privileges, so it is complete; Restore chooses what to
//     apply (see Tools.Restore).
//   - mariadb: mariadb-dump's SQL script of the one database, without
//     CREATE DATABASE or USE, so it can be loaded into a database of another
//     name, gzip-compressed in-process.
//
// The admin password reaches the tools only through their environment
// (PGPASSWORD, MYSQL_PWD), never their command line, where any local user
// could read it; it never appears in an error either.
package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cellar/cellar/internal/provision"

	"github.com/cellar/cellar/internal/cellar"
)

// Conn is how the tools reach the server: as its admin for Dump, as a
// login with the tenant's rights for Restore. The password goes to
// the child process through the environment (PGPASSWORD / MYSQL_PWD), never
// its argv, and never into an error message.
type Conn struct {
	Host           string
	Port           int
	User, Password string
}

// Tools locates the client tools. The zero value uses the defaults:
// PGBinDir from `pg_config --bindir` if pg_config is on PATH and that
// directory holds pg_dump, else /usr/lib/postgresql/15/bin; MariaDBDump
// /usr/bin/mariadb-dump; MariaDB /usr/bin/mariadb.
type Tools struct {
	// PGBinDir holds pg_dump and pg_restore.
	PGBinDir string
	// MariaDBDump is the mariadb-dump binary; MariaDB the mariadb client.
	MariaDBDump, MariaDB string
}

// Default tool locations.
const (
	DefaultPGBinDir    = "/usr/lib/postgresql/15/bin"
	DefaultMariaDBDump = "/usr/bin/mariadb-dump"
	DefaultMariaDB     = "/usr/bin/mariadb"
)

// ErrUnknownEngine is returned (wrapped) for an engine other than
// cellar.PostgreSQL or cellar.MariaDB.
var ErrUnknownEngine = errors.New("unknown engine")

// ErrNotEmpty is returned (wrapped) by Restore when the target MariaDB
// database already holds tables, views, routines or events: the dump's DROP
// TABLE IF EXISTS statements would silently replace some of them.
var ErrNotEmpty = errors.New("target database is not empty")

// ErrIncomplete is returned (wrapped) for a MariaDB dump stream without the
// completion trailer mariadb-dump writes last ("-- Dump completed").
var ErrIncomplete = errors.New("dump is incomplete: no completion trailer")

// Dump writes a consistent logical dump of database to w as it is produced
// (streamed; never whole in memory). progress, if non-nil, is called with the
// cumulative bytes written to w, at most four times a second, plus once at
// the end with the total. It is called on Dump's goroutine between writes, so
// it should return quickly (the tool's output waits in a 1 MB pipe buffer
// meanwhile).
//
//   - postgresql: pg_dump -Fc -Z 1 of the database, as the admin, including
//     owner and privileges information. pg_dump runs in one REPEATABLE READ
//     transaction, so the dump is consistent.
//   - mariadb: mariadb-dump --single-transaction --routines --triggers
//     --events --hex-blob --default-character-set=utf8mb4 of the database
//     (consistent for InnoDB tables only), gzip-compressed as it streams.
//
// A failing tool gives a *ToolError (wrapped) with the end of its error
// output; Dump returns nil only if the tool exited 0 and, for MariaDB, the
// dump ends with its completion trailer. When ctx ends, the tool is killed
// and Dump returns ctx.Err(). On any error, w holds a partial dump that the
// caller must discard (snapstore.Writer.Abort).
func (t Tools) Dump(ctx context.Context, engine cellar.Engine, c Conn, database string, w io.Writer, progress func(int64)) error {
	if err := provision.ValidIdentifier(database); err != nil {
		return fmt.Errorf("dump: database: %w", err)
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("dump %q: %w", database, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch engine {
	case cellar.PostgreSQL:
		return t.dumpPostgres(ctx, c, database, w, progress)
	case cellar.MariaDB:
		return t.dumpMariaDB(ctx, c, database, w, progress)
	}
	return fmt.Errorf("dump %q: %w %q", database, ErrUnknownEngine, engine)
}

// Restore loads a dump made by Dump into the existing, empty database
// `database`, with every object owned by `owner`, logged in as c. c is NOT
// the admin: tenant code runs in the loading session, so c must be a login
// with no more rights than owner (PostgreSQL: owner, or a load login that is
// only a member of owner, see postgres.Driver.EnsureLoadLogin; MariaDB:
// an account of owner). It streams from r and, like
// Dump, reports the tool's error output on failure and returns ctx.Err() when
// ctx ends.
//
//   - postgresql: pg_restore --no-owner --no-privileges --role=owner
//     --single-transaction --exit-on-error, as c. The objects are
//     created by owner, so owner owns them and has all privileges on them.
//     Grants are not restored: see restorePostgres for why. Tablespace
//     assignments, subscriptions and security labels are skipped too. A
//     failed restore is rolled back whole.
//   - mariadb: the stream is gunzipped and piped into `mariadb database` as
//     c, after every DEFINER clause (views, routines, triggers, events) is
//     rewritten to c's own account (CURRENT_USER(), which must be an
//     account of owner). A non-SUPER account can only name itself as
//     definer, so a clause the rewrite missed fails. The database must be
//     empty (ErrNotEmpty). Afterwards every definer in the database is
//     checked; one the rewrite missed fails the restore. MariaDB cannot roll
//     DDL back, so a failed restore can leave part of the dump behind: drop
//     and recreate the database before retrying.
func (t Tools) Restore(ctx context.Context, engine cellar.Engine, c Conn, database, owner string, r io.Reader) error {
	if err := provision.ValidIdentifier(database); err != nil {
		return fmt.Errorf("restore: database: %w", err)
	}
	if err := provision.ValidIdentifier(owner); err != nil {
		return fmt.Errorf("restore %q: owner: %w", database, err)
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("restore %q: %w", database, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch engine {
	case cellar.PostgreSQL:
		return t.restorePostgres(ctx, c, database, owner, r)
	case cellar.MariaDB:
		return t.restoreMariaDB(ctx, c, database, owner, r)
	}
	return fmt.Errorf("restore %q: %w %q", database, ErrUnknownEngine, engine)
}

// Verify does a readability check of a dump without restoring it or
// connecting to a server. It reads the whole stream:
//
//   - postgresql: pg_restore reads the archive through, decompressing every
//     data block, and writes the script it would run to /dev/null. (pg_restore
//     -l reads only the table of contents at the start of the archive, so it
//     accepts a dump cut off anywhere in the data.) zlib's checksums catch
//     corrupted data blocks; the table of contents has no checksum, and
//     corruption there is only caught if it breaks the format. Compare the
//     SHA-256 recorded at creation for that.
//   - mariadb: gunzips the whole stream (gzip's CRC-32 and length catch
//     truncation and corruption) and checks the dump's header and its
//     completion trailer "-- Dump completed".
//
// The only real proof of a dump is a test restore.
func (t Tools) Verify(ctx context.Context, engine cellar.Engine, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch engine {
	case cellar.PostgreSQL:
		return t.verifyPostgres(ctx, r)
	case cellar.MariaDB:
		return verifyMariaDB(ctx, r)
	}
	return fmt.Errorf("verify: %w %q", ErrUnknownEngine, engine)
}

// validate checks the connection settings that go on the tools' command
// lines. The password is never quoted in the errors.
func (c Conn) validate() error {
	if c.Host == "" {
		return errors.New("connection: host is required")
	}
	if strings.ContainsFunc(c.Host, isControlOrSpace) || strings.HasPrefix(c.Host, "-") {
		return fmt.Errorf("connection: invalid host %q", c.Host)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("connection: invalid port %d", c.Port)
	}
	if c.User == "" {
		return errors.New("connection: user is required")
	}
	if strings.ContainsFunc(c.User, isControlOrSpace) || strings.HasPrefix(c.User, "-") {
		return fmt.Errorf("connection: invalid user %q", c.User)
	}
	// An environment variable cannot hold a NUL byte.
	if strings.IndexByte(c.Password, 0) >= 0 {
		return errors.New("connection: invalid password: contains a NUL byte")
	}
	return nil
}

func isControlOrSpace(r rune) bool { return r <= ' ' || r == 0x7f }

// pgBin returns the path of a PostgreSQL client tool.
func (t Tools) pgBin(name string) string {
	dir := t.PGBinDir
	if dir == "" {
		dir = defaultPGBinDir()
	}
	return filepath.Join(dir, name)
}

func (t Tools) mariaDBDump() string {
	if t.MariaDBDump != "" {
		return t.MariaDBDump
	}
	return DefaultMariaDBDump
}

func (t Tools) mariaDB() string {
	if t.MariaDB != "" {
		return t.MariaDB
	}
	return DefaultMariaDB
}

// defaultPGBinDir asks pg_config where the client tools are (Debian keeps
// them off PATH in a versioned directory), once per process.
var defaultPGBinDir = sync.OnceValue(func() string {
	if pc, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(pc, "--bindir").Output(); err == nil {
			d := strings.TrimSpace(string(out))
			if _, err := os.Stat(filepath.Join(d, "pg_dump")); err == nil {
				return d
			}
		}
	}
	return DefaultPGBinDir
})
