package service

// Restores run as background jobs: POST …/restore records the restore (and
// makes the new database, for target_db_name) and answers at once; a job
// verifies the snapshot, loads it and swaps it in, under a deadline that
// grows with the snapshot's size rather than a request's. The client polls
// GET …/restores/{id}.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// RestoreJob is a restore as the API shows it.
type RestoreJob struct {
	ID         uuid.UUID
	Engine     cellar.Engine
	Database   string // the database the request addressed
	Target     string // where the snapshot is restored
	SnapshotID string
	Status     cellar.RestoreStatus
	Error      *string
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// New carries the new database's credentials, only in the answer to
	// the request that made it.
	New *CreateResult
}

// Restore statuses, short names for this file.
const (
	restorePending   = cellar.RestorePending
	restoreRunning   = cellar.RestoreRunning
	restoreCompleted = cellar.RestoreCompleted
	restoreFailed    = cellar.RestoreFailed
)

// Restore queues the restore of a snapshot and answers with it pending. In
// place, the snapshot is restored into a fresh database first and swapped
// in only when that succeeded, so a failed or interrupted restore never
// leaves the customer with a broken database; sessions are ended at the
// swap. With target_db_name, a new database is made now for the same
// customer (naming rules apply; it needs database:create as well) and its
// credentials are returned once; the snapshot is loaded into it by the
// job, and a restore that fails deletes it again.
func (s *Service) Restore(ctx context.Context, c Caller, dbType, dbName string, req RestoreRequest) (*RestoreJob, error) {
	if err := c.Require(cellar.PermDatabaseUpdate); err != nil {
		return nil, err
	}
	if req.TargetDBName != nil {
		// It makes a database.
		if err := c.Require(cellar.PermDatabaseCreate); err != nil {
			return nil, err
		}
	}
	engine, err := parseTarget(dbType, dbName)
	if err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if s.jobs == nil {
		return nil, cellar.Errorf(cellar.CodeUnavailable, "restores are not available from this process")
	}
	src, _, err := s.readActive(ctx, c, engine, dbName)
	if err != nil {
		return nil, err
	}
	if err := attentionConflict(src); err != nil {
		return nil, err
	}
	snap, err := s.store.GetCustomerSnapshot(ctx, store.GetCustomerSnapshotParams{CustomerID: src.CustomerID, DatabaseID: src.ID, ID: req.SnapshotID})
	if store.IsNotFound(err) {
		return nil, cellar.NotFound("snapshot", req.SnapshotID)
	}
	if err != nil {
		return nil, err
	}
	if snap.Status != cellar.SnapshotCompleted || snap.Sha256 == nil {
		return nil, cellar.Errorf(cellar.CodeConflict, "snapshot %s is %s, not completed", snap.ID, snap.Status)
	}
	target, job := src, &RestoreJob{Engine: engine, Database: src.Name, Target: src.Name, SnapshotID: snap.ID}
	ctx, cancel := detached(ctx)
	defer cancel()
	if req.TargetDBName != nil {
		suffix, _ := cellar.NormalizeRequestedName(*req.TargetDBName)
		name := cellar.DatabaseName(src.CustomerID, engine, suffix)
		if name == src.Name {
			return nil, cellar.Invalid(cellar.FieldError{Field: "target_db_name", Message: "names the database itself; omit it to restore in place"})
		}
		res, existed, err := s.createNamed(ctx, c, engine, src.CustomerID, name, &suffix)
		if err != nil {
			return nil, err
		}
		if existed {
			return nil, cellar.Errorf(cellar.CodeConflict, "database %s already exists; choose another target_db_name", name)
		}
		row, _, err := s.readActive(ctx, c, engine, name)
		if err != nil {
			return nil, err
		}
		target, job.Target, job.New = row, name, res
	}
	var r store.Restore
	err = s.store.InPgxTx(ctx, func(tx pgx.Tx, q *store.Queries) error {
		var err error
		r, err = q.InsertRestore(ctx, store.InsertRestoreParams{
			ID: uuid.New(), CustomerID: src.CustomerID, SourceDatabaseID: src.ID, TargetDatabaseID: target.ID,
			SnapshotID: snap.ID, NewDatabase: job.New != nil, Actor: c.KeyPrefix, RequestID: c.RequestID,
		})
		if err != nil {
			return err
		}
		return s.jobs.EnqueueRestore(ctx, tx, r.ID.String(), restoreTimeout(snap))
	})
	if err != nil {
		if job.New != nil {
			// Nothing will load it: take it back.
			s.dropNewTarget(ctx, engine, target.Name, c.KeyPrefix)
		}
		if store.IsUniqueViolation(err) {
			return nil, cellar.Errorf(cellar.CodeConflict, "a restore of %s is already pending or running; wait for it to finish", target.Name)
		}
		return nil, fmt.Errorf("record restore: %w", err)
	}
	job.ID, job.Status, job.CreatedAt = r.ID, r.Status, r.CreatedAt
	return job, nil
}

