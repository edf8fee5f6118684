package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/jobs"
	"github.com/cellar/cellar/internal/secrets"
	"github.com/cellar/cellar/internal/service"
	"github.com/cellar/cellar/internal/snapstore"
	"github.com/cellar/cellar/internal/store"
	"github.com/cellar/cellar/internal/testenv"
)

// simulation is a Service on a clock the test moves, against the
// environment's servers.
type simulation struct {
	svc    *service.Service
	st     *store.Store
	caller service.Caller
	client *testenv.Client // the same customer through the API
	clock  time.Time
}

// newSimulation builds the service with retention keeping keep snapshots
// (0: the default). Its jobs go to queue; nil queues them in River, where
// the environment's own server works them.
func newSimulation(t *testing.T, start time.Time, keep int, queue service.JobQueue) *simulation {
	t.Helper()
	ctx := context.Background()
	cfg := env.Config(nil)
	st, err := store.Open(ctx, cfg["CELLAR_METADATA_DSN"], 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	vault, err := secrets.Open(secrets.Config{Addr: cfg["CELLAR_VAULT_ADDR"], Token: cfg["CELLAR_VAULT_TOKEN"], Mount: "secret", Prefix: "cellar"})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := snapstore.NewLocal(cfg["CELLAR_SNAPSHOT_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	sim := &simulation{st: st, clock: start}
	sim.svc = service.New(service.Deps{
		Store: st, Vault: vault, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Snapshots: snaps,
		DefaultConnectionLimit: 100, Clock: func() time.Time { return sim.clock }, RetentionKeep: keep,
	})
	t.Cleanup(sim.svc.Close)
	if queue == nil {
		// Inserted here, worked by the environment's own server, as they
		// would be by any Cellar process sharing the metadata.
		q, err := jobs.New(st.Pool, sim.svc, slog.New(slog.NewTextHandler(io.Discard, nil)), jobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		queue = q
	}
	sim.svc.SetJobQueue(queue)
	c := env.NewCustomer(t)
	sim.client = c
	sim.caller = service.Caller{Principal: cellar.Principal{KeyID: "00000000-0000-0000-0000-000000000000", KeyPrefix: "test",
		CustomerID: c.CustomerID, Permissions: cellar.AllPermissions}}
	return sim
}

// heldQueue keeps the jobs it is given: the test takes or fails each
// snapshot itself, so no worker races its choice.
type heldQueue struct {
	mu  sync.Mutex
	ids []string
}

func (h *heldQueue) EnqueueSnapshot(_ context.Context, _ pgx.Tx, id, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids = append(h.ids, id)
	return nil
}

// EnqueueRestore drops restores: the retention tests make none.
func (h *heldQueue) EnqueueRestore(context.Context, pgx.Tx, string, time.Duration) error {
	return nil
}

func (s *simulation) createDatabase(t *testing.T, engine, name string) string {
	t.Helper()
	db, err := s.svc.CreateDatabase(context.Background(), s.caller, service.CreateDatabaseRequest{DBType: engine, RequestedName: &name})
	if err != nil {
		t.Fatal(err)
	}
	return db.Database
}

// setPolicy sets the database's policy; the test's cleanup disables it, so
// that later scheduler passes of other tests leave it alone.
func (s *simulation) setPolicy(t *testing.T, engine, db string, enabled bool, frequency string, retentionDays int) {
	t.Helper()
	tod := "00:00"
	if _, err := s.svc.SetBackupPolicy(context.Background(), s.caller, engine, db, service.BackupPolicyRequest{
		Enabled: &enabled, Frequency: &frequency, RetentionDays: &retentionDays, TimeOfDay: &tod}); err != nil {
		t.Fatal(err)
	}
	if enabled {
		t.Cleanup(func() {
			off := false
			s.svc.SetBackupPolicy(context.Background(), s.caller, engine, db, service.BackupPolicyRequest{Enabled: &off})
		})
	}
}

// due moves the clock to at and runs the scheduler once; it wants exactly
// one backup of db queued and returns its id. (The scheduler serves every
// customer: other tests' policies may be due too.)
func (s *simulation) due(t *testing.T, engine, db string, at time.Time) string {
	t.Helper()
	s.clock = at
	ids, err := s.svc.RunDueBackups(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, id := range s.left(t, engine, db) {
		if slices.Contains(ids, id) {
			mine = append(mine, id)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("at %s: %d backups of %s queued, want 1", at, len(mine), db)
	}
	return mine[0]
}

// take runs the dump of a queued snapshot in this process (a real dump).
func (s *simulation) take(t *testing.T, id string) {
	t.Helper()
	if err := s.svc.RunSnapshot(context.Background(), id, true); err != nil {
		t.Fatal(err)
	}
	if snap, err := s.st.GetSnapshot(context.Background(), id); err != nil || snap.Status != "completed" {
		t.Fatalf("snapshot %s: %s %v (%v)", id, snap.Status, deref(snap.Error), err)
	}
}

// fail records a queued snapshot as failed, as a dump that failed on its
// last attempt would.
func (s *simulation) fail(t *testing.T, id string) {
	t.Helper()
	reason := "the dump failed (simulated)"
	if err := s.st.FailSnapshot(context.Background(), store.FailSnapshotParams{ID: id, Error: &reason}); err != nil {
		t.Fatal(err)
	}
}

// left lists the ids of the database's snapshots, newest first.
func (s *simulation) left(t *testing.T, engine, db string) []string {
	t.Helper()
	snaps, err := s.svc.ListSnapshots(context.Background(), s.caller, engine, db)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(snaps))
	for i, sn := range snaps {
		ids[i] = sn.ID
	}
	return ids
}

func (s *simulation) expire(t *testing.T, at time.Time) int {
	t.Helper()
	s.clock = at
	n, err := s.svc.ExpireBackups(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func needEnv(t *testing.T) {
	t.Helper()
	testenv.Need(t, env)
}
