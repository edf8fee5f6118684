package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
	"github.com/cellar/cellar/internal/store/storetest"
)

// TestOperationKinds_EveryKindIsRegistered: every kind the service records
// has settle steps, and only a create is rolled back rather than finished
// (its client never got the password). Pure: runs under -short.
func TestOperationKinds_EveryKindIsRegistered(t *testing.T) {
	for _, kind := range cellar.OpKinds {
		steps, err := operationKinds.lookup(kind)
		if err != nil {
			t.Errorf("kind %s: %v", kind, err)
			continue
		}
		if steps.Forward == (kind == cellar.OpCreate) {
			t.Errorf("kind %s: Forward = %v", kind, steps.Forward)
		}
	}
	if len(operationKinds) != len(cellar.OpKinds) {
		t.Errorf("registry has %d kinds, cellar.OpKinds lists %d", len(operationKinds), len(cellar.OpKinds))
	}
	if _, err := operationKinds.lookup("cluster_create"); !errors.Is(err, errUnknownOpKind) {
		t.Errorf("lookup of an unregistered kind: err = %v, want errUnknownOpKind", err)
	}
}

// newTestService builds a Service on the shared metadata PostgreSQL with
// the given operation registry; nothing else (no Vault, no managed
// server) is reachable, so a settle that strayed from its registered
// steps would fail.
func newTestService(t *testing.T, ops opRegistry) (*Service, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s := New(Deps{Store: storetest.Store(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg})
	s.ops = ops
	return s, reg
}

// pendingOperation commits a server, an active database and a pending
// operation of kind on it. These rows are committed (settling takes the
// database's advisory lock on a connection of its own), so their names
// are unique to the test.
func pendingOperation(t *testing.T, st *store.Store, kind cellar.OpKind) (store.Database, store.Operation) {
	t.Helper()
	ctx := context.Background()
	var db store.Database
	var op store.Operation
	err := st.InTx(ctx, func(q *store.Queries) error {
		suffix := uuid.NewString()[:8]
		srv, err := q.UpsertServer(ctx, store.UpsertServerParams{
			Name: "pg-" + suffix, Engine: "postgresql", Host: "127.0.0.1", Port: 1,
			AdminDsn: "postgres://nobody@127.0.0.1:1/postgres", AdminSecretPath: "servers/none", Capacity: 10,
		})
		if err != nil {
			return err
		}
		name := "cust_acme_pg_" + suffix
		db, err = q.InsertDatabase(ctx, store.InsertDatabaseParams{
			ID: uuid.New(), CustomerID: "acme", Engine: "postgresql", Name: name, Username: name,
			ServerID: srv.ID, VaultPath: "customers/" + name,
		})
		if err != nil {
			return err
		}
		v := int32(1)
		if err := q.MarkDatabaseActive(ctx, store.MarkDatabaseActiveParams{ID: db.ID, VaultVersion: &v}); err != nil {
			return err
		}
		db.Status = cellar.DatabaseActive
		op, err = q.InsertOperation(ctx, store.InsertOperationParams{ID: uuid.New(), DatabaseID: db.ID, Kind: kind, Actor: "test"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, op
}

// TestReconcile_SettlesThroughTheRegisteredSteps: the reconciler settles
// a pending operation with the steps its kind registered (here a kind the
// service has never heard of, plugged in without touching any switch),
// under the database's lock, with the database and its server.
func TestReconcile_SettlesThroughTheRegisteredSteps(t *testing.T) {
	t.Parallel()
	const kind cellar.OpKind = "slot_create"
	var mu sync.Mutex
	var calls []string
	s, _ := newTestService(t, opRegistry{kind: {Forward: true, Settle: func(s *Service, ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error {
		mu.Lock()
		calls = append(calls, db.Name+"@"+srv.Name)
		mu.Unlock()
		return lk.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpSucceeded})
	}}})
	st := storetest.Store(t)
	db, op := pendingOperation(t, st, kind)
	ctx := context.Background()

	settled, err := s.reconcileOperation(ctx, op)
	if err != nil || !settled {
		t.Fatalf("reconcileOperation: settled=%v err=%v", settled, err)
	}
	if len(calls) != 1 || calls[0][:len(db.Name)] != db.Name {
		t.Fatalf("settle steps called %v, want once for %s", calls, db.Name)
	}
	got, err := st.GetOperation(ctx, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != cellar.OpSucceeded {
		t.Fatalf("operation is %s after settling, want succeeded", got.State)
	}
	if n := counterValue(t, s.metrics.reconciled.WithLabelValues(string(kind), "done")); n != 1 {
		t.Fatalf("reconciled{kind=%s,outcome=done} = %v, want 1", kind, n)
	}
	// Nothing is left to settle: a second pass finds no pending operation.
	if settled, err := s.reconcileOperation(ctx, op); err != nil || !settled || len(calls) != 1 {
		t.Fatalf("second pass: settled=%v err=%v calls=%d", settled, err, len(calls))
	}
}

// TestReconcile_UnknownKindIsLeftAlone: a pending operation of a kind no
// step is registered for is logged and left pending (never guessed at),
// the reconciler counts it as skipped rather than failed, and a change to
// the database through the preamble is refused instead of running over it.
func TestReconcile_UnknownKindIsLeftAlone(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t, operationKinds)
	st := storetest.Store(t)
	db, op := pendingOperation(t, st, "replica_add")
	ctx := context.Background()

	settled, err := s.reconcileOperation(ctx, op)
	if err != nil || settled {
		t.Fatalf("reconcileOperation: settled=%v err=%v, want skipped", settled, err)
	}
	got, err := st.GetOperation(ctx, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != cellar.OpPending || got.Attempts != 0 {
		t.Fatalf("operation is %s after %d attempts, want left pending and untouched", got.State, got.Attempts)
	}
	if n := counterValue(t, s.metrics.reconciled.WithLabelValues("replica_add", "unknown")); n != 1 {
		t.Fatalf("reconciled{outcome=unknown} = %v, want 1", n)
	}
	lk, err := st.Lock(ctx, lockName(cellar.PostgreSQL, db.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release()
	if err := s.settleLocked(ctx, lk, db); !errors.Is(err, errUnknownOpKind) {
		t.Fatalf("settleLocked: err = %v, want errUnknownOpKind", err)
	}
}

// TestInsertEvent_RecordsHistoryAndBillableUsageTogether: an event of a
// billable change writes its history row and its usage event in the
// caller's transaction; a non-billable one writes history only. Runs in a
// transaction rolled back at the end.
func TestInsertEvent_RecordsHistoryAndBillableUsageTogether(t *testing.T) {
	t.Parallel()
	q, tx := storetest.TestTx(t)
	ctx := context.Background()
	srv, err := q.UpsertServer(ctx, store.UpsertServerParams{Name: "pg-" + uuid.NewString()[:8], Engine: "postgresql",
		Host: "127.0.0.1", Port: 1, AdminDsn: "x", AdminSecretPath: "x", Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	customer := "cust" + uuid.NewString()[:8]
	db, err := q.InsertDatabase(ctx, store.InsertDatabaseParams{ID: uuid.New(), CustomerID: customer, Engine: "postgresql",
		Name: "cust_x_pg_" + uuid.NewString()[:8], Username: "u", ServerID: srv.ID, VaultPath: "v"})
	if err != nil {
		t.Fatal(err)
	}
	op := store.Operation{ID: uuid.New(), Actor: "test", RequestID: "req-1"}
	if err := insertEvent(ctx, q, db, "created", op, "127.0.0.1", map[string]any{"server": srv.Name}); err != nil {
		t.Fatal(err)
	}
	if err := insertEvent(ctx, q, db, "password_rotated", op, "127.0.0.1", nil); err != nil {
		t.Fatal(err)
	}
	events, err := q.ListDatabaseEvents(ctx, db.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("%d history events, want 2", len(events))
	}
	var usage []string
	rows, err := tx.Query(ctx, "SELECT kind FROM usage_events WHERE customer_id = $1", customer)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var kind string
		if err := rows.Scan(&kind); err != nil {
			t.Fatal(err)
		}
		usage = append(usage, kind)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(usage) != 1 || usage[0] != "database.created" {
		t.Fatalf("usage events %v, want [database.created]", usage)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
