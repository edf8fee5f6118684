package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/cellar/cellar/internal/testenv"
)

// TestCrash_KilledSnapshotDoesNotBlockTheNextOne: one manual snapshot at a
// time per database must not let a dead process block the database until
// River rescues the job hours later. While the killed snapshot's heartbeat
// is fresh, a new one is 409 naming it; once the heartbeat is stale (moved
// back here, as the minutes without a live worker would), the next create
// fails the abandoned one and is accepted.
func TestCrash_KilledSnapshotDoesNotBlockTheNextOne(t *testing.T) {
	testenv.Need(t, env)
	ctx := context.Background()
	c := env.NewCustomer(t)
	var db struct {
		DBName string `json:"db_name"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "postgresql", "requested_name": "abandoned"}).Decode(t, &db)
	pgExec(t, db.DBName, "CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 1000) g")
	path := "/v1/databases/postgresql/" + db.DBName + "/snapshots"

	srv := startProcess(t, "snapshot.after_dump=kill")
	var killed snapshot
	c.Expect(t, http.StatusAccepted, "POST", path, nil).Decode(t, &killed)
	srv.expectKilled(t)
	if s := snapshots(t, c, env.BaseURL, db.DBName); len(s) != 1 || s[0].Status != "running" {
		t.Fatalf("after the kill: %+v, want the one snapshot left running", s)
	}

	r := c.Do(t, "POST", path, nil)
	if r.Status != http.StatusConflict || r.Map(t)["snapshot_id"] != killed.SnapshotID {
		t.Fatalf("with a fresh heartbeat: %d %s, want 409 naming %s", r.Status, r.Body, killed.SnapshotID)
	}

	if _, err := env.Metadata(t).Exec(ctx, "UPDATE snapshots SET heartbeat_at = now() - interval '10 minutes' WHERE id = $1", killed.SnapshotID); err != nil {
		t.Fatal(err)
	}
	var next snapshot
	c.Expect(t, http.StatusAccepted, "POST", path, nil).Decode(t, &next)
	var reason *string
	for _, s := range listWithErrors(t, c, db.DBName) {
		if s.SnapshotID == killed.SnapshotID {
			if s.Status != "failed" || s.Error == nil {
				t.Fatalf("abandoned snapshot: %+v", s)
			}
			reason = s.Error
		}
	}
	if reason == nil {
		t.Fatal("the abandoned snapshot is gone from the list")
	}
	t.Logf("abandoned snapshot failed: %s; next one %s accepted", *reason, next.SnapshotID)
}

type snapshotWithError struct {
	SnapshotID string  `json:"snapshot_id"`
	Status     string  `json:"status"`
	Error      *string `json:"error"`
}

func listWithErrors(t *testing.T, c *testenv.Client, dbName string) []snapshotWithError {
	t.Helper()
	var l struct {
		Snapshots []snapshotWithError `json:"snapshots"`
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/postgresql/"+dbName+"/snapshots", nil).Decode(t, &l)
	return l.Snapshots
}