// dropNewTarget deletes a database made for a restore that will not run,
// through the internal path (the caller may lack database:delete).
func (s *Service) dropNewTarget(ctx context.Context, engine cellar.Engine, name, actor string) {
	h, err := s.lockActive(ctx, Caller{Principal: cellar.Principal{Internal: true}, Background: true}, engine, name)
	if err == nil {
		defer h.release()
		err = s.deleteLocked(ctx, h.lk, h.srv, h.db, actor)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "delete the new database of a restore that did not start", "db", name, "err", err)
	}
}

// GetRestore returns one restore of the addressed database, for polling.
func (s *Service) GetRestore(ctx context.Context, c Caller, dbType, dbName, id string) (*RestoreJob, error) {
	db, _, err := s.readTarget(ctx, c, cellar.PermDatabaseRead, dbType, dbName)
	if err != nil {
		return nil, err
	}
	rid, err := uuid.Parse(id)
	if err != nil {
		return nil, cellar.NotFound("restore", id)
	}
	row, err := s.store.GetCustomerRestore(ctx, store.GetCustomerRestoreParams{ID: rid, CustomerID: db.CustomerID, SourceDatabaseID: db.ID})
	if store.IsNotFound(err) {
		return nil, cellar.NotFound("restore", id)
	}
	if err != nil {
		return nil, err
	}
	target := db.Name
	if row.TargetDatabaseID != db.ID {
		t, err := s.store.GetDatabaseByID(ctx, row.TargetDatabaseID)
		if err != nil {
			return nil, err
		}
		target = t.Database.Name
	}
	job := &RestoreJob{
		ID: row.ID, Engine: cellar.Engine(db.Engine), Database: db.Name, Target: target, SnapshotID: row.SnapshotID,
		Status: row.Status, Error: row.Error, CreatedAt: row.CreatedAt, StartedAt: row.StartedAt, FinishedAt: row.FinishedAt,
	}
	return job, nil
}

// outcomeOf maps the state of a restore's operation to the restore's
// status and failure reason; "" while the operation is pending.
func outcomeOf(opState cellar.OpState, newDB bool) (cellar.RestoreStatus, *string) {
	switch opState {
	case cellar.OpSucceeded:
		return restoreCompleted, nil
	case cellar.OpRolledBack:
		reason := "the restore was interrupted and undone; the database was not changed"
		if newDB {
			reason = "the restore was interrupted and undone; the new database was deleted"
		}
		return restoreFailed, &reason
	case cellar.OpFailed:
		reason := "the restore could neither finish nor be undone; the database needs attention"
		return restoreFailed, &reason
	}
	return "", nil
}

// recordSettledRestore records the outcome of the restore whose operation
// op the reconciler has just settled (its process died), so that the
// client polling it sees the end at once and the database's one-restore
// slot is free, without waiting for River to take the job up again.
func (s *Service) recordSettledRestore(ctx context.Context, op store.Operation) {
	r, err := s.store.GetRestoreByOperation(ctx, &op.ID)
	if err != nil || !r.Status.Active() {
		return
	}
	settled, err := s.store.GetOperation(ctx, op.ID)
	if err != nil {
		return
	}
	if st, reason := outcomeOf(settled.State, r.NewDatabase); st != "" {
		if err := s.finishRestoreJob(ctx, r.ID, st, reason); err != nil {
			s.log.WarnContext(ctx, "record the outcome of a settled restore", "restore", r.ID, "err", err)
		}
	}
}

