package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// JobQueue enqueues background work inside the caller's transaction, so
// that a recorded snapshot always has a job to take it. kind ("manual" or
// "scheduled") chooses the queue: scheduled backups have workers of their
// own, so no number of manual snapshots can hold them up.
type JobQueue interface {
	EnqueueSnapshot(ctx context.Context, tx pgx.Tx, snapshotID, kind string) error
	// EnqueueRestore queues a restore job that may run for up to timeout.
	EnqueueRestore(ctx context.Context, tx pgx.Tx, restoreID string, timeout time.Duration) error
}

// SetJobQueue connects the background job runner. It is set after New
// because the runner's workers call back into the Service.
func (s *Service) SetJobQueue(q JobQueue) { s.jobs = q }

// Snapshot is a backup of a database as the API shows it.
type Snapshot struct {
	ID            string
	Engine        cellar.Engine
	Database      string
	Kind          string
	Status        cellar.SnapshotStatus
	Description   *string
	BytesWritten  int64
	SizeBytes     *int64
	SHA256        *string
	ServerVersion *string
	Error         *string
	CreatedAt     time.Time
	CompletedAt   *time.Time
}

func snapshotFrom(r store.Snapshot, dbName string) Snapshot {
	return Snapshot{
		ID: r.ID, Engine: cellar.Engine(r.Engine), Database: dbName, Kind: r.Kind, Status: r.Status,
		Description: r.Description, BytesWritten: r.BytesWritten, SizeBytes: r.SizeBytes, SHA256: r.Sha256,
		ServerVersion: r.ServerVersion, Error: r.Error, CreatedAt: r.CreatedAt, CompletedAt: r.CompletedAt,
	}
}

// CreateSnapshotRequest is the optional body of POST …/snapshots.
type CreateSnapshotRequest struct {
	Description *string `json:"description"`
}

// newSnapshotID returns snap_YYYYMMDD_HHMMSS_xxxxxxxx.
func newSnapshotID(now time.Time) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "snap_" + now.UTC().Format("20060102_150405") + "_" + hex.EncodeToString(b)
}

func snapshotKey(db store.Database, id string) string {
	ext := ".dump"
	if db.Engine == string(cellar.MariaDB) {
		ext = ".sql.gz"
	}
	return db.CustomerID + "/" + db.Name + "/" + id + ext
}

// CreateSnapshot records a snapshot and queues the dump; it answers at once
// with the snapshot pending. Progress and the outcome show on
// ListSnapshots. It needs only database:read (as the reference has it), so
// it is bounded: one snapshot in flight per database (409 naming it), and
// the customer's snapshot count and bytes limits (quota).
func (s *Service) CreateSnapshot(ctx context.Context, c Caller, dbType, dbName string, req CreateSnapshotRequest) (*Snapshot, error) {
	if err := c.Require(cellar.PermDatabaseRead); err != nil {
		return nil, err
	}
	engine, err := parseTarget(dbType, dbName)
	if err != nil {
		return nil, err
	}
	if d := req.Description; d != nil && len(*d) > 500 {
		return nil, cellar.Invalid(cellar.FieldError{Field: "description", Message: "must be at most 500 characters"})
	}
	db, _, err := s.readActive(ctx, c, engine, dbName)
	if err != nil {
		return nil, err
	}
	snap, err := s.enqueueManualSnapshot(ctx, db, req.Description, c.KeyPrefix, s.now())
	if err != nil {
		return nil, err
	}
	out := snapshotFrom(snap, db.Name)
	return &out, nil
}

