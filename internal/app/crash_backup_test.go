package app_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/testenv"
)

// pgRows counts the rows of table t in a customer database.
func pgRows(t *testing.T, dbName string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), env.Services.PG.DSN(dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func pgExec(t *testing.T, dbName, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), env.Services.PG.DSN(dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func pgDatabases(t *testing.T, prefix string) []string {
	t.Helper()
	rows, err := env.PG(t).Query(context.Background(), "SELECT datname FROM pg_database WHERE datname LIKE $1 || '%'", prefix)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

type snapshot struct {
	SnapshotID string `json:"snapshot_id"`
	Status     string `json:"status"`
}

func snapshots(t *testing.T, c *testenv.Client, base, dbName string) []snapshot {
	t.Helper()
	var l struct {
		Snapshots []snapshot `json:"snapshots"`
	}
	c.WithBaseURL(base).Expect(t, http.StatusOK, "GET", "/v1/databases/postgresql/"+dbName+"/snapshots", nil).Decode(t, &l)
	return l.Snapshots
}

// TestCrash_KillDuringSnapshot_NoCompletedSnapshot: a process killed after
// the dump ran but before the file was published leaves no completed
// snapshot and no file that looks complete.
func TestCrash_KillDuringSnapshot_NoCompletedSnapshot(t *testing.T) {
	testenv.Need(t, env)
	c := env.NewCustomer(t)
	var db struct {
		DBName string `json:"db_name"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "postgresql", "requested_name": "dumped"}).Decode(t, &db)
	pgExec(t, db.DBName, "CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 50000) g")

	srv := startProcess(t, "snapshot.after_dump=kill")
	var snap snapshot
	c.Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+db.DBName+"/snapshots", nil).Decode(t, &snap)
	srv.expectKilled(t)

	for _, s := range snapshots(t, c, env.BaseURL, db.DBName) {
		if s.Status == "completed" {
			t.Fatalf("a snapshot interrupted before publication shows as completed: %+v", s)
		}
	}
	files, _ := filepath.Glob(filepath.Join(env.Config(nil)["CELLAR_SNAPSHOT_DIR"], c.CustomerID, db.DBName, snap.SnapshotID+"*"))
	for _, f := range files {
		if !strings.Contains(filepath.Base(f), ".partial") {
			t.Fatalf("an interrupted dump left a complete-looking file: %s", f)
		}
	}
}

// TestCrash_KillDuringRestore: killed after the snapshot was loaded into
// the temporary database but before the swap, the live database is
// untouched and the reconciler drops the copy; killed after the swap, the
// reconciler finishes (the restored data stays, the old copy goes).
func TestCrash_KillDuringRestore(t *testing.T) {
	testenv.Need(t, env)
	for _, tc := range []struct {
		step     string
		wantRows int // rows in live after reconciling: 100 restored, 150 untouched
	}{
		{"restore.after_intent", 150},
		{"restore.after_login", 150},
		{"restore.after_load", 150},
		{"restore.swap", 100},
		{"restore.after_swap", 100},
	} {
		t.Run(tc.step, func(t *testing.T) {
			c := env.NewCustomer(t)
			var db struct {
				DBName string `json:"db_name"`
			}
			c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "postgresql", "requested_name": "restored"}).Decode(t, &db)
			pgExec(t, db.DBName, "CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 100) g")

			srv := startProcess(t, tc.step+"=kill")
			base := "http://" + srv.addr
			var snap snapshot
			c.WithBaseURL(base).Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+db.DBName+"/snapshots", nil).Decode(t, &snap)
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
				if s := snapshots(t, c, base, db.DBName); len(s) == 1 && s[0].Status == "completed" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("snapshot did not complete")
				}
			}
			pgExec(t, db.DBName, "INSERT INTO t SELECT g FROM generate_series(101, 150) g")

			// The restore is queued (202) and its job is killed at the step.
			var q restoreJob
			c.WithBaseURL(base).Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+db.DBName+"/restore",
				map[string]any{"snapshot_id": snap.SnapshotID}).Decode(t, &q)
			srv.expectKilled(t)
			if tc.wantRows == 150 {
				if got := pgRows(t, db.DBName); got != 150 {
					t.Fatalf("the live database changed before the swap: %d rows", got)
				}
			}
			reconcile(t)
			if got := pgRows(t, db.DBName); got != tc.wantRows {
				t.Fatalf("after reconcile: %d rows, want %d", got, tc.wantRows)
			}
			if left := append(pgDatabases(t, "cellar_restore_"), pgDatabases(t, "cellar_retired_")...); len(left) != 0 {
				t.Fatalf("temporary databases left: %v", left)
			}
			if left := pgLoadLogins(t, db.DBName); len(left) != 0 {
				t.Fatalf("load logins left: %v", left)
			}
			if _, pending := metadataState(t, db.DBName); pending != 0 {
				t.Fatalf("%d operations pending", pending)
			}
			// The restore it polls has ended, as what the reconciler made of it.
			want := "failed"
			if tc.wantRows == 100 {
				want = "completed"
			}
			if got := getRestore(t, c, env.BaseURL, db.DBName, q.RestoreID); got.Status != want {
				t.Fatalf("restore shows %+v, want %s", got, want)
			}
			// And it does not hold the database's restore slot: another
			// restore may be asked for. It only queues (no worker here),
			// and the database is deleted at once, so that the next
			// test's process finds nothing to do in that job.
			c.Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+db.DBName+"/restore", map[string]any{"snapshot_id": snap.SnapshotID})
			defer c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/postgresql/"+db.DBName, nil)
			// The customer's own credentials still work on the live database.
			var creds struct {
				ConnectionString string `json:"connection_string"`
			}
			c.Expect(t, http.StatusOK, "GET", "/v1/databases/postgresql/"+db.DBName+"/credentials", nil).Decode(t, &creds)
			if !strings.Contains(creds.ConnectionString, db.DBName) {
				t.Fatalf("credentials: %+v", creds)
			}
		})
	}
}

// pgLoadLogins lists the roles that are members of the owner of dbName
// (the load logins of its restores, which must not outlive them).
func pgLoadLogins(t *testing.T, dbName string) []string {
	t.Helper()
	rows, err := env.PG(t).Query(context.Background(), `
		SELECT pg_get_userbyid(m.member) FROM pg_auth_members m
		WHERE m.roleid = (SELECT datdba FROM pg_database WHERE datname = $1)`, dbName)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestRestore_SwapErrorRollsBack: a swap that fails with an error returned
// to the client is undone at once (the loaded copy dropped, the live
// database untouched) and is never applied later, by the reconciler or by
// the next change: the client was told the restore failed.
func TestRestore_SwapErrorRollsBack(t *testing.T) {
	testenv.Need(t, env)
	c := env.NewCustomer(t)
	var db struct {
		DBName string `json:"db_name"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "postgresql", "requested_name": "swapfail"}).Decode(t, &db)
	pgExec(t, db.DBName, "CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 100) g")

	srv := startProcess(t, "restore.swap=error")
	cs := c.WithBaseURL("http://" + srv.addr)
	var snap snapshot
	cs.Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+db.DBName+"/snapshots", nil).Decode(t, &snap)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if s := snapshots(t, c, "http://"+srv.addr, db.DBName); len(s) == 1 && s[0].Status == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("snapshot did not complete")
		}
	}
	pgExec(t, db.DBName, "INSERT INTO t SELECT g FROM generate_series(101, 150) g")

	var q restoreJob
	cs.Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+db.DBName+"/restore", map[string]any{"snapshot_id": snap.SnapshotID}).Decode(t, &q)
	if got := waitRestore(t, c, "http://"+srv.addr, db.DBName, q.RestoreID); got.Status != "failed" || got.Error == nil {
		t.Fatalf("restore with a failing swap: %+v", got)
	} else {
		t.Logf("reason: %s", *got.Error)
	}
	check := func(when string) {
		t.Helper()
		if got := pgRows(t, db.DBName); got != 150 {
			t.Fatalf("%s: the live database has %d rows, want the 150 it had", when, got)
		}
		if left := append(pgDatabases(t, "cellar_restore_"), pgDatabases(t, "cellar_retired_")...); len(left) != 0 {
			t.Fatalf("%s: temporary databases left: %v", when, left)
		}
		if left := pgLoadLogins(t, db.DBName); len(left) != 0 {
			t.Fatalf("%s: load logins left: %v", when, left)
		}
		if _, pending := metadataState(t, db.DBName); pending != 0 {
			t.Fatalf("%s: %d operations pending", when, pending)
		}
	}
	check("after the failed restore")
	// Neither the reconciler nor the next change applies it later.
	reconcile(t)
	c.Expect(t, http.StatusOK, "PATCH", "/v1/databases/postgresql/"+db.DBName, map[string]any{"description": "still mine"})
	check("after reconcile and a change")
	if got := getRestore(t, c, env.BaseURL, db.DBName, q.RestoreID); got.Status != "failed" {
		t.Fatalf("the failed restore now shows %+v", got)
	}
}

// restoreJob is a restore as the API shows it.
type restoreJob struct {
	RestoreID string  `json:"restore_id"`
	Status    string  `json:"status"`
	Error     *string `json:"error"`
}

func getRestore(t *testing.T, c *testenv.Client, base, dbName, id string) restoreJob {
	t.Helper()
	var q restoreJob
	c.WithBaseURL(base).Expect(t, http.StatusOK, "GET", "/v1/databases/postgresql/"+dbName+"/restores/"+id, nil).Decode(t, &q)
	return q
}

// waitRestore polls a restore until it has finished.
func waitRestore(t *testing.T, c *testenv.Client, base, dbName, id string) restoreJob {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		q := getRestore(t, c, base, dbName, id)
		if q.Status == "completed" || q.Status == "failed" {
			return q
		}
		if time.Now().After(deadline) {
			t.Fatalf("restore %s did not finish: %+v", id, q)
		}
	}
}
