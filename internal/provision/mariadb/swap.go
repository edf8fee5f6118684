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
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
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

// finish is phase 3 (see the file comment): everything after the RENAME.
func (s *mariaSwap) finish(ctx context.Context) error {
	// Again, in case something let the owner in during a crash window.
	if err := s.setLocked(ctx, true, nil); err != nil {
		return err
	}
	if err := s.killSessions(ctx); err != nil {
		return err
	}
	saved, err := s.readObjects(ctx)
	if err != nil {
		return err
	}
	meta, err := s.readMeta(ctx)
	if err != nil {
		return err
	}
	if cs, coll := meta["charset"], meta["collation"]; cs != "" && coll != "" {
		if !mariaCharsetRE.MatchString(cs) || !mariaCharsetRE.MatchString(coll) {
			return fmt.Errorf("swap database %q: unexpected saved character set %q / collation %q", s.live, cs, coll)
		}
		if _, err := s.m.db.ExecContext(ctx, "ALTER DATABASE "+mariaQuote(s.live)+
			" CHARACTER SET "+mariaQuote(cs)+" COLLATE "+mariaQuote(coll)); err != nil {
			return fmt.Errorf("swap database %q: set character set: %w", s.live, err)
		}
	}
	if err := s.fixDefaults(ctx, s.live, s.replacement); err != nil {
		return err
	}
	if err := s.fixDefaults(ctx, s.retired, s.live); err != nil {
		return err
	}
	// live := replacement's saved objects, kind by kind: drop all, create.
	current, err := s.listObjects(ctx, s.live)
	if err != nil {
		return err
	}
	if err := s.dropObjects(ctx, s.live, current, "routine"); err != nil {
		return err
	}
	if err := s.createObjects(ctx, s.live, pick(saved, "routine", "replacement"), s.replacement); err != nil {
		return err
	}
	if err := s.dropObjects(ctx, s.live, current, "view"); err != nil {
		return err
	}
	if err := s.createViews(ctx, s.live, pick(saved, "view", "replacement"), s.replacement); err != nil {
		return fmt.Errorf("swap database %q: %w", s.live, err)
	}
	for _, kind := range []string{"trigger", "event"} {
		if err := s.dropObjects(ctx, s.live, current, kind); err != nil {
			return err
		}
		if err := s.createObjects(ctx, s.live, pick(saved, kind, "replacement"), s.replacement); err != nil {
			return err
		}
	}
	if err := swapStep(s.live, "objects-created"); err != nil {
		return err
	}
	// DropDatabase also revokes the grants on replacement's name.
	if err := s.m.DropDatabase(ctx, s.replacement); err != nil {
		return err
	}
	if err := swapStep(s.live, "replacement-dropped"); err != nil {
		return err
	}
	if err := s.setLocked(ctx, false, s.lockedBefore(meta)); err != nil {
		return err
	}
	if err := swapStep(s.live, "accounts-unlocked"); err != nil {
		return err
	}
	if _, err := s.m.db.ExecContext(ctx, "RENAME TABLE "+mariaQuote(s.retired)+"."+mariaQuote(mariaSwapSwapped)+
		" TO "+mariaQuote(s.retired)+"."+mariaQuote(mariaSwapDone)); err != nil {
		return fmt.Errorf("swap database %q: mark done: %w", s.live, err)
	}
	s.state = mariaSwapDone
	return swapStep(s.live, "done")
}

