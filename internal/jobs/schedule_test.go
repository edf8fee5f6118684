package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/jobs"
	"github.com/cellar/cellar/internal/secrets"
	"github.com/cellar/cellar/internal/service"
	"github.com/cellar/cellar/internal/snapstore"
	"github.com/cellar/cellar/internal/store"
	"github.com/cellar/cellar/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// TestScheduler_HourlyPolicyAndRetention_WithAControlledClock drives the
// scheduler through a simulated day and a half: an hourly policy produces
// one snapshot per hour (real dumps, run by River in the environment's
// server), and retention removes those older than a day, files included.
func TestScheduler_HourlyPolicyAndRetention_WithAControlledClock(t *testing.T) {
	testenv.Need(t, env)
	ctx := context.Background()
	cfg := env.Config(nil)

	// In the future, so the environment's own scheduler (on the real
	// clock) never finds this policy due.
	clock := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	st, err := store.Open(ctx, cfg["CELLAR_METADATA_DSN"], 8)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	vault, err := secrets.Open(secrets.Config{Addr: cfg["CELLAR_VAULT_ADDR"], Token: cfg["CELLAR_VAULT_TOKEN"], Mount: "secret", Prefix: "cellar"})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := snapstore.NewLocal(cfg["CELLAR_SNAPSHOT_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Deps{
		Store: st, Vault: vault, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Snapshots: snaps,
		DefaultConnectionLimit: 100, Clock: func() time.Time { return clock },
	})
	defer svc.Close()
	// Jobs are inserted here and worked by the environment's own server,
	// as they would be by any Cellar process sharing the metadata.
	queue, err := jobs.New(st.Pool, svc, slog.New(slog.NewTextHandler(io.Discard, nil)), jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetJobQueue(queue)

	c := env.NewCustomer(t)
	caller := service.Caller{Principal: cellar.Principal{KeyID: "00000000-0000-0000-0000-000000000000", KeyPrefix: "test", CustomerID: c.CustomerID,
		Permissions: cellar.AllPermissions}}
	name := "sched"
	db, err := svc.CreateDatabase(ctx, caller, service.CreateDatabaseRequest{DBType: "mariadb", RequestedName: &name})
	if err != nil {
		t.Fatal(err)
	}
	hourly, retention, tod := "hourly", 1, "00:15"
	on := true
	p, err := svc.SetBackupPolicy(ctx, caller, "mariadb", db.Database, service.BackupPolicyRequest{
		Enabled: &on, Frequency: &hourly, RetentionDays: &retention, TimeOfDay: &tod})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2030, 3, 1, 9, 15, 0, 0, time.UTC); !p.NextBackup.Equal(want) {
		t.Fatalf("next backup %s, want %s", p.NextBackup, want)
	}

	// Nothing is due before 09:15.
	if ids, err := svc.RunDueBackups(ctx, clock.Add(10*time.Minute)); err != nil || len(ids) != 0 {
		t.Fatalf("before the first slot: %v %v", ids, err)
	}
	// 36 simulated hours, the scheduler passing every 20 minutes.
	var taken []string
	for clock = clock.Add(20 * time.Minute); clock.Before(time.Date(2030, 3, 2, 21, 0, 0, 0, time.UTC)); clock = clock.Add(20 * time.Minute) {
		ids, err := svc.RunDueBackups(ctx, clock)
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, ids...)
	}
	if len(taken) != 36 {
		t.Fatalf("%d scheduled snapshots in 36 hours, want 36", len(taken))
	}
	waitCompleted(t, st, taken)

	pol, err := svc.GetBackupPolicy(ctx, caller, "mariadb", db.Database)
	if err != nil {
		t.Fatal(err)
	}
	if pol.LastBackup == nil || !pol.LastBackup.Equal(time.Date(2030, 3, 2, 20, 20, 0, 0, time.UTC)) {
		t.Errorf("last backup %v", pol.LastBackup)
	}

	// Retention of one day at 21:00 on day two keeps the snapshots taken
	// after 21:00 on day one: those of 21:20 ... 20:20, 24 of them.
	n, err := svc.ExpireBackups(ctx, clock)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12 {
		t.Errorf("expired %d, want 12", n)
	}
	left, err := svc.ListSnapshots(ctx, caller, "mariadb", db.Database)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 24 {
		t.Fatalf("%d snapshots left, want 24", len(left))
	}
	files, _ := filepath.Glob(filepath.Join(cfg["CELLAR_SNAPSHOT_DIR"], c.CustomerID, db.Database, "snap_*"))
	if len(files) != 24 {
		t.Fatalf("%d snapshot files left, want 24", len(files))
	}
	for _, s := range left {
		if s.CreatedAt.Before(clock.Add(-24 * time.Hour)) {
			t.Errorf("snapshot of %s survived retention", s.CreatedAt)
		}
	}
}

func waitCompleted(t *testing.T, st *store.Store, ids []string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		done := 0
		for _, id := range ids {
			s, err := st.GetSnapshot(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			switch s.Status {
			case "completed":
				done++
			case "failed":
				t.Fatalf("snapshot %s failed: %v", id, strings.TrimSpace(deref(s.Error)))
			}
		}
		if done == len(ids) {
			return
		}
	}
	t.Fatal("scheduled snapshots did not complete")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
