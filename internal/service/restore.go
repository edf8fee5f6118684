package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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

// RestoreResult says where a snapshot was restored. A restore to a new
// database also carries that database's credentials, shown once.
type RestoreResult struct {
	Database   string
	SnapshotID string
	New        *CreateResult
}

// restoreDetails is what an in-place restore records before it acts.
type restoreDetails struct {
	SnapshotID string `json:"snapshot_id"`
	Temp       string `json:"temp"`    // where the snapshot is loaded first
	Retired    string `json:"retired"` // where the old contents go at the swap
	Loaded     bool   `json:"loaded"`  // the snapshot is fully in Temp
}

// Restore loads a snapshot. In place, the snapshot is restored into a
// fresh database first and swapped in only when that succeeded, so a
// failed or interrupted restore never leaves the customer with a broken
// database; sessions are ended at the swap. With target_db_name, a new
// database is made for the same customer (naming rules apply) and the
// snapshot is restored into it.
func (s *Service) Restore(ctx context.Context, c Caller, dbType, dbName string, req RestoreRequest) (*RestoreResult, error) {
	if err := c.Require(cellar.PermDatabaseUpdate); err != nil {
		return nil, err
	}
	engine, err := parseTarget(dbType, dbName)
	if err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	db, _, err := s.readActive(ctx, c, engine, dbName)
	if err != nil {
		return nil, err
	}
	snap, err := s.store.GetCustomerSnapshot(ctx, store.GetCustomerSnapshotParams{CustomerID: db.CustomerID, DatabaseID: db.ID, ID: req.SnapshotID})
	if store.IsNotFound(err) {
		return nil, cellar.NotFound("snapshot", req.SnapshotID)
	}
	if err != nil {
		return nil, err
	}
	// Checked before anything is touched.
	check, err := s.openVerified(ctx, snap)
	if err != nil {
		return nil, err
	}
	check.Close()
	ctx, cancel := detached(ctx)
	defer cancel()
	if req.TargetDBName != nil {
		return s.restoreToNew(ctx, c, engine, db, snap, *req.TargetDBName)
	}
	return s.restoreInPlace(ctx, c, engine, snap, dbName)
}

func (s *Service) restoreToNew(ctx context.Context, c Caller, engine cellar.Engine, src store.Database, snap store.Snapshot, target string) (*RestoreResult, error) {
	suffix, _ := cellar.NormalizeRequestedName(target)
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
	err = s.loadInto(ctx, c, engine, snap, name)
	if err != nil {
		// The new database is half loaded: it goes, with its user and secret.
		s.log.ErrorContext(ctx, "restore to new database failed; deleting it", "db", name, "err", err)
		if delErr := s.DeleteDatabase(ctx, c, DeleteDatabaseRequest{DBType: string(engine), DBName: name}); delErr != nil {
			s.log.ErrorContext(ctx, "delete half-restored database", "db", name, "err", delErr)
		}
		return nil, err
	}
	return &RestoreResult{Database: name, SnapshotID: snap.ID, New: res}, nil
}

// loadInto restores a snapshot into an existing, empty database of the
// customer and records it.
func (s *Service) loadInto(ctx context.Context, c Caller, engine cellar.Engine, snap store.Snapshot, name string) error {
	h, err := s.lockActive(ctx, c, engine, name)
	if err != nil {
		return err
	}
	defer h.release()
	if err := s.load(ctx, h.srv, snap, h.db.Name, h.db.Username); err != nil {
		return err
	}
	return h.lk.InTx(ctx, func(q *store.Queries) error {
		return insertEvent(ctx, q, h.db, "restored", store.Operation{Actor: c.KeyPrefix, RequestID: c.RequestID}, c.RemoteAddr,
			map[string]any{"snapshot_id": snap.ID, "from_database": snapDatabase(snap)})
	})
}

func snapDatabase(snap store.Snapshot) string { return snap.DatabaseID.String() }

// load streams a verified snapshot into database with the engine's tool.
func (s *Service) load(ctx context.Context, srv store.Server, snap store.Snapshot, database, owner string) error {
	r, err := s.openVerified(ctx, snap)
	if err != nil {
		return err
	}
	defer r.Close()
	conn, err := s.fleet.adminConn(ctx, srv)
	if err != nil {
		return err
	}
	start := time.Now()
	err = s.tools.Restore(ctx, snap.Engine, conn, database, owner, r)
	s.metrics.observe(snap.Engine, "restore", start, err)
	if err != nil {
		return fmt.Errorf("restore %s into %s: %w", snap.ID, database, err)
	}
	return nil
}