// rollback undoes phase 2 after a failure before the RENAME: re-creates the
// dropped triggers, views and events from the snapshot, forgets the
// snapshot, unlocks the accounts and drops retired.
func (s *mariaSwap) rollback(ctx context.Context) error {
	saved, err := s.readObjects(ctx)
	if err != nil {
		return err
	}
	if len(saved) > 0 {
		// Only what is missing is re-created: an object that is still there
		// was never touched, and touching it could wait for the very lock
		// that made the swap fail.
		for _, db := range []string{s.live, s.replacement} {
			side := "live"
			if db == s.replacement {
				side = "replacement"
			}
			current, err := s.listObjects(ctx, db)
			if err != nil {
				return err
			}
			missing := func(kind string) []mariaObject {
				var out []mariaObject
				for _, o := range pick(saved, kind, side) {
					if !slices.ContainsFunc(current, func(c mariaListed) bool { return c.kind == kind && c.name == o.name }) {
						out = append(out, o)
					}
				}
				return out
			}
			// Triggers: if any is missing, drop the saved ones still there
			// and create them all again, in order, so that their order is
			// the original one.
			if trg := pick(saved, "trigger", side); len(missing("trigger")) > 0 {
				var still []mariaListed
				for _, c := range current {
					if c.kind == "trigger" && slices.ContainsFunc(trg, func(o mariaObject) bool { return o.name == c.name }) {
						still = append(still, c)
					}
				}
				if err := s.dropObjects(ctx, db, still, "trigger"); err != nil {
					return err
				}
				if err := s.createObjects(ctx, db, trg, db); err != nil {
					return err
				}
			}
			if err := s.createObjects(ctx, db, missing("event"), db); err != nil {
				return err
			}
			if side == "live" {
				if err := s.createViews(ctx, db, missing("view"), db); err != nil {
					return err
				}
			}
		}
		if _, err := s.m.db.ExecContext(ctx, "DELETE FROM "+s.stateTable()+" WHERE kind <> 'meta' AND kind <> 'locked'"); err != nil {
			return fmt.Errorf("swap database %q: forget snapshot: %w", s.live, err)
		}
	}
	meta, err := s.readMeta(ctx)
	if err != nil {
		return err
	}
	// Without the record of which accounts were locked before, nothing was
	// locked yet (it is written before the lock-out).
	if len(meta) > 0 {
		if err := s.setLocked(ctx, false, s.lockedBefore(meta)); err != nil {
			return err
		}
	}
	// retired holds only the state table before the RENAME (findState
	// checked it when it was adopted); check again before dropping.
	tables, err := s.tables(ctx, s.retired)
	if err != nil {
		return err
	}
	if len(tables) != 1 || tables[0] != mariaSwapPending {
		return fmt.Errorf("swap database %q: not dropping retired database %q: it holds tables %q", s.live, s.retired, tables)
	}
	if _, err := s.m.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+mariaQuote(s.retired)); err != nil {
		return fmt.Errorf("drop database %q: %w", s.retired, err)
	}
	return nil
}

// dropEmptyRetired drops retired if it exists and holds nothing at all.
func (s *mariaSwap) dropEmptyRetired(ctx context.Context) error {
	if ok, err := s.m.databaseExists(ctx, s.retired); err != nil || !ok {
		return err
	}
	tables, err := s.tables(ctx, s.retired)
	if err != nil {
		return err
	}
	n, err := s.countObjects(ctx, s.retired)
	if err != nil || len(tables) > 0 || n > 0 {
		return err
	}
	if _, err := s.m.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+mariaQuote(s.retired)); err != nil {
		return fmt.Errorf("drop database %q: %w", s.retired, err)
	}
	return nil
}

// stateTable is the quoted name of the state table in its current phase.
func (s *mariaSwap) stateTable() string {
	return mariaQuote(s.retired) + "." + mariaQuote(s.state)
}

// currentState returns the name of the state table that exists in retired,
// or "".
func (s *mariaSwap) currentState(ctx context.Context) (string, error) {
	tables, err := s.tables(ctx, s.retired)
	if err != nil {
		return "", err
	}
	for _, t := range mariaSwapStateTables {
		if slices.Contains(tables, t) {
			return t, nil
		}
	}
	return "", nil
}

