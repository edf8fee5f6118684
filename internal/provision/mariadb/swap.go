package mariadb

// SwapDatabase for MariaDB.
//
// MariaDB cannot rename a database. What it can do atomically is rename many
// tables at once, across databases: one RENAME TABLE statement with many
// pairs takes the metadata locks of all of them, renames them in order and,
// if any pair fails or the server crashes half-way, undoes them all (atomic
// DDL, MariaDB 10.6+, replayed from the DDL log at restart). So the swap of
// the base tables (sequences and system-versioned tables included) is one
// statement:
//
//	RENAME TABLE live.t1 TO retired.t1, ...,           -- old tables out
//	             replacement.u1 TO live.u1, ...,       -- new tables in
//	             retired._cellar_swap_pending TO retired._cellar_swap_swapped
//
// The last pair renames SwapDatabase's own state table in the same atomic
// statement: which of its names exists is what tells a re-run whether the
// tables have been swapped. InnoDB foreign keys follow renamed tables
// (their references are rewritten by the rename, constraint ids too), so a
// foreign key of a new table points to the new parent in live, and one of an
// old table to the old parent in retired.
//
// Everything else does not move that way and is copied from saved
// definitions (SHOW CREATE text, stored in the state table with the
// sql_mode, character_set_client, collation_connection and, for events,
// time_zone it was created with; fetched with character_set_results NULL,
// so the bytes round-trip exactly):
//
//   - Triggers: a table with triggers cannot be renamed to another database
//     (error 1435, "Trigger in wrong schema"), so the triggers of both live
//     and replacement are dropped before the swap, and replacement's are
//     created on live's new tables afterwards, in their original order
//     (ACTION_ORDER; SHOW CREATE TRIGGER omits FOLLOWS/PRECEDES).
//   - Views cannot change database (error 1450) and a view of live could
//     have the name of a table of replacement, so live's views are dropped
//     before the swap; replacement's are created in live afterwards (views
//     on views: created in passes until all exist). A view's text names
//     every table with its schema, but a stored function called without
//     one stays unqualified (`f`()), so views, like triggers, routines and
//     events, are created with live as the default database.
//   - Stored routines and events stay where they are; live's are dropped and
//     replacement's created in live afterwards. Events of live and
//     replacement are dropped before the swap already: the event scheduler
//     runs them as their definer whatever the account lock, and an old
//     event must not run against the new tables.
//   - Schema qualifiers naming replacement in the copied text are rewritten
//     to live: `replacement`. (views always qualify every name), "replacement".
//     (ANSI_QUOTES objects) and a bare replacement. prefix. The replacement
//     name must not occur in the text otherwise, which holds for a generated
//     name like cellar_restore_ab12cd34.
//   - A column DEFAULT naming a sequence (nextval(`replacement`.`s`)) keeps
//     naming the old schema after the rename; such defaults are rewritten
//     the same way (ALTER TABLE ... ALTER COLUMN ... SET DEFAULT).
//   - The new live gets replacement's default character set and collation;
//     retired is created with live's.
//   - A sequence created with a cache (the default, CACHE 1000) continues
//     after its cached values once renamed, as after a server restart: the
//     rename reopens the table. Values stay unique and increasing.
//   - The old live's views, triggers, routines and events are not kept in
//     retired (it only exists to be dropped); retired gets the old tables
//     with their data and foreign keys, and the state table.
//
// The copied objects keep their definers, and SwapDatabase refuses a
// replacement with an object whose definer is not an account of owner: the
// copy is made by the admin, and an admin-defined SQL SECURITY DEFINER
// object in a tenant's database would run with the admin's privileges.
//
// Grants: MariaDB keeps grants by database name, so the owner's grants on
// live are not touched; replacement's grants are revoked when it is dropped
// at the end (DropDatabase). retired gets no grants, so the tenant cannot
// see it. Connection limits are per account and not touched either.
//
// The customer's view: while objects are dropped, swapped and recreated the
// database would be visibly incomplete, so the owner is kept out for the
// whole swap: every account of the owner is locked (ACCOUNT LOCK), then the
// owner's sessions and every session whose default database is live or
// replacement are killed (killed sessions release their metadata locks);
// at the end the accounts are unlocked again, except those that were already
// locked before (recorded in the state table). While locked, the owner
// cannot reach its other databases either. A transaction of another user
// that holds metadata locks on live's tables (an admin's, say a backup's
// mariadb-dump --single-transaction) is not killed: every DDL statement
// waits at most mariaSwapLockWait for it, the RENAME is retried a few times
// after killing sessions again, and then the swap fails and is rolled back
// (phase 2), so the customer is never locked out for long.
//
// The state table retired._cellar_swap_<phase> (which the tenant cannot
// see) holds: the three names and the owner; the owner's accounts that were
// locked already; and, once the owner is locked out, the snapshot of the
// definitions above (replacement's to recreate, live's to restore on
// failure). Phases and what a re-run does (a re-run is a call with the same
// arguments; it reads the state from the server, never from memory):
//
//  1. retired does not exist: start. live and replacement must exist.
//     CREATE DATABASE retired, create the state table _cellar_swap_pending,
//     record names and already-locked accounts (one transaction). A crash
//     in between leaves an empty retired, or one with an empty state table:
//     a re-run adopts it (an existing retired with anything else in it, or
//     any grant on it, is refused with ErrSwapConflict). An error (not a
//     crash) in this phase drops retired again before returning.
//  2. pending: lock the owner's accounts, kill sessions, take the snapshot
//     (once, one transaction; definers checked again), check that
//     replacement's views can be created (re-created in place: a view that
//     cannot be made fails here, before anything is lost), drop the triggers,
//     live's views and the events, check nothing new appeared, RENAME. A
//     crash anywhere here leaves live with its tables, possibly without some
//     triggers, views or events, and the owner locked out; a re-run repeats
//     the step from the snapshot (all steps are idempotent) and swaps.
//     An error (not a crash) here is rolled back before returning: those of
//     live's and replacement's triggers, views and events that were dropped
//     are re-created from the snapshot (only those: the others were never
//     touched, and touching them could wait for the lock that made the swap
//     fail), the accounts unlocked and retired dropped, so the customer is
//     back on the old database, fully, and a later call starts afresh. If
//     the roll-back fails too, the state stays in phase 2 and a re-run
//     completes the swap.
//  3. swapped (the RENAME happened, atomically with the state table's
//     rename): live has the new tables; make live's routines, views,
//     triggers and events exactly replacement's saved ones (drop all of
//     live's, create the saved ones), rewrite sequence defaults, set the
//     character set, drop replacement (revoking its grants), unlock the
//     accounts, rename the state table to _cellar_swap_done. A crash or an
//     error here leaves the owner locked out of a database whose tables are
//     already new; every step is idempotent, and a re-run does them all
//     again from the saved definitions (it never swaps back).
//  4. done: a re-run returns nil. If the caller has dropped retired too, a
//     re-run finds neither replacement nor retired and also returns nil: the
//     swap is taken as done, which SwapDatabase cannot tell from a
//     replacement that never existed, so callers must only call it for a
//     replacement they have created.
//
// Between phases the customer, if it could log in, would see live either
// fully old or fully new as far as base tables go. It cannot log in from
// phase 2 on until the end, unless something unlocks its accounts in a
// crash window (EnsureUser does ACCOUNT UNLOCK): then it may see live
// without some triggers or views until the re-run.
//
// Not carried over: privileges granted at table, column or routine level
// (mysql.tables_priv, columns_priv, procs_priv; a tenant cannot grant, so
// Cellar never has them), and a foreign key of replacement that names live
// explicitly as its parent's schema (it follows live's old table to retired).

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cellar/cellar/internal/provision"
)

