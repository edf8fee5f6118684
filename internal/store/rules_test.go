package store_test

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
	"github.com/cellar/cellar/internal/store/storetest"
)

// seed records a server and an active database on it, in the test's
// transaction, and returns the database.
func seed(t *testing.T, q *store.Queries, customer string) store.Database {
	t.Helper()
	ctx := context.Background()
	srv, err := q.UpsertServer(ctx, store.UpsertServerParams{
		Name: "pg-" + uuid.NewString()[:8], Engine: "postgresql", Host: "127.0.0.1", Port: 5432,
		AdminDsn: "postgres://x@127.0.0.1/postgres", AdminSecretPath: "servers/x", Capacity: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	name := "cust_" + customer + "_pg_" + uuid.NewString()[:8]
	db, err := q.InsertDatabase(ctx, store.InsertDatabaseParams{
		ID: uuid.New(), CustomerID: customer, Engine: "postgresql", Name: name, Username: name,
		ServerID: srv.ID, VaultPath: "customers/" + name,
	})
	if err != nil {
		t.Fatal(err)
	}
	v := int32(1)
	if err := q.MarkDatabaseActive(ctx, store.MarkDatabaseActiveParams{ID: db.ID, VaultVersion: &v}); err != nil {
		t.Fatal(err)
	}
	db.Status = cellar.DatabaseActive
	return db
}

// savepoint runs fn in a nested transaction and rolls it back if fn
// fails, so a test can expect a constraint violation and go on.
func savepoint(t *testing.T, tx pgx.Tx, fn func(q *store.Queries) error) error {
	t.Helper()
	ctx := context.Background()
	sp, err := tx.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(store.New(sp)); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			t.Fatal(rerr)
		}
		return err
	}
	if err := sp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return nil
}

// TestStates_ListsMatchTheCheckConstraints: each closed set in cellar
// lists exactly the values its column's CHECK constraint allows, so a
// migration that adds a status without the code (or the reverse) fails
// here, not on a customer's read.
func TestStates_ListsMatchTheCheckConstraints(t *testing.T) {
	t.Parallel()
	_, tx := storetest.TestTx(t)
	quoted := regexp.MustCompile(`'([a-z_]+)'`)
	allowed := func(constraint string) []string {
		var def string
		err := tx.QueryRow(context.Background(), "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1", constraint).Scan(&def)
		if err != nil {
			t.Fatalf("constraint %s: %v", constraint, err)
		}
		var vals []string
		for _, m := range quoted.FindAllStringSubmatch(def, -1) {
			vals = append(vals, m[1])
		}
		slices.Sort(vals)
		return vals
	}
	for _, c := range []struct {
		constraint string
		values     []string
	}{
		{"databases_status_check", names(cellar.DatabaseStatuses)},
		{"operations_state_check", names(cellar.OpStates)},
		{"snapshots_status_check", names(cellar.SnapshotStatuses)},
		{"restores_status_check", names(cellar.RestoreStatuses)},
	} {
		if got := allowed(c.constraint); !slices.Equal(got, c.values) {
			t.Errorf("%s allows %v; cellar lists %v", c.constraint, got, c.values)
		}
	}
}

func names[T ~string](all []T) []string {
	out := make([]string, len(all))
	for i, v := range all {
		out[i] = string(v)
	}
	slices.Sort(out)
	return out
}

