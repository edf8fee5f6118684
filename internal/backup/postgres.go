package backup

// postgres.go: pg_dump, pg_restore.

import (
	"context"
	"fmt"
	"io"
	"strconv"
)

// pgConnArgs are the connection options common to pg_dump and pg_restore.
// --no-password: never prompt (a prompt would wait on a terminal forever).
func pgConnArgs(c Conn, database string) []string {
	return []string{
		"--host=" + c.Host,
		"--port=" + strconv.Itoa(c.Port),
		"--username=" + c.User,
		"--no-password",
		// A validated identifier has no '=' and is no URI, so libpq takes
		// it as a plain database name, not a connection string.
		"--dbname=" + database,
	}
}

// pgEnv passes the password, and bounds a connection attempt for a caller
// whose context has no deadline.
func pgEnv(c Conn) []string {
	return []string{"PGPASSWORD=" + c.Password, "PGCONNECT_TIMEOUT=30"}
}

func (t Tools) dumpPostgres(ctx context.Context, c Conn, database string, w io.Writer, progress func(int64)) error {
	args := append([]string{
		// Custom format: one file, compressed per data block, that
		// pg_restore can read from a pipe. PG15 has gzip only; level 1 is
		// the fastest.
		"--format=custom",
		"--compress=1",
	}, pgConnArgs(c, database)...)
	p := command(ctx, toolSpec{
		name: "pg_dump", path: t.pgBin("pg_dump"), args: args, env: pgEnv(c), secret: c.Password,
	})
	stdout, err := p.stdoutPipe()
	if err != nil {
		return fmt.Errorf("dump postgresql database %q: %w", database, err)
	}
	if err := p.start(); err != nil {
		return fmt.Errorf("dump postgresql database %q: %w", database, err)
	}
	pw := &progressWriter{w: w, fn: progress}
	drainErr := p.drain(stdout, pw)
	waitErr := p.wait(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	// A write error comes first: the tool's death (SIGKILL) follows from it.
	if drainErr != nil {
		return fmt.Errorf("dump postgresql database %q: %w", database, drainErr)
	}
	if waitErr != nil {
		return fmt.Errorf("dump postgresql database %q: %w", database, waitErr)
	}
	pw.flush()
	return nil
}

// restorePostgres runs pg_restore logged in as c, which must be owner or a
// login whose only rights are its membership in owner (never the admin:
// tenant code runs in this session, from CHECK constraints, defaults,
// triggers, index expressions and materialized views, and could RESET ROLE
// to the session user), with --role=owner, so every object is created by,
// and owned by, owner.
//
// --no-privileges: the dump's GRANT/REVOKE statements are not restored. They
// name the old owner, which breaks the restore or leaks access:
//   - ALTER DEFAULT PRIVILEGES FOR ROLE old_owner ... fails under
//     --role=owner ("must be member of role"), aborting the restore;
//   - an object whose owner changed its own privileges (REVOKE DELETE ON t
//     FROM old_owner) is dumped as REVOKE ALL ... FROM old_owner; GRANT ...
//     TO old_owner, which grants the old tenant rights in the new database,
//     or fails on a server where that role does not exist.
//
// Nothing enforceable is lost in Cellar's model: only the owner may connect
// to a customer database (EnsureDatabase revokes CONNECT from PUBLIC), so
// grants to PUBLIC or to other roles give nobody access, and the owner has
// every privilege on the objects it owns. If Cellar ever adds more roles per
// database, selective grants can come back with a filtered TOC (pg_restore
// -L).
//
// Also skipped: tablespace assignments (tenants cannot create tablespaces,
// and another server may not have them), subscriptions (superuser-only, and
// they would connect out) and security labels (need a label provider).
func (t Tools) restorePostgres(ctx context.Context, c Conn, database, owner string, r io.Reader) error {
	args := append([]string{
		"--no-owner",
		"--no-privileges",
		"--role=" + owner,
		"--single-transaction",
		"--exit-on-error",
		"--no-tablespaces",
		"--no-subscriptions",
		"--no-security-labels",
	}, pgConnArgs(c, database)...)
	p := command(ctx, toolSpec{
		name: "pg_restore", path: t.pgBin("pg_restore"), args: args, env: pgEnv(c), secret: c.Password,
	})
	if err := p.runInput(ctx, r); err != nil {
		return fmt.Errorf("restore postgresql database %q: %w", database, err)
	}
	return nil
}

// verifyPostgres reads the whole archive with pg_restore, which writes the
// SQL script it would run to /dev/null.
func (t Tools) verifyPostgres(ctx context.Context, r io.Reader) error {
	p := command(ctx, toolSpec{
		name: "pg_restore", path: t.pgBin("pg_restore"), args: []string{"--file=/dev/null"},
	})
	if err := p.runInput(ctx, r); err != nil {
		return fmt.Errorf("verify postgresql dump: %w", err)
	}
	return nil
}
