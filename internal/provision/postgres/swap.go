package postgres

// SwapDatabase for PostgreSQL.
//
// PostgreSQL renames databases, and ALTER DATABASE ... RENAME is allowed in
// a transaction block (it only updates pg_database; checked on 15), so the
// swap itself is one transaction:
//
//	ALTER DATABASE replacement CONNECTION LIMIT <live's datconnlimit>
//	ALTER DATABASE replacement ALLOW_CONNECTIONS true
//	REVOKE ALL ON DATABASE replacement FROM PUBLIC (and from anyone but owner)
//	GRANT CONNECT, TEMPORARY ON DATABASE replacement TO owner
//	ALTER DATABASE live RENAME TO retired
//	ALTER DATABASE replacement RENAME TO live
//
// Either all of it commits or none of it does, so the customer's database
// is at every moment either the old one or the new one with its settings
// complete. RENAME fails ("database is being accessed by other users",
// 55006) while another session is connected to the database being renamed,
// after waiting up to 5 s for such sessions to exit; it takes an exclusive
// lock on the database first, so a session starting during the transaction
// waits for it and then fails ("database ... does not exist", it was
// renamed away) or gets the new database.
//
// To have no sessions left when the transaction runs, live and replacement
// are first set ALLOW_CONNECTIONS false (committed, since a connecting
// backend reads pg_database as committed), then their sessions are
// terminated with pg_terminate_backend, waiting until they are gone.
// Nobody, superusers included, can connect to a database with datallowconn
// false, so no session can appear between the termination and the rename. The transaction sets ALLOW_CONNECTIONS back to
// true on replacement before renaming it, so the new live is open the
// moment it exists; retired keeps datallowconn false (nobody should work
// in it; DropDatabase drops it regardless).
//
// Failure and crash windows:
//
//   - Before the transaction commits, live is untouched except that it may
//     be closed to new sessions (datallowconn false). A failure (an error
//     returned) reopens live and replacement before returning. A crash
//     leaves live closed until SwapDatabase is called again, which starts
//     over: live and replacement both exist and retired does not.
//   - The transaction is atomic: a crash during it leaves the pre-swap state.
//   - After the commit the swap is complete; a re-run finds live and retired
//     but no replacement and returns nil without changing anything (it never
//     swaps back). If retired has been dropped too (the caller's next step),
//     a re-run also returns nil: with neither replacement nor retired
//     present the swap is taken as done, which SwapDatabase cannot tell from
//     a replacement that never existed, so callers must only call it for a
//     replacement they have created.
//
// Database-level settings made with ALTER DATABASE ... SET (pg_db_role_setting)
// belong to a database's oid and so move with it: the new live has
// replacement's (normally none), retired keeps the old live's.
// datallowconn of the new live is always true: a closed live database before
// the swap cannot be told apart from one closed by an interrupted swap.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cellar/cellar/internal/provision"
)

// pgObjectInUse is the SQLSTATE of RENAME/DROP DATABASE refused because
// other sessions are connected to the database.
const pgObjectInUse = "55006"

// pgSwapAttempts is how often SwapDatabase terminates sessions and tries the
// renaming transaction again when a session was still connected.
const pgSwapAttempts = 3

// pgSwapDB is one database's row as the swap needs it.
type pgSwapDB struct {
	found     bool
	owner     string
	connLimit int
	allowConn bool
}