// TestStates_ReadRowsCarryTypedStates: a row read back carries the typed
// state, parsed by its Scan.
func TestStates_ReadRowsCarryTypedStates(t *testing.T) {
	t.Parallel()
	q, _ := storetest.TestTx(t)
	ctx := context.Background()
	db := seed(t, q, "acme")
	op, err := q.InsertOperation(ctx, store.InsertOperationParams{ID: uuid.New(), DatabaseID: db.ID, Kind: cellar.OpRotate, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.GetPendingOperation(ctx, db.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != op.ID || got.Kind != cellar.OpRotate || got.State != cellar.OpPending {
		t.Fatalf("pending operation read back as %+v", got)
	}
	row, err := q.GetDatabaseByID(ctx, db.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Database.Status != cellar.DatabaseActive {
		t.Fatalf("database status %q, want active", row.Database.Status)
	}
}

// TestOperations_OnePendingPerDatabase: a second pending operation of a
// database is refused until the first is finished.
func TestOperations_OnePendingPerDatabase(t *testing.T) {
	t.Parallel()
	q, tx := storetest.TestTx(t)
	ctx := context.Background()
	db := seed(t, q, "acme")
	first, err := q.InsertOperation(ctx, store.InsertOperationParams{ID: uuid.New(), DatabaseID: db.ID, Kind: cellar.OpUpdate, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	err = savepoint(t, tx, func(q *store.Queries) error {
		_, err := q.InsertOperation(ctx, store.InsertOperationParams{ID: uuid.New(), DatabaseID: db.ID, Kind: cellar.OpRotate, Actor: "test"})
		return err
	})
	if !store.IsUniqueViolation(err) {
		t.Fatalf("second pending operation: err = %v, want a unique violation", err)
	}
	if err := q.FinishOperation(ctx, store.FinishOperationParams{ID: first.ID, State: cellar.OpSucceeded}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.InsertOperation(ctx, store.InsertOperationParams{ID: uuid.New(), DatabaseID: db.ID, Kind: cellar.OpRotate, Actor: "test"}); err != nil {
		t.Fatalf("operation after the first finished: %v", err)
	}
}

// TestSnapshots_OneManualInFlightPerDatabase: a second manual snapshot
// of a database is not recorded (no row) while one is pending or running,
// scheduled ones are not held back by it, and once the first ends a new
// manual one is recorded.
func TestSnapshots_OneManualInFlightPerDatabase(t *testing.T) {
	t.Parallel()
	q, _ := storetest.TestTx(t)
	ctx := context.Background()
	db := seed(t, q, "acme")
	snap := func(kind string) (store.Snapshot, error) {
		id := "snap-" + uuid.NewString()[:12]
		return q.InsertSnapshot(ctx, store.InsertSnapshotParams{
			ID: id, DatabaseID: db.ID, CustomerID: db.CustomerID, Engine: db.Engine, Kind: kind,
			StorageKey: id, CreatedBy: "test", CreatedAt: time.Now(),
		})
	}
	first, err := snap("manual")
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != cellar.SnapshotPending {
		t.Fatalf("new snapshot is %q", first.Status)
	}
	if _, err := snap("manual"); !store.IsNotFound(err) {
		t.Fatalf("second manual snapshot while one is pending: err = %v, want no row", err)
	}
	if _, err := q.StartSnapshot(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := snap("manual"); !store.IsNotFound(err) {
		t.Fatalf("second manual snapshot while one is running: err = %v, want no row", err)
	}
	if _, err := snap("scheduled"); err != nil {
		t.Fatalf("scheduled snapshot beside a manual one: %v", err)
	}
	msg := "test"
	if err := q.FailSnapshot(ctx, store.FailSnapshotParams{ID: first.ID, Error: &msg}); err != nil {
		t.Fatal(err)
	}
	if _, err := snap("manual"); err != nil {
		t.Fatalf("manual snapshot after the first failed: %v", err)
	}
}

// TestRestores_OneActivePerTarget: a second restore into a database is
// refused while one is pending or running; after it finishes, another
// may start.
func TestRestores_OneActivePerTarget(t *testing.T) {
	t.Parallel()
	q, tx := storetest.TestTx(t)
	ctx := context.Background()
	db := seed(t, q, "acme")
	restore := func(q *store.Queries) (store.Restore, error) {
		return q.InsertRestore(ctx, store.InsertRestoreParams{
			ID: uuid.New(), CustomerID: db.CustomerID, SourceDatabaseID: db.ID, TargetDatabaseID: db.ID,
			SnapshotID: "snap-x", Actor: "test",
		})
	}
	first, err := restore(q)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != cellar.RestorePending {
		t.Fatalf("new restore is %q", first.Status)
	}
	for _, step := range []string{"pending", "running"} {
		if step == "running" {
			if err := q.StartRestore(ctx, store.StartRestoreParams{ID: first.ID}); err != nil {
				t.Fatal(err)
			}
		}
		err := savepoint(t, tx, func(q *store.Queries) error { _, err := restore(q); return err })
		if !store.IsUniqueViolation(err) {
			t.Fatalf("second restore while the first is %s: err = %v, want a unique violation", step, err)
		}
	}
	if err := q.FinishRestore(ctx, store.FinishRestoreParams{ID: first.ID, Status: cellar.RestoreCompleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := restore(q); err != nil {
		t.Fatalf("restore after the first completed: %v", err)
	}
}

// TestUsage_SequencerNumbersInInsertOrder: the sequencer numbers events
// in the order they were recorded (not by when they say they occurred),
// contiguously after the highest number, and numbers each only once.
func TestUsage_SequencerNumbersInInsertOrder(t *testing.T) {
	t.Parallel()
	q, tx := storetest.TestTx(t)
	ctx := context.Background()
	if ok, err := q.TryLockUsageSequencer(ctx); err != nil || !ok {
		t.Fatalf("sequencer lock: ok=%v err=%v", ok, err)
	}
	var before int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM usage_events").Scan(&before); err != nil {
		t.Fatal(err)
	}
	// Leftover unnumbered rows committed by others would take numbers
	// first; the shared database has none (tests roll back).
	base := time.Now()
	var ids []uuid.UUID
	for i, offset := range []time.Duration{0, -time.Hour, -2 * time.Hour} {
		id := uuid.New()
		ids = append(ids, id)
		err := q.InsertUsageEvent(ctx, store.InsertUsageEventParams{
			ID: id, CustomerID: "acme", Kind: "database.created", Payload: []byte(`{}`), OccurredAt: base.Add(offset),
		})
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	n, err := q.SequenceUsageEvents(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(ids)) {
		t.Fatalf("sequenced %d events, want %d", n, len(ids))
	}
	for i, id := range ids {
		ev, err := q.GetUsageEvent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Seq == nil || *ev.Seq != before+int64(i)+1 {
			t.Fatalf("event %d (recorded %d-th) has seq %v, want %d", i, i, ev.Seq, before+int64(i)+1)
		}
	}
	if n, err := q.SequenceUsageEvents(ctx, 100); err != nil || n != 0 {
		t.Fatalf("second pass numbered %d (err %v), want 0", n, err)
	}
}

// TestLock_TryLockWhileHeld: TryLock does not wait: it reports a held
// lock as taken, and takes it once released.
func TestLock_TryLockWhileHeld(t *testing.T) {
	t.Parallel()
	st := openStore(t, 2, 2)
	ctx := context.Background()
	holder, err := st.Lock(ctx, "database/y")
	if err != nil {
		t.Fatal(err)
	}
	if lk, ok, err := st.TryLock(ctx, "database/y"); err != nil || ok {
		if ok {
			lk.Release()
		}
		t.Fatalf("TryLock while held: ok=%v err=%v, want not taken", ok, err)
	}
	if n := st.LockPool.Stat().AcquiredConns(); n != 1 {
		t.Fatalf("lock pool: %d connections in use after a failed try, want the holder's 1", n)
	}
	holder.Release()
	lk, ok, err := st.TryLock(ctx, "database/y")
	if err != nil || !ok {
		t.Fatalf("TryLock after release: ok=%v err=%v", ok, err)
	}
	lk.Release()
}