// The state table's names, one per phase (see the file comment).
const (
	mariaSwapPending = "_cellar_swap_pending"
	mariaSwapSwapped = "_cellar_swap_swapped"
	mariaSwapDone    = "_cellar_swap_done"
)

var mariaSwapStateTables = []string{mariaSwapPending, mariaSwapSwapped, mariaSwapDone}

// mariaSwapLockWait bounds, in seconds, how long one DDL statement of the
// swap waits for metadata locks (the server default is a year).
const mariaSwapLockWait = 5

// mariaSwapAttempts is how often the RENAME is tried, killing sessions
// again before each try, when it times out waiting for metadata locks.
const mariaSwapAttempts = 4

// Error numbers SwapDatabase reacts to while creating views in passes: the
// view refers to an object (another view, a function) not created yet.
const (
	mariaErrNoSuchTable    = 1146
	mariaErrViewInvalid    = 1356
	mariaErrSPDoesNotExist = 1305
)

// mariaCharsetRE is what a character set or collation name read from the
// catalog must look like before it is put into a statement.
var mariaCharsetRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// mariaObject is one saved view, trigger, routine or event.
type mariaObject struct {
	kind    string // "trigger", "view", "routine", "event"
	side    string // "live" or "replacement": whose object it is
	name    string
	subject string // trigger: its table; routine: its type (PROCEDURE, FUNCTION, PACKAGE, PACKAGE BODY)
	ord     int    // trigger: creation order
	// The session settings it was created with (time zone: events only).
	sqlMode, csClient, collConn, timeZone string
	def                                   []byte // SHOW CREATE text, in csClient
}

