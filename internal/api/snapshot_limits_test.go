package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/testenv"
)

// lockTable makes the next pg_dump of db wait: it creates a table and holds
// an ACCESS EXCLUSIVE lock on it until the returned function is called.
func lockTable(t *testing.T, e *testenv.Env, dbName string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.Services.PG.DSN(dbName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	must(t, execSQL(conn, "CREATE TABLE held (x int)"))
	tx, err := conn.Begin(ctx)
	must(t, err)
	must(t, execSQL(tx, "LOCK TABLE held IN ACCESS EXCLUSIVE MODE"))
	var once sync.Once
	release = func() { once.Do(func() { tx.Rollback(context.Background()) }) }
	t.Cleanup(release)
	return release
}

func execSQL(c interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, q string) error {
	_, err := c.Exec(context.Background(), q)
	return err
}

// TestSnapshots_OneAtATimePerDatabase_ReadOnlyKeyGets409NamingIt: ten
// concurrent creates from a read-only key while the dump cannot finish
// record exactly one snapshot; the nine others are 409 problems whose
// detail and snapshot_id member name it. Once it has finished, a new
// snapshot is accepted.
func TestSnapshots_OneAtATimePerDatabase_ReadOnlyKeyGets409NamingIt(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "postgresql", "busy")
	reader := e.NewKey(t, c.CustomerID, false, cellar.PermDatabaseRead)
	release := lockTable(t, e, db.DBName)

	const n = 10
	responses := make([]*testenv.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			responses[i] = reader.Do(t, "POST", path(db, "/snapshots"), nil)
		}()
	}
	wg.Wait()
	var accepted []string
	var refused []*testenv.Response
	for _, r := range responses {
		switch r.Status {
		case http.StatusAccepted:
			var s snapshotBody
			r.Decode(t, &s)
			accepted = append(accepted, s.SnapshotID)
		case http.StatusConflict:
			refused = append(refused, r)
		default:
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	if len(accepted) != 1 {
		t.Fatalf("%d snapshots accepted at once, want 1: %v", len(accepted), accepted)
	}
	for _, r := range refused {
		checkProblem(t, r, http.StatusConflict, "")
		p := r.Map(t)
		if p["snapshot_id"] != accepted[0] || !strings.Contains(p["detail"].(string), accepted[0]) {
			t.Errorf("409 does not name the snapshot in flight %s: %s", accepted[0], r.Body)
		}
	}

	release()
	waitSnapshot(t, c, db, accepted[0])
	var next snapshotBody
	reader.Expect(t, http.StatusAccepted, "POST", path(db, "/snapshots"), nil).Decode(t, &next)
	waitSnapshot(t, c, db, next.SnapshotID)
}

// TestSnapshots_QuotaLimitsSnapshotCountAndBytes: the per-customer
// snapshot limits, set through the admin quota endpoint, refuse a manual
// snapshot with quota-exceeded naming the limit reached; GET /v1/quota
// reports usage against them; deleting snapshots makes room again.
func TestSnapshots_QuotaLimitsSnapshotCountAndBytes(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	admin := e.Admin()
	quotaPath := "/v1/admin/quotas/" + c.CustomerID
	checkProblem(t, admin.Do(t, "PUT", quotaPath, map[string]any{"max_snapshots": -1}), http.StatusUnprocessableEntity, "max_snapshots")
	checkProblem(t, admin.Do(t, "PUT", quotaPath, map[string]any{"max_snapshot_gb": -0.5}), http.StatusUnprocessableEntity, "max_snapshot_gb")
	admin.Expect(t, http.StatusOK, "PUT", quotaPath, map[string]any{"max_snapshots": 2})

	db := createDB(t, c, "mariadb", "counted")
	first := takeSnapshot(t, c, db, "one")
	second := takeSnapshot(t, c, db, "two")
	refusal := func(limit string) {
		t.Helper()
		r := c.Do(t, "POST", path(db, "/snapshots"), nil)
		checkProblem(t, r, http.StatusForbidden, "")
		p := r.Map(t)
		if p["type"] != "/problems/quota-exceeded" || p["limit"] != limit || !strings.Contains(p["detail"].(string), limit) {
			t.Errorf("want quota-exceeded naming %s: %s", limit, r.Body)
		}
	}
	refusal("max_snapshots")

	var q struct {
		Snapshots struct {
			Used      int     `json:"used"`
			Limit     int     `json:"limit"`
			UsedBytes int64   `json:"used_bytes"`
			LimitGB   float64 `json:"limit_gb"`
		} `json:"snapshots"`
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/quota", nil).Decode(t, &q)
	wantBytes := int64((*first.SizeMB + *second.SizeMB) * (1 << 20))
	if q.Snapshots.Used != 2 || q.Snapshots.Limit != 2 || q.Snapshots.UsedBytes != wantBytes || q.Snapshots.LimitGB != 100 {
		t.Errorf("quota snapshots %+v, want used 2 of 2, %d bytes, the default 100 GB", q.Snapshots, wantBytes)
	}
	t.Logf("two snapshots: %d bytes", q.Snapshots.UsedBytes)

	// A bytes limit below what is kept refuses the next one too.
	admin.Expect(t, http.StatusOK, "PUT", quotaPath, map[string]any{"max_snapshots": 10, "max_snapshot_gb": 1e-7})
	refusal("max_snapshot_gb")

	c.Expect(t, http.StatusOK, "DELETE", path(db, "/snapshots/"+first.SnapshotID), nil)
	c.Expect(t, http.StatusOK, "DELETE", path(db, "/snapshots/"+second.SnapshotID), nil)
	c.Expect(t, http.StatusOK, "GET", "/v1/quota", nil).Decode(t, &q)
	if q.Snapshots.Used != 0 || q.Snapshots.UsedBytes != 0 || q.Snapshots.Limit != 10 || q.Snapshots.LimitGB != 1e-7 {
		t.Errorf("after deleting both: %+v", q.Snapshots)
	}
	takeSnapshot(t, c, db, "room again")
}