// enqueueManualSnapshot checks the limits and records the snapshot in one
// transaction, under the customer's quota lock, so that concurrent creates
// are counted one after the other and cannot overshoot together.
func (s *Service) enqueueManualSnapshot(ctx context.Context, db store.Database, description *string, actor string, now time.Time) (store.Snapshot, error) {
	if s.jobs == nil {
		return store.Snapshot{}, cellar.Errorf(cellar.CodeUnavailable, "snapshots are not available from this process")
	}
	var snap store.Snapshot
	err := s.store.InPgxTx(ctx, func(tx pgx.Tx, q *store.Queries) error {
		if err := q.LockCustomerQuota(ctx, db.CustomerID); err != nil {
			return err
		}
		if err := snapshotInFlight(ctx, q, db); err != nil {
			return err
		}
		if err := s.checkSnapshotQuota(ctx, q, db.CustomerID); err != nil {
			return err
		}
		var err error
		snap, err = s.insertSnapshot(ctx, tx, q, db, "manual", description, actor, now)
		if errors.Is(err, errSnapshotInFlight) { // only if a create ever bypasses the lock
			if err := snapshotInFlight(ctx, q, db); err != nil {
				return err
			}
			return cellar.Errorf(cellar.CodeConflict, "another snapshot of database %s was just queued; try again", db.Name)
		}
		return err
	})
	if err != nil {
		return snap, fmt.Errorf("record snapshot: %w", err)
	}
	return snap, nil
}

// snapshotInFlight refuses a manual snapshot while another snapshot of the
// database (manual or scheduled) is pending or running. The problem names
// it, in the detail and as the snapshot_id member, so a client can follow
// that one instead.
// A running one whose worker has stopped beating (its process died) is
// failed here rather than block the database until River rescues its job.
func snapshotInFlight(ctx context.Context, q *store.Queries, db store.Database) error {
	cur, err := q.GetInFlightSnapshot(ctx, store.GetInFlightSnapshotParams{CustomerID: db.CustomerID, DatabaseID: db.ID})
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Status == cellar.SnapshotRunning {
		n, err := q.FailAbandonedSnapshot(ctx, store.FailAbandonedSnapshotParams{ID: cur.ID, StaleSeconds: int32(snapshotAbandonedAfter / time.Second)})
		if err != nil {
			return err
		}
		if n == 1 {
			return snapshotInFlight(ctx, q, db)
		}
	}
	e := cellar.Errorf(cellar.CodeConflict, "snapshot %s of database %s is still %s; one snapshot at a time per database: follow it with GET …/snapshots, then try again",
		cur.ID, db.Name, cur.Status)
	e.Members = map[string]string{"snapshot_id": cur.ID}
	return e
}

// errSnapshotInFlight: a manual snapshot of the database is already
// pending or running, so no new one was recorded.
var errSnapshotInFlight = errors.New("a manual snapshot of this database is already in flight")

// insertSnapshot records a snapshot and its job, or returns
// errSnapshotInFlight (and records nothing) for a manual snapshot while
// another manual one of the database is pending or running.
func (s *Service) insertSnapshot(ctx context.Context, tx pgx.Tx, q *store.Queries, db store.Database, kind string, description *string, actor string, now time.Time) (store.Snapshot, error) {
	id := newSnapshotID(now)
	snap, err := q.InsertSnapshot(ctx, store.InsertSnapshotParams{
		ID: id, DatabaseID: db.ID, CustomerID: db.CustomerID, Engine: db.Engine, Kind: kind,
		Description: description, StorageKey: snapshotKey(db, id), CreatedBy: actor, CreatedAt: now,
	})
	if store.IsNotFound(err) {
		return snap, errSnapshotInFlight
	}
	if err != nil {
		return snap, err
	}
	return snap, s.jobs.EnqueueSnapshot(ctx, tx, id, kind)
}

// A running snapshot's worker beats every snapshotHeartbeat; one not heard
// of for snapshotAbandonedAfter is taken for dead (see snapshotInFlight).
const (
	snapshotHeartbeat      = 30 * time.Second
	snapshotAbandonedAfter = 5 * time.Minute
)