// mariaSwap is one run of SwapDatabase.
type mariaSwap struct {
	m                                 *Driver
	live, replacement, retired, owner string
	// state is the current name of the state table in retired, "" if
	// there is none.
	state string
}

// SwapDatabase replaces the contents of live with those of replacement and
// keeps the old tables as retired (see the file comment for the design, its
// crash windows and what a re-run does). owner must hold the grant on live
// (as EnsureDatabase gives it) and, if anyone holds one on replacement,
// that one too; every view, trigger, routine and event of replacement must
// have an account of owner as its definer. The whole run holds the owner's
// named lock (see withUserLock).
func (m *Driver) SwapDatabase(ctx context.Context, live, replacement, retired, owner string) error {
	if err := provision.ValidSwapNames(live, replacement, retired, owner, mariaReservedDatabases); err != nil {
		return err
	}
	s := &mariaSwap{m: m, live: live, replacement: replacement, retired: retired, owner: owner}
	return m.withUserLock(ctx, owner, func() error { return s.run(ctx) })
}

// run finds the phase the databases are in and goes on from there.
func (s *mariaSwap) run(ctx context.Context) error {
	hosts, err := s.m.manageableUserHosts(ctx, s.owner)
	if err != nil {
		return fmt.Errorf("swap database %q: owner: %w", s.live, err)
	}
	if len(hosts) == 0 {
		return fmt.Errorf("swap database %q: owner %q: %w", s.live, s.owner, provision.ErrNoSuchUser)
	}
	var exists [3]bool
	for i, n := range []string{s.live, s.replacement, s.retired} {
		if exists[i], err = s.m.databaseExists(ctx, n); err != nil {
			return err
		}
	}
	liveOK, replOK, retOK := exists[0], exists[1], exists[2]
	if !liveOK {
		return fmt.Errorf("swap database: live database %q: %w", s.live, provision.ErrNoSuchDatabase)
	}
	if holder, err := s.m.grantHolder(ctx, s.live, s.owner); err != nil {
		return err
	} else if holder != s.owner {
		return fmt.Errorf("swap database %q: user %q holds no grant on it: %w", s.live, s.owner, provision.ErrSwapConflict)
	}
	if !retOK {
		if !replOK {
			return nil // done, and retired already dropped by the caller
		}
		return s.forward(ctx)
	}
	if err := s.findState(ctx); err != nil {
		return err
	}
	switch s.state {
	case mariaSwapDone:
		if replOK {
			return fmt.Errorf("swap database %q: retired database %q holds a finished swap, but replacement %q exists: %w",
				s.live, s.retired, s.replacement, provision.ErrSwapConflict)
		}
		return nil
	case mariaSwapSwapped:
		return s.finish(ctx)
	}
	if !replOK {
		return fmt.Errorf("swap database %q: replacement database %q: %w", s.live, s.replacement, provision.ErrNoSuchDatabase)
	}
	return s.forward(ctx)
}

// findState sets s.state from the tables in retired and checks that the
// state belongs to this swap, or that retired is an empty leftover of one
// (created, then a crash before the state was recorded).
func (s *mariaSwap) findState(ctx context.Context) error {
	tables, err := s.tables(ctx, s.retired)
	if err != nil {
		return err
	}
	s.state = ""
	for _, t := range mariaSwapStateTables {
		if slices.Contains(tables, t) {
			if s.state != "" {
				return fmt.Errorf("swap database %q: retired database %q has two state tables: %w", s.live, s.retired, provision.ErrSwapConflict)
			}
			s.state = t
		}
	}
	if s.state == "" || s.state == mariaSwapPending {
		// Before the RENAME retired holds nothing but the state table.
		if len(tables) > 0 && !(len(tables) == 1 && s.state == mariaSwapPending) {
			return fmt.Errorf("swap database %q: retired database %q already exists with tables in it: %w",
				s.live, s.retired, provision.ErrSwapConflict)
		}
		n, err := s.countObjects(ctx, s.retired)
		if err != nil {
			return err
		}
		grants, err := s.m.databaseGrants(ctx, s.retired)
		if err != nil {
			return err
		}
		if n > 0 || len(grants) > 0 {
			return fmt.Errorf("swap database %q: retired database %q already exists with objects or grants: %w",
				s.live, s.retired, provision.ErrSwapConflict)
		}
	}
	if s.state == "" {
		return nil
	}
	meta, err := s.readMeta(ctx)
	if err != nil {
		return err
	}
	if len(meta) == 0 && s.state == mariaSwapPending {
		return nil // a crash between CREATE TABLE and the first insert
	}
	if meta["live"] != s.live || meta["replacement"] != s.replacement || meta["owner"] != s.owner {
		return fmt.Errorf("swap database %q: retired database %q holds the state of another swap (live %q, replacement %q, owner %q): %w",
			s.live, s.retired, meta["live"], meta["replacement"], meta["owner"], provision.ErrSwapConflict)
	}
	return nil
}