// SwapDatabase replaces the contents of live with those of replacement and
// keeps the old contents as retired (see the file comment for the design,
// its failure windows and what a re-run does). owner must own live and
// replacement; it must not be a superuser or the admin role. The new live
// gets live's connection limit, owner as its owner and the same
// database-level privileges EnsureDatabase gives (CONNECT and TEMPORARY
// for owner only).
func (p *Driver) SwapDatabase(ctx context.Context, live, replacement, retired, owner string) error {
	if err := provision.ValidSwapNames(live, replacement, retired, owner, pgReservedDatabases); err != nil {
		return err
	}
	if exists, err := checkRoleManageable(ctx, p.pool, owner); err != nil {
		return fmt.Errorf("swap database %q: owner: %w", live, err)
	} else if !exists {
		return fmt.Errorf("swap database %q: owner %q: %w", live, owner, provision.ErrNoSuchUser)
	}

	// A session-level advisory lock on a connection of its own serializes
	// swaps of the same live database across Cellar processes for the
	// whole run; a crash closes the connection and so releases it.
	lockConn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("swap database %q: %w", live, err)
	}
	defer releaseLockConn(ctx, lockConn)
	if _, err := lockConn.Exec(ctx,
		"SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtextextended($1, 0))", "cellar/provision/swap/"+live); err != nil {
		return fmt.Errorf("swap database %q: lock: %w", live, err)
	}

	dbs, err := p.swapDatabases(ctx, p.pool, live, replacement, retired)
	if err != nil {
		return err
	}
	l, r, x := dbs[0], dbs[1], dbs[2]
	switch {
	case !l.found:
		return fmt.Errorf("swap database: live database %q: %w", live, provision.ErrNoSuchDatabase)
	case !r.found:
		// Done before (retired present, or already dropped by the caller).
		// Never swap back; only check that live is the owner's.
		if l.owner != owner {
			return fmt.Errorf("swap database %q: it is owned by %q, not %q: %w", live, l.owner, owner, provision.ErrSwapConflict)
		}
		return nil
	case x.found:
		return fmt.Errorf("swap database %q: retired database %q already exists: %w", live, retired, provision.ErrSwapConflict)
	}
	for _, c := range []struct {
		name string
		db   pgSwapDB
	}{{live, l}, {replacement, r}} {
		if c.db.connLimit == -2 {
			return fmt.Errorf("database %q: %w", c.name, provision.ErrDatabaseInvalid)
		}
		if c.db.owner != owner {
			return fmt.Errorf("swap database %q: database %q is owned by %q, not %q: %w",
				live, c.name, c.db.owner, owner, provision.ErrSwapConflict)
		}
	}

	err = p.swap(ctx, live, replacement, retired, owner)
	if err == nil || errors.Is(err, errSwapCrash) {
		return err
	}
	// A failure before the commit: reopen live (and replacement), so the
	// customer keeps the old database. If the commit did happen (an error
	// while reading its result), replacement is gone and live is the new
	// database, already open.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if dbs, rerr := p.swapDatabases(cctx, p.pool, live, replacement, retired); rerr != nil {
		return errors.Join(err, fmt.Errorf("reopen database %q after the failed swap: %w", live, rerr))
	} else if dbs[1].found {
		for _, n := range []string{live, replacement} {
			if rerr := p.setAllowConnections(cctx, n, true); rerr != nil {
				err = errors.Join(err, fmt.Errorf("reopen database %q after the failed swap: %w", n, rerr))
			}
		}
	}
	return err
}

// swap runs the steps of SwapDatabase after its checks: close live and
// replacement, end their sessions, and rename in one transaction.
func (p *Driver) swap(ctx context.Context, live, replacement, retired, owner string) error {
	for _, n := range []string{live, replacement} {
		if err := p.setAllowConnections(ctx, n, false); err != nil {
			return err
		}
	}
	if err := swapStep(live, "closed"); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		if _, err := p.terminate(ctx, fmt.Sprintf("databases %q and %q", live, replacement),
			"datname = ANY($1)", []string{live, replacement}); err != nil {
			return err
		}
		if err := swapStep(live, "sessions-ended"); err != nil {
			return err
		}
		err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error { return p.swapTx(ctx, tx, live, replacement, retired, owner) })
		if pgCode(err) == pgObjectInUse && attempt < pgSwapAttempts {
			// A session got in before datallowconn false took effect for
			// it (it had passed the check while connecting): end it too.
			continue
		}
		if err != nil {
			return err
		}
		return swapStep(live, "swapped")
	}
}