func (s *Service) restoreInPlace(ctx context.Context, c Caller, engine cellar.Engine, snap store.Snapshot, dbName string) (*RestoreResult, error) {
	h, err := s.lockActive(ctx, c, engine, dbName)
	if err != nil {
		return nil, err
	}
	defer h.release()
	d := restoreDetails{SnapshotID: snap.ID, Temp: "cellar_restore_" + randomHex(4), Retired: "cellar_retired_" + randomHex(4)}
	raw, _ := json.Marshal(d)
	op, err := h.lk.InsertOperationWithDetails(ctx, store.InsertOperationWithDetailsParams{
		ID: uuid.New(), DatabaseID: h.db.ID, Kind: opRestore, Actor: c.KeyPrefix, RequestID: c.RequestID, Details: raw,
	})
	if err != nil {
		return nil, fmt.Errorf("record restore intent: %w", err)
	}
	if err := s.fail.Hit("restore.after_intent"); err != nil {
		return nil, err
	}
	drv, err := s.fleet.driver(ctx, h.srv)
	if err != nil {
		return nil, err
	}
	err = drv.EnsureDatabase(ctx, d.Temp, h.db.Username)
	if err == nil {
		err = s.load(ctx, h.srv, snap, d.Temp, h.db.Username)
	}
	if err == nil {
		err = s.fail.Hit("restore.after_load")
	}
	if err != nil {
		if rbErr := s.abandonRestore(ctx, h.lk, drv, op, d); rbErr != nil {
			s.log.ErrorContext(ctx, "clean up failed restore; the reconciler will retry", "db", dbName, "err", rbErr)
		}
		return nil, err
	}
	// From here the restore goes forward: the snapshot is fully loaded.
	d.Loaded = true
	raw, _ = json.Marshal(d)
	if err := h.lk.SetOperationDetails(ctx, store.SetOperationDetailsParams{ID: op.ID, Details: raw}); err != nil {
		return nil, err
	}
	if err := s.finishRestore(ctx, h.lk, drv, h.db, op, d, c.RemoteAddr); err != nil {
		return nil, err
	}
	return &RestoreResult{Database: dbName, SnapshotID: snap.ID}, nil
}

// finishRestore swaps the loaded copy in, drops the old contents and
// records the restore. Every step is idempotent, for the reconciler.
func (s *Service) finishRestore(ctx context.Context, lk *store.Lock, drv provision.Driver, db store.Database, op store.Operation, d restoreDetails, remoteAddr string) error {
	if err := drv.SwapDatabase(ctx, db.Name, d.Temp, d.Retired, db.Username); err != nil {
		s.noteFailure(ctx, op, err)
		return fmt.Errorf("swap restored copy in: %w", err)
	}
	if err := s.fail.Hit("restore.after_swap"); err != nil {
		return err
	}
	if err := drv.DropDatabase(ctx, d.Retired); err != nil {
		s.noteFailure(ctx, op, err)
		return err
	}
	return succeed(ctx, lk, op, db, "restored", remoteAddr, map[string]any{"snapshot_id": d.SnapshotID, "in_place": true})
}

// abandonRestore drops the temporary copy of a restore that did not get as
// far as the swap; the live database was never touched.
func (s *Service) abandonRestore(ctx context.Context, lk *store.Lock, drv provision.Driver, op store.Operation, d restoreDetails) error {
	if err := drv.DropDatabase(ctx, d.Temp); err != nil {
		s.noteFailure(ctx, op, err)
		return err
	}
	return lk.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: "rolled_back"})
}

// settleRestore finishes a restore whose owner died: before the copy was
// fully loaded it is dropped (the live database is untouched); after, the
// swap is completed.
func (s *Service) settleRestore(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error {
	var d restoreDetails
	if err := json.Unmarshal(op.Details, &d); err != nil {
		return fmt.Errorf("restore operation %s: %w", op.ID, err)
	}
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return err
	}
	if !d.Loaded {
		return s.abandonRestore(ctx, lk, drv, op, d)
	}
	return s.finishRestore(ctx, lk, drv, db, op, d, "")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