// forward runs phases 1 and 2 and then finish; a failure before the RENAME
// is rolled back (see the file comment).
func (s *mariaSwap) forward(ctx context.Context) error {
	err := s.prepareAndSwap(ctx)
	if err == nil {
		return s.finish(ctx)
	}
	if errors.Is(err, errSwapCrash) {
		return err
	}
	// Rolled back only if the RENAME did not happen: the state table's name
	// says (an error while reading the RENAME's result may hide that it
	// committed).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mariaLockWait)
	defer cancel()
	state, serr := s.currentState(rctx)
	if serr != nil {
		return errors.Join(err, serr)
	}
	switch state {
	case "":
		// Failed between CREATE DATABASE retired and the state table:
		// nothing else happened yet.
		if rerr := s.dropEmptyRetired(rctx); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	case mariaSwapPending:
	default:
		return err
	}
	s.state = state
	if rerr := s.rollback(rctx); rerr != nil {
		return errors.Join(err, fmt.Errorf("roll back the swap of database %q (a re-run completes it): %w", s.live, rerr))
	}
	return err
}

// prepareAndSwap is phases 1 and 2 up to and including the RENAME.
func (s *mariaSwap) prepareAndSwap(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if s.state == "" {
		cs, coll, err := s.charset(ctx, s.live)
		if err != nil {
			return err
		}
		// IF NOT EXISTS: adopting an empty retired left by a crash.
		if _, err := s.m.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+mariaQuote(s.retired)+
			" CHARACTER SET "+mariaQuote(cs)+" COLLATE "+mariaQuote(coll)); err != nil {
			return fmt.Errorf("create database %q: %w", s.retired, err)
		}
		if err := swapStep(s.live, "retired-created"); err != nil {
			return err
		}
		if err := s.createState(ctx); err != nil {
			return err
		}
	}
	if err := s.recordStart(ctx); err != nil {
		return err
	}
	if err := swapStep(s.live, "state-recorded"); err != nil {
		return err
	}
	if err := s.lockOut(ctx); err != nil {
		return err
	}
	if err := s.snapshot(ctx); err != nil {
		return err
	}
	if err := swapStep(s.live, "snapshot-saved"); err != nil {
		return err
	}
	saved, err := s.readObjects(ctx)
	if err != nil {
		return err
	}
	// A view that cannot be created (it refers to something missing) must
	// fail now, while the customer can still be given the old database
	// back: re-create replacement's views where they are, from the saved
	// text, exactly as they will be created in live.
	if err := s.createViews(ctx, s.replacement, pick(saved, "view", "replacement"), s.replacement); err != nil {
		return fmt.Errorf("swap database %q: replacement's views cannot be re-created: %w", s.live, err)
	}
	if err := s.dropBeforeSwap(ctx, saved); err != nil {
		return err
	}
	if err := swapStep(s.live, "objects-dropped"); err != nil {
		return err
	}
	if err := s.checkUnchanged(ctx, saved); err != nil {
		return err
	}
	if err := s.renameTables(ctx); err != nil {
		return err
	}
	s.state = mariaSwapSwapped
	return swapStep(s.live, "swapped")
}

// check refuses, before anything changes, what the swap cannot do: a
// replacement granted to another user, an object of replacement whose
// definer is not owner, a table of live with the name of a state table.
func (s *mariaSwap) check(ctx context.Context) error {
	holder, err := s.m.grantHolder(ctx, s.replacement, s.owner)
	if err != nil {
		return err
	}
	if holder != "" && holder != s.owner {
		return fmt.Errorf("swap database %q: replacement %q is granted to %q, not %q: %w",
			s.live, s.replacement, holder, s.owner, provision.ErrSwapConflict)
	}
	objs, err := s.listObjects(ctx, s.replacement)
	if err != nil {
		return err
	}
	if err := s.checkDefiners(objs); err != nil {
		return err
	}
	tables, err := s.tables(ctx, s.live)
	if err != nil {
		return err
	}
	for _, t := range mariaSwapStateTables {
		if slices.Contains(tables, t) {
			return fmt.Errorf("swap database %q: it has a table named %q, which SwapDatabase needs for itself: %w",
				s.live, t, provision.ErrSwapConflict)
		}
	}
	return nil
}