// heartbeat keeps the running snapshot's heartbeat_at fresh until stop is
// called, whether or not the dump is writing (it may wait on a lock).
func (s *Service) heartbeat(ctx context.Context, id string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(snapshotHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.store.SnapshotHeartbeat(ctx, id); err != nil && ctx.Err() == nil {
					s.log.WarnContext(ctx, "snapshot heartbeat", "snapshot", id, "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// RunSnapshot takes the snapshot: the engine's dump tool streams into the
// snapshot store, which publishes the file only once it is complete and
// checksummed. A failed or interrupted dump leaves no file that looks
// complete. lastAttempt marks the snapshot failed on error; otherwise the
// error is returned so the job is retried.
func (s *Service) RunSnapshot(ctx context.Context, id string, lastAttempt bool) error {
	snap, err := s.store.StartSnapshot(ctx, id)
	if store.IsNotFound(err) {
		return nil // completed, failed or deleted meanwhile
	}
	if err != nil {
		return err
	}
	row, err := s.store.GetDatabaseByID(ctx, snap.DatabaseID)
	if err != nil {
		return err
	}
	db, srv := row.Database, row.Server
	if db.Status != cellar.DatabaseActive {
		return s.failSnapshot(ctx, snap, "the database no longer exists")
	}
	stopBeating := s.heartbeat(ctx, id)
	defer stopBeating()
	start := time.Now()
	err = s.dumpSnapshot(ctx, snap, db, srv)
	s.metrics.observe(db.Engine, "snapshot", start, err)
	if err == nil {
		s.log.InfoContext(ctx, "snapshot completed", "snapshot", id, "db", db.Name, "ms", time.Since(start).Milliseconds())
		return nil
	}
	s.log.ErrorContext(ctx, "snapshot failed", "snapshot", id, "db", db.Name, "last_attempt", lastAttempt, "err", err)
	if lastAttempt || errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return s.failSnapshot(ctx, snap, publicReason(err))
	}
	return err
}

func (s *Service) dumpSnapshot(ctx context.Context, snap store.Snapshot, db store.Database, srv store.Server) error {
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return err
	}
	version, err := drv.ServerVersion(ctx)
	if err != nil {
		return err
	}
	conn, err := s.fleet.adminConn(ctx, srv)
	if err != nil {
		return err
	}
	w, err := s.snapshots.Create(ctx, snap.StorageKey)
	if err != nil {
		return err
	}
	defer w.Abort() // no-op after Commit
	var last time.Time
	progress := func(n int64) {
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		if err := s.store.SnapshotProgress(ctx, store.SnapshotProgressParams{ID: snap.ID, BytesWritten: n}); err != nil {
			s.log.WarnContext(ctx, "snapshot progress", "snapshot", snap.ID, "err", err)
		}
	}
	if err := s.tools.Dump(ctx, cellar.Engine(db.Engine), conn, db.Name, w, progress); err != nil {
		return err
	}
	if err := s.fail.Hit("snapshot.after_dump"); err != nil {
		return err
	}
	size, sum, err := w.Commit()
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q *store.Queries) error {
		if err := q.CompleteSnapshot(ctx, store.CompleteSnapshotParams{ID: snap.ID, SizeBytes: &size, Sha256: &sum, ServerVersion: &version}); err != nil {
			return err
		}
		return insertEvent(ctx, q, db, "snapshot_created", store.Operation{Actor: snap.CreatedBy}, "",
			map[string]any{"snapshot_id": snap.ID, "size_bytes": size, "kind": snap.Kind})
	})
}

func (s *Service) failSnapshot(ctx context.Context, snap store.Snapshot, reason string) error {
	return s.store.FailSnapshot(ctx, store.FailSnapshotParams{ID: snap.ID, Error: &reason})
}

// publicReason is a failure reason fit for the customer: the kind of
// failure, not the tool's output (which could name other objects).
func publicReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the dump took too long and was stopped"
	case errors.Is(err, context.Canceled):
		return "the dump was interrupted"
	}
	return "the dump failed; Cellar's operators have the details in the log"
}

// ListSnapshots lists a database's snapshots, newest first.
func (s *Service) ListSnapshots(ctx context.Context, c Caller, dbType, dbName string) ([]Snapshot, error) {
	db, _, err := s.readTarget(ctx, c, cellar.PermDatabaseRead, dbType, dbName)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.ListSnapshots(ctx, store.ListSnapshotsParams{CustomerID: db.CustomerID, DatabaseID: db.ID})
	if err != nil {
		return nil, err
	}
	out := make([]Snapshot, 0, len(rows))
	for _, r := range rows {
		out = append(out, snapshotFrom(r, db.Name))
	}
	return out, nil
}