// createState creates the state table (phase 1).
func (s *mariaSwap) createState(ctx context.Context) error {
	s.state = mariaSwapPending
	_, err := s.m.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+s.stateTable()+` (
		id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
		kind VARCHAR(16) CHARACTER SET ascii NOT NULL,
		side VARCHAR(16) CHARACTER SET ascii NOT NULL DEFAULT '',
		name VARCHAR(255) NOT NULL DEFAULT '',
		subject VARCHAR(255) NOT NULL DEFAULT '',
		ord INT NOT NULL DEFAULT 0,
		sql_mode TEXT NULL,
		cs_client VARCHAR(64) NULL,
		coll_conn VARCHAR(64) NULL,
		time_zone VARCHAR(64) NULL,
		def LONGBLOB NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='Cellar SwapDatabase state'`)
	if err != nil {
		return fmt.Errorf("swap database %q: create state table in %q: %w", s.live, s.retired, err)
	}
	return nil
}

// recordStart records, once, the names and the owner's accounts that are
// locked before the swap locks them (phase 1).
func (s *mariaSwap) recordStart(ctx context.Context) error {
	meta, err := s.readMeta(ctx)
	if err != nil || len(meta) > 0 {
		return err
	}
	accts, err := s.m.userAccounts(ctx, s.owner)
	if err != nil {
		return err
	}
	return s.inTx(ctx, "record swap state", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.stateTable()); err != nil {
			return err
		}
		for _, kv := range [][2]string{{"live", s.live}, {"replacement", s.replacement}, {"owner", s.owner}} {
			if err := insertState(ctx, tx, s.stateTable(), mariaObject{kind: "meta", name: kv[0], subject: kv[1]}); err != nil {
				return err
			}
		}
		for _, a := range accts {
			if a.locked {
				if err := insertState(ctx, tx, s.stateTable(), mariaObject{kind: "locked", name: a.host}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// snapshot saves, once, the definitions of replacement's triggers, views,
// routines and events and of live's triggers, views and events, and
// replacement's character set, in one transaction. It runs after the
// owner is locked out, so nothing changes them from then on.
func (s *mariaSwap) snapshot(ctx context.Context) error {
	var done int
	if err := s.m.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.stateTable()+" WHERE kind = 'snapshot'").Scan(&done); err != nil {
		return fmt.Errorf("swap database %q: read state: %w", s.live, err)
	}
	if done > 0 {
		return nil
	}
	var objs []mariaObject
	for _, side := range []string{"replacement", "live"} {
		db := s.replacement
		if side == "live" {
			db = s.live
		}
		listed, err := s.listObjects(ctx, db)
		if err != nil {
			return err
		}
		if side == "replacement" {
			if err := s.checkDefiners(listed); err != nil {
				return err
			}
		} else {
			// live's routines stay until they are replaced; nothing to save.
			listed = slices.DeleteFunc(listed, func(o mariaListed) bool { return o.kind == "routine" })
		}
		got, err := s.fetchDefinitions(ctx, db, side, listed)
		if err != nil {
			return err
		}
		objs = append(objs, got...)
	}
	cs, coll, err := s.charset(ctx, s.replacement)
	if err != nil {
		return err
	}
	return s.inTx(ctx, "save definitions", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.stateTable()+" WHERE kind <> 'meta' AND kind <> 'locked'"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.stateTable()+" WHERE kind = 'meta' AND name IN ('charset', 'collation')"); err != nil {
			return err
		}
		for _, o := range objs {
			if err := insertState(ctx, tx, s.stateTable(), o); err != nil {
				return err
			}
		}
		for _, o := range []mariaObject{
			{kind: "meta", name: "charset", subject: cs},
			{kind: "meta", name: "collation", subject: coll},
			{kind: "snapshot"},
		} {
			if err := insertState(ctx, tx, s.stateTable(), o); err != nil {
				return err
			}
		}
		return nil
	})
}

// inTx runs fn in a transaction on the admin pool.
func (s *mariaSwap) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := s.m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("swap database %q: %s: %w", s.live, what, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return fmt.Errorf("swap database %q: %s: %w", s.live, what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("swap database %q: %s: %w", s.live, what, err)
	}
	return nil
}

// insertState inserts one row into the state table table.
func insertState(ctx context.Context, tx *sql.Tx, table string, o mariaObject) error {
	null := func(v string) sql.NullString { return sql.NullString{String: v, Valid: o.def != nil} }
	_, err := tx.ExecContext(ctx, "INSERT INTO "+table+
		" (kind, side, name, subject, ord, sql_mode, cs_client, coll_conn, time_zone, def) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		o.kind, o.side, o.name, o.subject, o.ord, null(o.sqlMode), null(o.csClient), null(o.collConn), null(o.timeZone), o.def)
	return err
}

// readMeta returns the state table's meta rows as a map, and the locked
// hosts under the key "locked:<host>".
func (s *mariaSwap) readMeta(ctx context.Context) (map[string]string, error) {
	rows, err := s.m.db.QueryContext(ctx, "SELECT kind, name, subject FROM "+s.stateTable()+
		" WHERE kind IN ('meta', 'locked') ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("swap database %q: read state: %w", s.live, err)
	}
	defer rows.Close()
	meta := map[string]string{}
	for rows.Next() {
		var kind, name, subject string
		if err := rows.Scan(&kind, &name, &subject); err != nil {
			return nil, fmt.Errorf("swap database %q: read state: %w", s.live, err)
		}
		if kind == "locked" {
			meta["locked:"+name] = "1"
		} else {
			meta[name] = subject
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("swap database %q: read state: %w", s.live, err)
	}
	return meta, nil
}

// lockedBefore returns the hosts recorded as locked before the swap.
func (s *mariaSwap) lockedBefore(meta map[string]string) []string {
	var hosts []string
	for k := range meta {
		if h, ok := strings.CutPrefix(k, "locked:"); ok {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// readObjects returns the saved definitions, in the order they were saved.
func (s *mariaSwap) readObjects(ctx context.Context) ([]mariaObject, error) {
	rows, err := s.m.db.QueryContext(ctx, "SELECT kind, side, name, subject, ord, sql_mode, cs_client, coll_conn, time_zone, def FROM "+
		s.stateTable()+" WHERE kind IN ('trigger', 'view', 'routine', 'event') ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("swap database %q: read saved definitions: %w", s.live, err)
	}
	defer rows.Close()
	var out []mariaObject
	for rows.Next() {
		var o mariaObject
		var mode, cs, coll, tz sql.NullString
		if err := rows.Scan(&o.kind, &o.side, &o.name, &o.subject, &o.ord, &mode, &cs, &coll, &tz, &o.def); err != nil {
			return nil, fmt.Errorf("swap database %q: read saved definitions: %w", s.live, err)
		}
		o.sqlMode, o.csClient, o.collConn, o.timeZone = mode.String, cs.String, coll.String, tz.String
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("swap database %q: read saved definitions: %w", s.live, err)
	}
	return out, nil
}

// pick returns the saved objects of one kind and side, in saved order.
func pick(objs []mariaObject, kind, side string) []mariaObject {
	var out []mariaObject
	for _, o := range objs {
		if o.kind == kind && o.side == side {
			out = append(out, o)
		}
	}
	return out
}

// mariaListed is an object as listed from information_schema.
type mariaListed struct {
	kind, name, subject, definer string
}

// kindLabel is the SQL keyword of the object's kind (VIEW, TRIGGER, EVENT,
// or the routine type).
func (o mariaListed) kindLabel() string {
	if o.kind == "routine" {
		return o.subject
	}
	return strings.ToUpper(o.kind)
}

// listObjects lists the triggers (in creation order), views, routines
// (packages before their bodies) and events of database db.
func (s *mariaSwap) listObjects(ctx context.Context, db string) ([]mariaListed, error) {
	queries := []struct{ kind, query string }{
		{"trigger", `SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_TABLE, DEFINER FROM information_schema.TRIGGERS
			WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`},
		{"view", `SELECT TABLE_SCHEMA, TABLE_NAME, '', DEFINER FROM information_schema.VIEWS
			WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`},
		{"routine", `SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE, DEFINER FROM information_schema.ROUTINES
			WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE = 'PACKAGE BODY', ROUTINE_NAME, ROUTINE_TYPE`},
		{"event", `SELECT EVENT_SCHEMA, EVENT_NAME, '', DEFINER FROM information_schema.EVENTS
			WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME`},
	}
	var out []mariaListed
	for _, q := range queries {
		rows, err := s.m.db.QueryContext(ctx, q.query, db)
		if err != nil {
			return nil, fmt.Errorf("list %ss of database %q: %w", q.kind, db, err)
		}
		for rows.Next() {
			var schema string
			o := mariaListed{kind: q.kind}
			if err := rows.Scan(&schema, &o.name, &o.subject, &o.definer); err != nil {
				rows.Close()
				return nil, fmt.Errorf("list %ss of database %q: %w", q.kind, db, err)
			}
			// information_schema compares names case-insensitively.
			if schema == db {
				out = append(out, o)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("list %ss of database %q: %w", q.kind, db, err)
		}
	}
	return out, nil
}

// countObjects counts the views, triggers, routines and events of db.
func (s *mariaSwap) countObjects(ctx context.Context, db string) (int, error) {
	objs, err := s.listObjects(ctx, db)
	return len(objs), err
}

// tables lists the base tables of db (sequences and system-versioned
// tables included, views not), sorted.
func (s *mariaSwap) tables(ctx context.Context, db string) ([]string, error) {
	rows, err := s.m.db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_TYPE NOT IN ('VIEW', 'SYSTEM VIEW', 'TEMPORARY')`, db)
	if err != nil {
		return nil, fmt.Errorf("list tables of database %q: %w", db, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			return nil, fmt.Errorf("list tables of database %q: %w", db, err)
		}
		if schema == db {
			out = append(out, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables of database %q: %w", db, err)
	}
	slices.Sort(out)
	return out, nil
}

// charset returns db's default character set and collation.
func (s *mariaSwap) charset(ctx context.Context, db string) (cs, coll string, err error) {
	err = s.m.db.QueryRowContext(ctx, `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME
		FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ? AND SCHEMA_NAME = BINARY ?`, db, db).Scan(&cs, &coll)
	if err != nil {
		return "", "", fmt.Errorf("read character set of database %q: %w", db, err)
	}
	if !mariaCharsetRE.MatchString(cs) || !mariaCharsetRE.MatchString(coll) {
		return "", "", fmt.Errorf("database %q: unexpected character set %q / collation %q", db, cs, coll)
	}
	return cs, coll, nil
}

// fetchDefinitions reads the SHOW CREATE text of each listed object of db
// on a connection with character_set_results NULL, so the text comes back
// as stored, in the character set it was created with (csClient).
func (s *mariaSwap) fetchDefinitions(ctx context.Context, db, side string, listed []mariaListed) ([]mariaObject, error) {
	if len(listed) == 0 {
		return nil, nil
	}
	conn, err := s.m.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("read definitions in database %q: %w", db, err)
	}
	defer discardConn(conn)
	if _, err := conn.ExecContext(ctx, "SET SESSION character_set_results = NULL"); err != nil {
		return nil, fmt.Errorf("read definitions in database %q: %w", db, err)
	}
	// Views have no saved sql_mode: their text is rendered for this
	// session's, and is re-created under the same.
	var sessionMode string
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&sessionMode); err != nil {
		return nil, fmt.Errorf("read definitions in database %q: %w", db, err)
	}
	var out []mariaObject
	for i, l := range listed {
		cols, err := showCreate(ctx, conn, "SHOW CREATE "+l.kindLabel()+" "+mariaQuote(db)+"."+mariaQuote(l.name))
		if err != nil {
			return nil, fmt.Errorf("read definition of %s %q in database %q: %w", strings.ToLower(l.kindLabel()), l.name, db, err)
		}
		o := mariaObject{kind: l.kind, side: side, name: l.name, subject: l.subject, ord: i,
			sqlMode: sessionMode, csClient: string(cols["character_set_client"]),
			collConn: string(cols["collation_connection"]), timeZone: string(cols["time_zone"])}
		if m, ok := cols["sql_mode"]; ok {
			o.sqlMode = string(m)
		}
		for name, v := range cols {
			if strings.HasPrefix(name, "Create ") || name == "SQL Original Statement" {
				o.def = v
			}
		}
		if len(o.def) == 0 || o.csClient == "" || o.collConn == "" {
			return nil, fmt.Errorf("read definition of %s %q in database %q: empty", strings.ToLower(l.kindLabel()), l.name, db)
		}
		out = append(out, o)
	}
	return out, nil
}

// showCreate runs a SHOW CREATE statement and returns its one row by column
// name.
func showCreate(ctx context.Context, conn *sql.Conn, query string) (map[string][]byte, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("no row")
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(cols))
	for i, c := range cols {
		out[c] = slices.Clone([]byte(vals[i]))
	}
	return out, rows.Err()
}

// dropBeforeSwap drops, from the snapshot's list, the triggers of live and
// replacement, live's views and the events of both (see the file comment).
func (s *mariaSwap) dropBeforeSwap(ctx context.Context, saved []mariaObject) error {
	for _, side := range []string{"live", "replacement"} {
		db := s.live
		if side == "replacement" {
			db = s.replacement
		}
		for _, kind := range []string{"trigger", "view", "event"} {
			if kind == "view" && side == "replacement" {
				continue // replacement's views stay, and go with it
			}
			var drop []mariaListed
			for _, o := range pick(saved, kind, side) {
				drop = append(drop, mariaListed{kind: o.kind, name: o.name, subject: o.subject})
			}
			if err := s.dropObjects(ctx, db, drop, kind); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkUnchanged checks, right before the RENAME, that live and replacement
// hold exactly what the snapshot expects: no triggers or events, no views in
// live, and replacement's views and routines as saved. Anything else was
// made behind the lock-out (only possible after a crash) and would be lost.
func (s *mariaSwap) checkUnchanged(ctx context.Context, saved []mariaObject) error {
	for _, db := range []string{s.live, s.replacement} {
		current, err := s.listObjects(ctx, db)
		if err != nil {
			return err
		}
		var want []string
		if db == s.replacement {
			for _, o := range saved {
				if o.side == "replacement" && (o.kind == "view" || o.kind == "routine") {
					want = append(want, o.kind+" "+o.subject+" "+o.name)
				}
			}
		}
		var have []string
		for _, c := range current {
			if db == s.live && c.kind == "routine" {
				continue // live's routines stay until phase 3
			}
			have = append(have, c.kind+" "+c.subject+" "+c.name)
		}
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(want, have) {
			return fmt.Errorf("swap database %q: objects of database %q changed during the swap (have %q, want %q): %w",
				s.live, db, have, want, provision.ErrSwapConflict)
		}
	}
	return nil
}

// dropObjects drops the listed objects of one kind from db.
func (s *mariaSwap) dropObjects(ctx context.Context, db string, objs []mariaListed, kind string) error {
	if !slices.ContainsFunc(objs, func(o mariaListed) bool { return o.kind == kind }) {
		return nil
	}
	conn, err := s.ddlConn(ctx, "")
	if err != nil {
		return err
	}
	defer discardConn(conn)
	for _, o := range objs {
		if o.kind != kind {
			continue
		}
		name := mariaQuote(db) + "." + mariaQuote(o.name)
		stmt := "DROP " + o.kindLabel() + " IF EXISTS " + name
		if o.kind == "routine" && (o.subject == "PACKAGE" || o.subject == "PACKAGE BODY") {
			// DROP PACKAGE [BODY] exists only in Oracle mode.
			if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = 'ORACLE'"); err != nil {
				return fmt.Errorf("swap database %q: %w", s.live, err)
			}
		} else if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = DEFAULT"); err != nil {
			return fmt.Errorf("swap database %q: %w", s.live, err)
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("swap database %q: drop %s %q of database %q: %w", s.live, strings.ToLower(o.kindLabel()), o.name, db, err)
		}
	}
	return nil
}

// createObjects creates saved triggers, routines or events in db, with
// schema qualifiers naming from rewritten to db, each in the session
// settings it was created with, in saved order.
func (s *mariaSwap) createObjects(ctx context.Context, db string, objs []mariaObject, from string) error {
	if len(objs) == 0 {
		return nil
	}
	conn, err := s.ddlConn(ctx, db)
	if err != nil {
		return err
	}
	defer discardConn(conn)
	for _, o := range objs {
		if err := createObject(ctx, conn, o, from, db); err != nil {
			return fmt.Errorf("swap database %q: create %s %q in database %q: %w", s.live, o.kind, o.name, db, err)
		}
	}
	return nil
}

// createViews creates (or replaces) saved views in db, qualifiers naming
// from rewritten to db, in passes: a view on a view not created yet fails
// and is tried again in the next pass, until a pass creates none.
func (s *mariaSwap) createViews(ctx context.Context, db string, views []mariaObject, from string) error {
	if len(views) == 0 {
		return nil
	}
	// db as the default database: a view's text qualifies every table, but
	// a stored function called without a schema is kept unqualified and
	// resolved against the current database when the view is created.
	conn, err := s.ddlConn(ctx, db)
	if err != nil {
		return err
	}
	defer discardConn(conn)
	todo := views
	for {
		var again []mariaObject
		var lastErr error
		for _, v := range todo {
			err := createObject(ctx, conn, v, from, db)
			switch n := mariaErrNumber(err); {
			case err == nil:
			case n == mariaErrNoSuchTable || n == mariaErrViewInvalid || n == mariaErrSPDoesNotExist:
				again = append(again, v)
				lastErr = fmt.Errorf("create view %q in database %q: %w", v.name, db, err)
			default:
				return fmt.Errorf("create view %q in database %q: %w", v.name, db, err)
			}
		}
		if len(again) == 0 {
			return nil
		}
		if len(again) == len(todo) {
			return lastErr
		}
		todo = again
	}
}

// createObject runs one saved CREATE statement on conn (whose default
// database is the target, for the statements that name their object
// without a schema), under the object's saved session settings. Views are
// created with OR REPLACE.
func createObject(ctx context.Context, conn *sql.Conn, o mariaObject, from, to string) error {
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ?, character_set_client = ?, collation_connection = ?",
		o.sqlMode, o.csClient, o.collConn); err != nil {
		return err
	}
	if o.kind == "event" && o.timeZone != "" {
		if _, err := conn.ExecContext(ctx, "SET SESSION time_zone = ?", o.timeZone); err != nil {
			return err
		}
	}
	def := mariaRewriteSchema(o.def, from, to)
	if o.kind == "view" {
		if len(def) < 7 || !strings.EqualFold(string(def[:7]), "CREATE ") {
			return errors.New("saved view definition does not start with CREATE")
		}
		def = append([]byte("CREATE OR REPLACE "), def[7:]...)
	}
	// No arguments: sent as one text-protocol statement, bytes as they are.
	_, err := conn.ExecContext(ctx, string(def))
	return err
}

// ddlConn returns a connection of the admin pool for DDL with a bounded
// metadata lock wait and, if db is not "", db as its default database. The
// caller discards it (discardConn) so its session settings go with it.
func (s *mariaSwap) ddlConn(ctx context.Context, db string) (*sql.Conn, error) {
	conn, err := s.m.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("swap database %q: %w", s.live, err)
	}
	stmts := []string{"SET SESSION lock_wait_timeout = " + strconv.Itoa(mariaSwapLockWait)}
	if db != "" {
		stmts = append(stmts, "USE "+mariaQuote(db))
	}
	for _, st := range stmts {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			discardConn(conn)
			return nil, fmt.Errorf("swap database %q: %s: %w", s.live, st, err)
		}
	}
	return conn, nil
}

// discardConn closes conn and keeps it from going back to the pool.
func discardConn(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// fixDefaults rewrites column defaults of db's tables that name the schema
// from (nextval(`from`.`seq`) of a sequence that moved) to name db.
func (s *mariaSwap) fixDefaults(ctx context.Context, db, from string) error {
	rows, err := s.m.db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND INSTR(COLUMN_DEFAULT, ?) > 0`, db, from)
	if err != nil {
		return fmt.Errorf("swap database %q: read column defaults of %q: %w", s.live, db, err)
	}
	type fix struct{ table, column, def string }
	var fixes []fix
	for rows.Next() {
		var schema, table, column, def string
		if err := rows.Scan(&schema, &table, &column, &def); err != nil {
			rows.Close()
			return fmt.Errorf("swap database %q: read column defaults of %q: %w", s.live, db, err)
		}
		if schema != db {
			continue
		}
		if nd := string(mariaRewriteSchema([]byte(def), from, db)); nd != def {
			fixes = append(fixes, fix{table, column, nd})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("swap database %q: read column defaults of %q: %w", s.live, db, err)
	}
	for _, f := range fixes {
		// The expression is the server's own rendering of the default with
		// only the schema qualifier replaced.
		stmt := "SET STATEMENT lock_wait_timeout = " + strconv.Itoa(mariaSwapLockWait) + " FOR ALTER TABLE " +
			mariaQuote(db) + "." + mariaQuote(f.table) + " ALTER COLUMN " + mariaQuote(f.column) + " SET DEFAULT (" + f.def + ")"
		if _, err := s.m.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("swap database %q: rewrite default of %q.%q: %w", s.live, f.table, f.column, err)
		}
	}
	return nil
}

// mariaRewriteSchema returns def with every schema qualifier naming from
// replaced by to: `from`. and "from". (quoted) and from. at the start of a
// bare identifier chain. from and to are valid identifiers ([a-z0-9_]).
func mariaRewriteSchema(def []byte, from, to string) []byte {
	if from == to {
		return def
	}
	var out []byte
	for i := 0; i < len(def); {
		matched := false
		for _, q := range []string{"`", `"`, ""} {
			pat := q + from + q + "."
			if !bytes.HasPrefix(def[i:], []byte(pat)) {
				continue
			}
			if q == "" && i > 0 && isIdentByte(def[i-1]) {
				continue // the tail of a longer name, or a column after a table
			}
			out = append(out, q+to+q+"."...)
			i += len(pat)
			matched = true
			break
		}
		if !matched {
			out = append(out, def[i])
			i++
		}
	}
	return out
}

// isIdentByte reports whether b can be part of a bare identifier, or joins
// one to a qualifier (`.`) or a quote.
func isIdentByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '_' || b == '$' || b >= 0x80 || b == '.' || b == '`' || b == '"' || b == '@'
}

// SwapProgress reads how far a swap got from its state table in retired
// (see the file comment's phases): none, or an empty retired, is not
// started; pending is partial (the swap's own roll-back failed); swapped
// and done are past the RENAME.
func (m *Driver) SwapProgress(ctx context.Context, live, replacement, retired string) (provision.SwapProgress, error) {
	if err := provision.ValidSwapNames(live, replacement, retired, "owner", mariaReservedDatabases); err != nil {
		return 0, err
	}
	retOK, err := m.databaseExists(ctx, retired)
	if err != nil {
		return 0, err
	}
	replOK, err := m.databaseExists(ctx, replacement)
	if err != nil {
		return 0, err
	}
	if !retOK {
		if !replOK {
			return provision.SwapDone, nil
		}
		return provision.SwapNotStarted, nil
	}
	s := &mariaSwap{m: m, live: live, replacement: replacement, retired: retired}
	tables, err := s.tables(ctx, retired)
	if err != nil {
		return 0, err
	}
	switch {
	case slices.Contains(tables, mariaSwapSwapped), slices.Contains(tables, mariaSwapDone):
		return provision.SwapDone, nil
	case len(tables) > 0:
		return provision.SwapPartial, nil
	}
	return provision.SwapNotStarted, nil
}