// checkDefiners fails if an object's definer is not an account of owner.
func (s *mariaSwap) checkDefiners(objs []mariaListed) error {
	var bad []string
	for _, o := range objs {
		if user, _, ok := strings.Cut(o.definer, "@"); !ok || user != s.owner {
			bad = append(bad, fmt.Sprintf("%s %q (definer %q)", strings.ToLower(o.kindLabel()), o.name, o.definer))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("swap database %q: objects of replacement %q have a definer other than %q: %s: %w",
			s.live, s.replacement, s.owner, strings.Join(bad, "; "), provision.ErrSwapConflict)
	}
	return nil
}

// lockOut locks every account of owner and kills the owner's sessions and
// those on live and replacement, waiting until they are gone.
func (s *mariaSwap) lockOut(ctx context.Context) error {
	if err := s.setLocked(ctx, true, nil); err != nil {
		return err
	}
	if err := swapStep(s.live, "accounts-locked"); err != nil {
		return err
	}
	if err := s.killSessions(ctx); err != nil {
		return err
	}
	return swapStep(s.live, "sessions-ended")
}

// setLocked locks (or unlocks) every current account of owner, except, when
// unlocking, the hosts in keep (accounts locked before the swap).
func (s *mariaSwap) setLocked(ctx context.Context, lock bool, keep []string) error {
	hosts, err := s.m.manageableUserHosts(ctx, s.owner)
	if err != nil {
		return fmt.Errorf("swap database %q: owner: %w", s.live, err)
	}
	verb := " ACCOUNT UNLOCK"
	if lock {
		verb = " ACCOUNT LOCK"
	}
	for _, h := range hosts {
		if !lock && slices.Contains(keep, h) {
			continue
		}
		if _, err := s.m.db.ExecContext(ctx, "ALTER USER IF EXISTS "+mariaAccount(s.owner, h)+verb); err != nil {
			return fmt.Errorf("swap database %q: %s user %q@%q: %w", s.live, strings.ToLower(strings.TrimSpace(verb)), s.owner, h, err)
		}
	}
	return nil
}

// killSessions kills the owner's sessions and those whose default database
// is live or replacement, and waits until they are gone.
func (s *mariaSwap) killSessions(ctx context.Context) error {
	conn, err := s.m.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("swap database %q: end sessions: %w", s.live, err)
	}
	defer conn.Close()
	list, err := mariaSessions(ctx, conn, "USER = ? OR DB = ? OR DB = ?", s.owner, s.live, s.replacement)
	if err != nil {
		return fmt.Errorf("swap database %q: list sessions: %w", s.live, err)
	}
	var ids []uint64
	for _, x := range list {
		if x.user == s.owner || x.db.Valid && (x.db.String == s.live || x.db.String == s.replacement) {
			ids = append(ids, x.id)
		}
	}
	_, err = killAndWait(ctx, conn, fmt.Sprintf("database %q", s.live), ids)
	return err
}

// renameTables is the atomic RENAME (see the file comment), retried after
// killing sessions again when it times out waiting for metadata locks.
func (s *mariaSwap) renameTables(ctx context.Context) error {
	oldTables, err := s.tables(ctx, s.live)
	if err != nil {
		return err
	}
	newTables, err := s.tables(ctx, s.replacement)
	if err != nil {
		return err
	}
	var pairs []string
	for _, t := range oldTables {
		pairs = append(pairs, mariaQuote(s.live)+"."+mariaQuote(t)+" TO "+mariaQuote(s.retired)+"."+mariaQuote(t))
	}
	for _, t := range newTables {
		pairs = append(pairs, mariaQuote(s.replacement)+"."+mariaQuote(t)+" TO "+mariaQuote(s.live)+"."+mariaQuote(t))
	}
	pairs = append(pairs, mariaQuote(s.retired)+"."+mariaQuote(mariaSwapPending)+" TO "+
		mariaQuote(s.retired)+"."+mariaQuote(mariaSwapSwapped))
	stmt := "SET STATEMENT lock_wait_timeout = " + strconv.Itoa(mariaSwapLockWait) +
		" FOR RENAME TABLE " + strings.Join(pairs, ", ")
	for attempt := 1; ; attempt++ {
		_, err = s.m.db.ExecContext(ctx, stmt)
		if err == nil || mariaErrNumber(err) != mariaErrLockWaitTimeout || attempt == mariaSwapAttempts {
			break
		}
		if err := s.killSessions(ctx); err != nil {
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("swap database %q: rename tables: %w", s.live, err)
	}
	return nil
}
