package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/store"
)

// RestoreRequest is the body of POST …/restore.
type RestoreRequest struct {
	SnapshotID   string  `json:"snapshot_id"`
	TargetDBName *string `json:"target_db_name"`
}

// Validate checks the request.
func (r *RestoreRequest) Validate() error {
	var fields []cellar.FieldError
	if r.SnapshotID == "" {
		fields = append(fields, cellar.FieldError{Field: "snapshot_id", Message: "is required"})
	}
	if r.TargetDBName != nil {
		if _, err := cellar.NormalizeRequestedName(*r.TargetDBName); err != nil {
			fields = append(fields, cellar.FieldError{Field: "target_db_name", Message: err.Error() + " (it is a name suffix, like requested_name)"})
		}
	}
	if fields != nil {
		return cellar.Invalid(fields...)
	}
	return nil
}

// restoreDetails is what a restore records before it acts. Nothing secret:
// the load login's password lives only in memory, and a settle gives the
// login a fresh one to clean up with.
type restoreDetails struct {
	SnapshotID string `json:"snapshot_id"`
	Temp       string `json:"temp"`    // where the snapshot is loaded first
	Retired    string `json:"retired"` // where the old contents go at the swap
	// Login is the PostgreSQL load login (provision.EnsureLoadLogin) that
	// loads the snapshot; it is dropped before the swap.
	Login string `json:"login,omitempty"`
	// Loaded: the snapshot is fully in Temp and Login is gone; from here
	// only an error returned to the client rolls back, a crash rolls
	// forward.
	Loaded bool `json:"loaded"`
	// NewDatabase: the target was made for this restore (target_db_name);
	// a restore that does not finish deletes it again.
	NewDatabase bool `json:"new_database,omitempty"`
}

// errRestoreUndone wraps the cause of a restore that failed and was undone:
// the database is as it was before.
var errRestoreUndone = errors.New("the restore failed and was undone; the database was not changed")

// restoreTimeout is the deadline of a restore, from the snapshot's size:
// a generous floor plus time for about 2 MB/s of compressed dump (loads run
// several times slower than dumps, and indexes are built after).
func restoreTimeout(snap store.Snapshot) time.Duration {
	d := 10 * time.Minute
	if snap.SizeBytes != nil {
		d += time.Duration(*snap.SizeBytes/(2<<20)) * time.Second
	}
	return d
}

// restoreInto restores snap into the database name: it records the intent,
// loads the snapshot into a fresh database as a login with the tenant's
// rights only, and swaps it in. An error returned here has been undone
// (or has left the database needing attention, which says so); a crash is
// settled by settleRestore.
func (s *Service) restoreInto(ctx context.Context, c Caller, engine cellar.Engine, snap store.Snapshot, name string, newDB bool, restoreID *uuid.UUID) error {
	h, err := s.lockActive(ctx, c, engine, name)
	if err != nil {
		return err
	}
	defer h.release()
	drv, err := s.fleet.driver(ctx, h.srv)
	if err != nil {
		return err
	}
	d := restoreDetails{SnapshotID: snap.ID, Temp: "cellar_restore_" + randomHex(4), Retired: "cellar_retired_" + randomHex(4), NewDatabase: newDB}
	if engine == cellar.PostgreSQL {
		d.Login = provision.PGLoadLoginPrefix + randomHex(6)
	}
	raw, _ := json.Marshal(d)
	var op store.Operation
	err = h.lk.InTx(ctx, func(q *store.Queries) error {
		var err error
		op, err = q.InsertOperationWithDetails(ctx, store.InsertOperationWithDetailsParams{
			ID: uuid.New(), DatabaseID: h.db.ID, Kind: opRestore, Actor: c.KeyPrefix, RequestID: c.RequestID, Details: raw,
		})
		if err != nil || restoreID == nil {
			return err
		}
		// The job's row learns its operation in the same transaction.
		return q.StartRestore(ctx, store.StartRestoreParams{ID: *restoreID, OperationID: &op.ID})
	})
	if err != nil {
		return fmt.Errorf("record restore intent: %w", err)
	}
	err = s.fail.Hit("restore.after_intent")
	if err == nil {
		err = drv.EnsureDatabase(ctx, d.Temp, h.db.Username)
	}
	if err == nil {
		err = s.load(ctx, drv, h.srv, h.db, snap, d)
	}
	if err == nil {
		err = s.fail.Hit("restore.after_load")
	}
	if err != nil {
		return s.undoRestore(ctx, h.lk, drv, h.srv, h.db, op, d, err)
	}
	// From here a crash goes forward: the snapshot is fully loaded.
	d.Loaded = true
	raw, _ = json.Marshal(d)
	if err := h.lk.SetOperationDetails(ctx, store.SetOperationDetailsParams{ID: op.ID, Details: raw}); err != nil {
		return s.undoRestore(ctx, h.lk, drv, h.srv, h.db, op, d, err)
	}
	return s.swapIn(ctx, h.lk, drv, h.srv, h.db, op, d, c.RemoteAddr)
}