// RunRestore is the restore job. It returns an error only for the job to
// be retried (the outcome could not be recorded); a restore that fails is
// recorded as failed with its reason, and the job succeeds.
func (s *Service) RunRestore(ctx context.Context, id string) error {
	rid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("restore job: bad id %q", id)
	}
	r, err := s.store.GetRestore(ctx, rid)
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Status == restoreCompleted || r.Status == restoreFailed {
		return nil
	}
	row, err := s.store.GetDatabaseByID(ctx, r.TargetDatabaseID)
	if err != nil {
		return err
	}
	db := row.Database
	engine := cellar.Engine(db.Engine)
	c := Caller{Principal: cellar.Principal{CustomerID: r.CustomerID, KeyPrefix: r.Actor}, RequestID: r.RequestID, Background: true}
	if r.OperationID != nil {
		// An earlier attempt died after it started: its operation is
		// settled (by the reconciler, or now through the lock), and that
		// is the outcome.
		return s.recordSettled(ctx, c, engine, db, r)
	}
	snap, err := s.store.GetCustomerSnapshot(ctx, store.GetCustomerSnapshotParams{CustomerID: r.CustomerID, DatabaseID: r.SourceDatabaseID, ID: r.SnapshotID})
	if err == nil {
		err = s.restoreInto(ctx, c, engine, snap, db.Name, r.NewDatabase, &r.ID)
	} else if store.IsNotFound(err) {
		err = cellar.Errorf(cellar.CodeConflict, "snapshot %s was deleted before the restore started", r.SnapshotID)
	}
	if err == nil {
		return s.finishRestoreJob(ctx, r.ID, restoreCompleted, nil)
	}
	s.log.ErrorContext(ctx, "restore failed", "restore", r.ID, "db", db.Name, "err", err)
	if r.NewDatabase && !s.wasStarted(ctx, r.ID) {
		// Refused before it recorded anything (a corrupt snapshot, say):
		// the new database was never loaded; take it back.
		s.dropNewTarget(context.WithoutCancel(ctx), engine, db.Name, r.Actor)
	}
	reason := restoreReason(err, r.NewDatabase)
	return s.finishRestoreJob(ctx, r.ID, restoreFailed, &reason)
}

// wasStarted reports whether the restore recorded its operation.
func (s *Service) wasStarted(ctx context.Context, id uuid.UUID) bool {
	r, err := s.store.GetRestore(context.WithoutCancel(ctx), id)
	return err == nil && r.OperationID != nil
}

// recordSettled records the outcome of a restore whose earlier attempt
// died, settling its operation first if nobody has.
func (s *Service) recordSettled(ctx context.Context, c Caller, engine cellar.Engine, db store.Database, r store.Restore) error {
	if h, err := s.lockActive(ctx, c, engine, db.Name); err == nil {
		h.release() // settled on the way in
	}
	op, err := s.store.GetOperation(ctx, *r.OperationID)
	if err != nil {
		return err
	}
	st, reason := outcomeOf(op.State, r.NewDatabase)
	if st == "" {
		return fmt.Errorf("restore %s: its operation is still pending", r.ID)
	}
	return s.finishRestoreJob(ctx, r.ID, st, reason)
}

func (s *Service) finishRestoreJob(ctx context.Context, id uuid.UUID, status cellar.RestoreStatus, reason *string) error {
	return s.store.FinishRestore(context.WithoutCancel(ctx), store.FinishRestoreParams{ID: id, Status: status, Error: reason})
}

// restoreReason is a failure reason fit for the customer: a coded error's
// own message (written for clients), else what became of the database.
func restoreReason(err error, newDB bool) string {
	var ce *cellar.Error
	switch {
	case errors.As(err, &ce):
		return ce.Message
	case errors.Is(err, context.DeadlineExceeded):
		if newDB {
			return "the restore took too long and was stopped and undone; the new database was deleted"
		}
		return "the restore took too long and was stopped and undone; the database was not changed"
	case newDB:
		return "the restore failed and was undone; the new database was deleted. Cellar's operators have the details in the log"
	}
	return "the restore failed and was undone; the database was not changed. Cellar's operators have the details in the log"
}
