package mariadb

// SwapDatabase for MariaDB, phase 3 and the way back: finishing after the
// RENAME, rolling back before it, and reading how far a swap got (see
// swap.go's file comment for the design).

import (
	"context"
	"fmt"
	"slices"

	"github.com/cellar/cellar/internal/provision"
)

// finish is phase 3 (see swap.go's file comment): everything after the RENAME.
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

// SwapProgress reads how far a swap got from its state table in retired
// (see the phases in swap.go's file comment): none, or an empty retired, is not
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