// load streams a verified snapshot into d.Temp, logged in with no more
// rights than the database's owner (see the provision package's rule):
// PostgreSQL through a load login made for this restore and dropped right
// after, MariaDB as the owner's own account.
func (s *Service) load(ctx context.Context, drv provision.Driver, srv store.Server, db store.Database, snap store.Snapshot, d restoreDetails) error {
	r, err := s.openVerified(ctx, snap)
	if err != nil {
		return err
	}
	defer r.Close()
	conn, err := s.fleet.adminConn(ctx, srv)
	if err != nil {
		return err
	}
	switch engine := cellar.Engine(db.Engine); engine {
	case cellar.PostgreSQL:
		pg, ok := drv.(provision.LoadLogins)
		if !ok {
			return fmt.Errorf("server %s cannot make load logins", srv.Name)
		}
		conn.User, conn.Password = d.Login, newPassword()
		if err := pg.EnsureLoadLogin(ctx, d.Login, db.Username, conn.Password); err != nil {
			return err
		}
		defer func() {
			// Also done, and checked, by undoRestore and swapIn; here so
			// that the login goes as soon as the load ends.
			_ = pg.DropLoadLogin(context.WithoutCancel(ctx), d.Login, db.Username, newPassword(), d.Temp)
		}()
		if err := s.fail.Hit("restore.after_login"); err != nil {
			return err
		}
	case cellar.MariaDB:
		secret, _, err := s.vault.Get(ctx, db.VaultPath)
		if err != nil {
			return fmt.Errorf("credentials of %s: %w", db.Name, err)
		}
		password, _ := secret["password"].(string)
		conn.User, conn.Password = db.Username, password
	default:
		return fmt.Errorf("unknown engine %q", engine)
	}
	start := time.Now()
	err = s.tools.Restore(ctx, cellar.Engine(snap.Engine), conn, d.Temp, db.Username, r)
	s.metrics.observe(snap.Engine, string(opRestore), start, err)
	if err != nil {
		return fmt.Errorf("restore %s into %s: %w", snap.ID, d.Temp, err)
	}
	s.log.InfoContext(ctx, "snapshot loaded", "snapshot", snap.ID, "db", db.Name, "ms", time.Since(start).Milliseconds())
	return nil
}

// dropLoadLogin removes the restore's load login, if it has one, after
// handing what it owns in the named databases to the owner.
func dropLoadLogin(ctx context.Context, drv provision.Driver, db store.Database, d restoreDetails, databases ...string) error {
	pg, ok := drv.(provision.LoadLogins)
	if d.Login == "" || !ok {
		return nil
	}
	return pg.DropLoadLogin(ctx, d.Login, db.Username, newPassword(), databases...)
}

// swapIn swaps the loaded copy in, drops the old contents and records the
// restore. A swap error is never left for the reconciler to roll forward:
// the client is told the restore failed, so it must not happen later. If
// the swap did not take effect it is undone; if it did, it is completed
// now; if it is stuck between the two, the database needs attention.
func (s *Service) swapIn(ctx context.Context, lk *store.Lock, drv provision.Driver, srv store.Server, db store.Database, op store.Operation, d restoreDetails, remoteAddr string) error {
	// Before the swap the login's session only ever reached the copy.
	err := dropLoadLogin(ctx, drv, db, d, d.Temp)
	if err == nil {
		err = s.fail.Hit("restore.swap")
	}
	if err == nil {
		err = drv.SwapDatabase(ctx, db.Name, d.Temp, d.Retired, db.Username)
	}
	if err != nil {
		return s.swapFailed(ctx, lk, drv, srv, db, op, d, err)
	}
	return s.finishRestore(ctx, lk, drv, db, op, d, remoteAddr)
}

// swapFailed decides what a failed swap becomes (see swapIn).
func (s *Service) swapFailed(ctx context.Context, lk *store.Lock, drv provision.Driver, srv store.Server, db store.Database, op store.Operation, d restoreDetails, cause error) error {
	s.log.ErrorContext(ctx, "restore swap failed", "db", db.Name, "op", op.ID, "err", cause)
	if errors.Is(cause, provision.ErrSwapConflict) {
		return s.needsAttention(ctx, lk, db, op, "a restore found its databases in an unexpected state and stopped; the database may only be deleted until Cellar's operators have looked at it", cause)
	}
	progress, err := drv.SwapProgress(ctx, db.Name, d.Temp, d.Retired)
	switch {
	case err != nil:
		return s.needsAttention(ctx, lk, db, op, "a restore failed at the swap and whether it took effect could not be read; the database may only be deleted until Cellar's operators have looked at it", errors.Join(cause, err))
	case progress == provision.SwapNotStarted:
		return s.undoRestore(ctx, lk, drv, srv, db, op, d, cause)
	case progress == provision.SwapDone:
		// Past the point of no return: finish it, and tell the client it
		// worked, which it has.
		if err := drv.SwapDatabase(ctx, db.Name, d.Temp, d.Retired, db.Username); err != nil {
			return s.needsAttention(ctx, lk, db, op, "a restore replaced the database's contents but could not finish; the database may only be deleted until Cellar's operators have looked at it", errors.Join(cause, err))
		}
		return s.finishRestore(ctx, lk, drv, db, op, d, "")
	}
	return s.needsAttention(ctx, lk, db, op, "a restore stopped half-way through the swap and could not undo it; the database may only be deleted until Cellar's operators have looked at it", cause)
}