// DeleteSnapshot removes a snapshot's file and record.
func (s *Service) DeleteSnapshot(ctx context.Context, c Caller, dbType, dbName, snapshotID string) error {
	db, _, err := s.readTarget(ctx, c, cellar.PermDatabaseDelete, dbType, dbName)
	if err != nil {
		return err
	}
	snap, err := s.store.GetCustomerSnapshot(ctx, store.GetCustomerSnapshotParams{CustomerID: db.CustomerID, DatabaseID: db.ID, ID: snapshotID})
	if store.IsNotFound(err) {
		return cellar.NotFound("snapshot", snapshotID)
	}
	if err != nil {
		return err
	}
	if snap.Status.InFlight() {
		return cellar.Errorf(cellar.CodeConflict, "snapshot %s is still being taken; delete it once it has finished", snapshotID)
	}
	return s.removeSnapshot(ctx, db, snap, c.KeyPrefix)
}

// removeSnapshotsOf deletes every finished snapshot of a database.
func (s *Service) removeSnapshotsOf(ctx context.Context, db store.Database, actor string) error {
	if s.snapshots == nil {
		return nil
	}
	snaps, err := s.store.ListSnapshots(ctx, store.ListSnapshotsParams{CustomerID: db.CustomerID, DatabaseID: db.ID})
	if err != nil {
		return err
	}
	for _, snap := range snaps {
		if snap.Status.InFlight() {
			continue // its job finds the database gone; retention removes it after
		}
		if err := s.removeSnapshot(ctx, db, snap, actor); err != nil {
			return err
		}
	}
	return nil
}

// removeSnapshot deletes the file first: a record without a file is
// harmless and retried, a file without a record would be an orphan.
func (s *Service) removeSnapshot(ctx context.Context, db store.Database, snap store.Snapshot, actor string) error {
	if err := s.snapshots.Delete(ctx, snap.StorageKey); err != nil {
		return fmt.Errorf("delete snapshot file: %w", err)
	}
	return s.store.InTx(ctx, func(q *store.Queries) error {
		if err := q.DeleteSnapshot(ctx, snap.ID); err != nil {
			return err
		}
		return insertEvent(ctx, q, db, "snapshot_deleted", store.Operation{Actor: actor}, "",
			map[string]any{"snapshot_id": snap.ID, "size_bytes": snap.SizeBytes})
	})
}

// openVerified opens a completed snapshot after checking, in one pass over
// the file, that its SHA-256 is the recorded one and that the engine's
// tool can read it. Nothing is touched if either check fails.
func (s *Service) openVerified(ctx context.Context, snap store.Snapshot) (io.ReadCloser, error) {
	if snap.Status != cellar.SnapshotCompleted || snap.Sha256 == nil {
		return nil, cellar.Errorf(cellar.CodeConflict, "snapshot %s is %s, not completed", snap.ID, snap.Status)
	}
	f, err := s.snapshots.Open(ctx, snap.StorageKey)
	if err != nil {
		return nil, cellar.Errorf(cellar.CodeConflict, "snapshot %s cannot be read: its file is missing", snap.ID)
	}
	h := sha256.New()
	verr := s.tools.Verify(ctx, cellar.Engine(snap.Engine), io.TeeReader(f, h))
	_, _ = io.Copy(h, f) // whatever the tool did not read still counts; a read error shows as a checksum mismatch
	f.Close()
	if got := hex.EncodeToString(h.Sum(nil)); got != *snap.Sha256 {
		return nil, cellar.Errorf(cellar.CodeConflict, "snapshot %s is corrupt: its checksum does not match; nothing was changed", snap.ID)
	}
	if verr != nil {
		return nil, cellar.Errorf(cellar.CodeConflict, "snapshot %s is unreadable by the restore tool; nothing was changed", snap.ID)
	}
	return s.snapshots.Open(ctx, snap.StorageKey)
}