// swapTx is SwapDatabase's transaction: it gives replacement live's
// settings and then renames both databases.
func (p *Driver) swapTx(ctx context.Context, tx pgx.Tx, live, replacement, retired, owner string) error {
	// The same per-database locks EnsureDatabase and SetConnectionLimit
	// take, in a fixed order, so that none of them updates one of these
	// pg_database rows concurrently ("tuple concurrently updated").
	names := []string{live, replacement, retired}
	slices.Sort(names)
	for _, n := range names {
		if _, err := tx.Exec(ctx, pgLockName, "cellar/provision/database/"+n); err != nil {
			return fmt.Errorf("swap database %q: lock %q: %w", live, n, err)
		}
	}
	// Re-check under the locks: another process may have swapped first.
	dbs, err := p.swapDatabases(ctx, tx, live, replacement, retired)
	if err != nil {
		return err
	}
	l, r, x := dbs[0], dbs[1], dbs[2]
	if !l.found || !r.found || x.found || l.owner != owner || r.owner != owner {
		return fmt.Errorf("swap database %q: databases changed during the swap: %w", live, provision.ErrSwapConflict)
	}
	q := pgQuote(replacement)
	// CONNECTION LIMIT takes no bind parameter; the value is an integer
	// read from pg_database.
	for _, stmt := range []string{
		"ALTER DATABASE " + q + " CONNECTION LIMIT " + strconv.Itoa(l.connLimit),
		"ALTER DATABASE " + q + " ALLOW_CONNECTIONS true",
		"REVOKE ALL ON DATABASE " + q + " FROM PUBLIC",
		"GRANT CONNECT, TEMPORARY ON DATABASE " + q + " TO " + pgQuote(owner),
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("swap database %q: prepare %q: %w", live, replacement, err)
		}
	}
	// Grants to any other role (as EnsureDatabase revokes them).
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT pg_catalog.pg_get_userbyid(a.grantee)
		FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
		WHERE d.datname = $1 AND a.grantee <> 0 AND a.grantee <> d.datdba`, replacement)
	if err != nil {
		return fmt.Errorf("list grants on database %q: %w", replacement, err)
	}
	others, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list grants on database %q: %w", replacement, err)
	}
	for _, o := range others {
		if _, err := tx.Exec(ctx, "REVOKE ALL ON DATABASE "+q+" FROM "+pgQuote(o)); err != nil {
			return fmt.Errorf("revoke on database %q from %q: %w", replacement, o, err)
		}
	}
	if _, err := tx.Exec(ctx, "ALTER DATABASE "+pgQuote(live)+" RENAME TO "+pgQuote(retired)); err != nil {
		return fmt.Errorf("rename database %q to %q: %w", live, retired, err)
	}
	if _, err := tx.Exec(ctx, "ALTER DATABASE "+q+" RENAME TO "+pgQuote(live)); err != nil {
		return fmt.Errorf("rename database %q to %q: %w", replacement, live, err)
	}
	return nil
}

// setAllowConnections sets ALLOW_CONNECTIONS on a database under its
// advisory lock (see swapTx). A database that does not exist is no error.
func (p *Driver) setAllowConnections(ctx context.Context, name string, allow bool) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, pgLockName, "cellar/provision/database/"+name); err != nil {
			return fmt.Errorf("database %q: lock: %w", name, err)
		}
		var cur bool
		err := tx.QueryRow(ctx, "SELECT datallowconn FROM pg_catalog.pg_database WHERE datname = $1", name).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && cur == allow {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look up database %q: %w", name, err)
		}
		if _, err := tx.Exec(ctx, "ALTER DATABASE "+pgQuote(name)+" ALLOW_CONNECTIONS "+strconv.FormatBool(allow)); err != nil {
			return fmt.Errorf("set allow_connections %v on database %q: %w", allow, name, err)
		}
		return nil
	})
}

// swapDatabases reads the pg_database rows of the three databases, in the
// order given.
func (p *Driver) swapDatabases(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, names ...string) ([]pgSwapDB, error) {
	rows, err := q.Query(ctx, `
		SELECT datname, pg_catalog.pg_get_userbyid(datdba), datconnlimit, datallowconn
		FROM pg_catalog.pg_database WHERE datname = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("look up databases %q: %w", names, err)
	}
	out := make([]pgSwapDB, len(names))
	var name string
	var d pgSwapDB
	_, err = pgx.ForEachRow(rows, []any{&name, &d.owner, &d.connLimit, &d.allowConn}, func() error {
		if i := slices.Index(names, name); i >= 0 {
			d.found = true
			out[i] = d
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up databases %q: %w", names, err)
	}
	return out, nil
}

// releaseLockConn releases the session-level advisory locks held by c and
// returns it to the pool, or closes it if the unlock fails (which releases
// the locks too).
func releaseLockConn(ctx context.Context, c *pgxpool.Conn) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := c.Exec(rctx, "SELECT pg_catalog.pg_advisory_unlock_all()"); err != nil {
		conn := c.Hijack()
		conn.Close(rctx)
		return
	}
	c.Release()
}

// SwapProgress reads how far a swap got: replacement gone means the
// renaming transaction committed; otherwise live is untouched, unless it
// was left closed to new sessions (the swap's own reopening failed).
func (p *Driver) SwapProgress(ctx context.Context, live, replacement, retired string) (provision.SwapProgress, error) {
	if err := provision.ValidSwapNames(live, replacement, retired, "owner", pgReservedDatabases); err != nil {
		return 0, err
	}
	dbs, err := p.swapDatabases(ctx, p.pool, live, replacement, retired)
	if err != nil {
		return 0, err
	}
	l, r := dbs[0], dbs[1]
	switch {
	case !r.found:
		return provision.SwapDone, nil
	case l.found && !l.allowConn:
		return provision.SwapPartial, nil
	}
	return provision.SwapNotStarted, nil
}