// finishRestore drops the old contents and records the restore. Every step
// is idempotent, for the reconciler.
func (s *Service) finishRestore(ctx context.Context, lk *store.Lock, drv provision.Driver, db store.Database, op store.Operation, d restoreDetails, remoteAddr string) error {
	if err := s.fail.Hit("restore.after_swap"); err != nil {
		return err
	}
	if err := drv.DropDatabase(ctx, d.Retired); err != nil {
		s.noteFailure(ctx, op, err)
		return err
	}
	return succeed(ctx, lk, op, db, "restored", remoteAddr, map[string]any{"snapshot_id": d.SnapshotID, "in_place": !d.NewDatabase})
}

// undoRestore drops the temporary copy (and the load login) of a restore
// that did not get as far as the swap: the live database was never
// touched. A restore into a database made for it deletes that database
// too. It returns cause, marked as undone, or the clean-up's own error
// (the operation then stays pending, and the reconciler undoes it).
func (s *Service) undoRestore(ctx context.Context, lk *store.Lock, drv provision.Driver, srv store.Server, db store.Database, op store.Operation, d restoreDetails, cause error) error {
	ctx = context.WithoutCancel(ctx)
	if err := s.abandonRestore(ctx, lk, drv, srv, db, op, d); err != nil {
		s.log.ErrorContext(ctx, "clean up failed restore; the reconciler will retry", "db", db.Name, "err", err)
		return errors.Join(cause, err)
	}
	if isCoded(cause) {
		return cause
	}
	return fmt.Errorf("%w: %w", errRestoreUndone, cause)
}

// abandonRestore is undoRestore's clean-up, also run by the reconciler.
func (s *Service) abandonRestore(ctx context.Context, lk *store.Lock, drv provision.Driver, srv store.Server, db store.Database, op store.Operation, d restoreDetails) error {
	err := dropLoadLogin(ctx, drv, db, d, d.Temp)
	if err == nil {
		err = drv.DropDatabase(ctx, d.Temp)
	}
	if err == nil {
		err = drv.DropDatabase(ctx, d.Retired) // an empty leftover, if any
	}
	if err != nil {
		s.noteFailure(ctx, op, err)
		return err
	}
	if err := lk.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpRolledBack}); err != nil {
		return err
	}
	if d.NewDatabase {
		// Made for this restore and never handed over complete.
		return s.deleteLocked(ctx, lk, srv, db, op.Actor)
	}
	return nil
}

// settleRestore finishes a restore whose owner died: before the copy was
// fully loaded it is dropped (the live database is untouched); after, the
// swap is completed.
func (s *Service) settleRestore(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error {
	err := s.settleRestoreOp(ctx, lk, srv, db, op)
	if err == nil {
		s.recordSettledRestore(ctx, op)
	}
	return err
}

func (s *Service) settleRestoreOp(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error {
	var d restoreDetails
	if err := json.Unmarshal(op.Details, &d); err != nil {
		return fmt.Errorf("restore operation %s: %w", op.ID, err)
	}
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return err
	}
	if !d.Loaded {
		return s.abandonRestore(ctx, lk, drv, srv, db, op, d)
	}
	if err := dropLoadLogin(ctx, drv, db, d, d.Temp, db.Name); err != nil {
		s.noteFailure(ctx, op, err)
		return err
	}
	if err := drv.SwapDatabase(ctx, db.Name, d.Temp, d.Retired, db.Username); err != nil {
		if errors.Is(err, provision.ErrSwapConflict) {
			// Settled: the database is marked, the operation closed.
			if err := s.needsAttention(ctx, lk, db, op, "a restore found its databases in an unexpected state and stopped; the database may only be deleted until Cellar's operators have looked at it", err); !isCoded(err) {
				return err
			}
			return nil
		}
		s.noteFailure(ctx, op, err)
		return fmt.Errorf("swap restored copy in: %w", err)
	}
	return s.finishRestore(ctx, lk, drv, db, op, d, "")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newPassword is a random password for a login that only Cellar uses.
func newPassword() string { return randomHex(24) }

// isCoded reports whether err carries an error code for the client.
func isCoded(err error) bool {
	var ce *cellar.Error
	return errors.As(err, &ce)
}
