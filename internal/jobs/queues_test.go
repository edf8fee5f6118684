package jobs_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
)

// TestScheduledBackup_CompletesWhileManualQueueIsSaturated: manual
// snapshots of databases whose tables are locked hang in pg_dump and hold
// every manual worker of the environment's server, with more queued
// behind them; a scheduled backup due meanwhile still completes, because
// scheduled backups have a queue and workers of their own.
func TestScheduledBackup_CompletesWhileManualQueueIsSaturated(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	sim := newSimulation(t, time.Date(2031, 6, 1, 9, 30, 0, 0, time.UTC), 0, nil)
	// A read-only key is all a manual snapshot needs.
	reader := env.NewKey(t, sim.client.CustomerID, false, cellar.PermDatabaseRead)

	const manual = 4 // the server has 2 manual workers (CELLAR_BACKUP_WORKERS)
	var manualIDs []string
	var locks []pgx.Tx
	for i := range manual {
		db := sim.createDatabase(t, "postgresql", fmt.Sprintf("busy%d", i))
		conn, err := pgx.Connect(ctx, env.Services.PG.DSN(db))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatal(err)
		}
		// pg_dump takes ACCESS SHARE on every table: it waits here until
		// the transaction ends.
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		var s struct {
			SnapshotID string `json:"snapshot_id"`
		}
		reader.Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+db+"/snapshots", nil).Decode(t, &s)
		manualIDs = append(manualIDs, s.SnapshotID)
		locks = append(locks, tx)
	}
	waitSaturated(t, sim, manualIDs)

	sched := sim.createDatabase(t, "mariadb", "nightly")
	sim.setPolicy(t, "mariadb", sched, true, "hourly", 7)
	start := time.Now()
	id := sim.due(t, "mariadb", sched, time.Date(2031, 6, 1, 10, 0, 0, 0, time.UTC))
	waitCompleted(t, sim.st, []string{id})
	t.Logf("scheduled backup completed in %s while %d manual snapshots held or waited for the manual workers",
		time.Since(start).Round(time.Millisecond), manual)

	for _, mid := range manualIDs {
		s, err := sim.st.GetSnapshot(ctx, mid)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status != "running" && s.Status != "pending" {
			t.Fatalf("manual snapshot %s is %s: the manual queue was not saturated throughout", mid, s.Status)
		}
	}

	// Released, the manual snapshots complete too.
	for _, tx := range locks {
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitCompleted(t, sim.st, manualIDs)
}

// waitSaturated waits until two manual snapshots are running with their
// pg_dump blocked on a lock and the others are still pending.
func waitSaturated(t *testing.T, sim *simulation, ids []string) {
	t.Helper()
	ctx := context.Background()
	pg := env.PG(t)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		running, pending := 0, 0
		for _, id := range ids {
			s, err := sim.st.GetSnapshot(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			switch s.Status {
			case "running":
				running++
			case "pending":
				pending++
			default:
				t.Fatalf("manual snapshot %s is %s before its lock was released", id, s.Status)
			}
		}
		var blocked int
		if err := pg.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'`).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
		if running == 2 && pending == len(ids)-2 && blocked == 2 {
			t.Logf("manual queue saturated: %d running (pg_dump blocked: %d), %d pending", running, blocked, pending)
			return
		}
	}
	t.Fatal("the manual snapshots did not fill the manual workers")
}
