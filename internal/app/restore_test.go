package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/testenv"
)

// snapshotOn makes a table t of 100 rows in a new PostgreSQL database of c,
// snapshots it through the server at base and returns the database's name
// and the snapshot's id.
func snapshotOn(t *testing.T, c *testenv.Client, base, name string) (string, string) {
	t.Helper()
	var db struct {
		DBName string `json:"db_name"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "postgresql", "requested_name": name}).Decode(t, &db)
	pgExec(t, db.DBName, "CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 100) g")
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
	return db.DBName, snap.SnapshotID
}

// TestRestore_ToNewName_FailureDeletesItWithoutTheCallersDeletePermission:
// a restore to a new name that fails takes the new database back through
// Cellar's internal path, so a key without database:delete leaves nothing
// behind either.
func TestRestore_ToNewName_FailureDeletesItWithoutTheCallersDeletePermission(t *testing.T) {
	testenv.Need(t, env)
	c := env.NewCustomer(t)
	srv := startProcess(t, "restore.after_load=error")
	base := "http://" + srv.addr
	dbName, snapID := snapshotOn(t, c, base, "source")

	k := env.NewKey(t, c.CustomerID, false, cellar.PermDatabaseRead, cellar.PermDatabaseUpdate, cellar.PermDatabaseCreate).WithBaseURL(base)
	var q restoreJob
	r := k.Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+dbName+"/restore", map[string]any{"snapshot_id": snapID, "target_db_name": "halfway"})
	r.Decode(t, &q)
	newName := strings.Replace(dbName, "_source", "_halfway", 1)
	if !strings.Contains(string(r.Body), `"password"`) || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("the 202 answer does not carry the new database's credentials once: %s", r.Body)
	}
	if got := waitRestore(t, k, base, dbName, q.RestoreID); got.Status != "failed" || got.Error == nil || !strings.Contains(*got.Error, "deleted") {
		t.Fatalf("restore with a failing load: %+v", got)
	}
	if left := pgDatabases(t, newName); len(left) != 0 {
		t.Fatalf("the failed restore left its new database: %v", left)
	}
	if status, pending := metadataState(t, newName); status != "deleted" || pending != 0 {
		t.Fatalf("new database: status %s, %d pending operations; want deleted, 0", status, pending)
	}
	if got := env.Inspect(t, "postgresql", c.CustomerID, newName); got.Database || got.User || got.Secret {
		t.Fatalf("left behind: %+v", got)
	}
	if left := append(pgDatabases(t, "cellar_restore_"), pgDatabases(t, "cellar_retired_")...); len(left) != 0 {
		t.Fatalf("temporary databases left: %v", left)
	}
}

// TestRestore_SwapConflict_NeedsAttention: a swap that finds its databases
// in a state it cannot continue from does not wedge the database behind an
// operation retried for ever: the database shows status needs_attention
// with a reason, changes answer 409 with it, and delete still works and
// removes what the restore left behind.
func TestRestore_SwapConflict_NeedsAttention(t *testing.T) {
	testenv.Need(t, env)
	c := env.NewCustomer(t)
	srv := startProcess(t, "restore.swap=kill")
	base := "http://" + srv.addr
	dbName, snapID := snapshotOn(t, c, base, "wedged")
	var q restoreJob
	c.WithBaseURL(base).Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+dbName+"/restore", map[string]any{"snapshot_id": snapID}).Decode(t, &q)
	srv.expectKilled(t)

	// Someone made a database with the name the swap means to retire the
	// old contents to: the swap cannot go on.
	md := env.Metadata(t)
	var temp, retired string
	if err := md.QueryRow(context.Background(), `
		SELECT o.details->>'temp', o.details->>'retired' FROM operations o JOIN databases d ON d.id = o.database_id
		WHERE d.name = $1 AND o.kind = 'restore' AND o.state = 'pending'`, dbName).Scan(&temp, &retired); err != nil {
		t.Fatal(err)
	}
	pgExec(t, "postgres", "CREATE DATABASE "+retired)
	// The copy was fully loaded before the kill, so the reconciler goes
	// forward, meets the conflict, and marks the database.
	reconcile(t)

	var l struct {
		Databases []struct {
			DBName       string  `json:"db_name"`
			Status       string  `json:"status"`
			StatusReason *string `json:"status_reason"`
		} `json:"databases"`
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/postgresql", nil).Decode(t, &l)
	if len(l.Databases) != 1 || l.Databases[0].Status != "needs_attention" || l.Databases[0].StatusReason == nil {
		t.Fatalf("listed: %+v", l.Databases)
	}
	t.Logf("reason: %s", *l.Databases[0].StatusReason)
	if got := getRestore(t, c, env.BaseURL, dbName, q.RestoreID); got.Status != "failed" {
		t.Fatalf("the restore shows %+v", got)
	}
	if _, pending := metadataState(t, dbName); pending != 0 {
		t.Fatalf("%d operations pending: the reconciler would retry for ever", pending)
	}
	if got := pgRows(t, dbName); got != 100 {
		t.Fatalf("the live database has %d rows, want its 100", got)
	}
	r := c.Do(t, "PATCH", "/v1/databases/postgresql/"+dbName, map[string]any{"description": "x"})
	if r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "needs attention") {
		t.Fatalf("a change answered %d: %s", r.Status, r.Body)
	}
	c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/postgresql/"+dbName, nil)
	if got := env.Inspect(t, "postgresql", c.CustomerID, dbName); got.Database || got.User || got.Secret {
		t.Fatalf("left behind after delete: %+v", got)
	}
	if left := pgDatabases(t, temp); len(left) != 0 {
		t.Fatalf("the loaded copy survived the delete: %v", left)
	}
	pgExec(t, "postgres", "DROP DATABASE IF EXISTS "+retired)
}

// TestRestore_ToNewName_NeedsCreatePermission: a restore to a new name
// makes a database, so it needs database:create as well as
// database:update; in place, database:update is enough.
func TestRestore_ToNewName_NeedsCreatePermission(t *testing.T) {
	testenv.Need(t, env)
	c := env.NewCustomer(t)
	srv := startProcess(t, "")
	base := "http://" + srv.addr
	dbName, snapID := snapshotOn(t, c, base, "perm")
	k := env.NewKey(t, c.CustomerID, false, cellar.PermDatabaseRead, cellar.PermDatabaseUpdate).WithBaseURL(base)
	r := k.Do(t, "POST", "/v1/databases/postgresql/"+dbName+"/restore", map[string]any{"snapshot_id": snapID, "target_db_name": "sneaky"})
	if r.Status != http.StatusForbidden {
		t.Fatalf("restore to a new name without database:create answered %d: %s", r.Status, r.Body)
	}
	if got := env.Inspect(t, "postgresql", c.CustomerID, strings.Replace(dbName, "_perm", "_sneaky", 1)); got.Database || got.User || got.Secret {
		t.Fatalf("a refused restore made: %+v", got)
	}
	var q restoreJob
	k.Expect(t, http.StatusAccepted, "POST", "/v1/databases/postgresql/"+dbName+"/restore", map[string]any{"snapshot_id": snapID}).Decode(t, &q)
	if got := waitRestore(t, k, base, dbName, q.RestoreID); got.Status != "completed" {
		t.Fatalf("in-place restore with database:update: %+v", got)
	}
}

// TestRestore_SwapErrorRollsBack_MariaDB: the same as on PostgreSQL: a
// failed swap is undone at once and never applied later.
func TestRestore_SwapErrorRollsBack_MariaDB(t *testing.T) {
	testenv.Need(t, env)
	c := env.NewCustomer(t)
	srv := startProcess(t, "restore.swap=error")
	base := "http://" + srv.addr
	cs := c.WithBaseURL(base)
	var db struct {
		DBName string `json:"db_name"`
	}
	cs.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "mariadb", "requested_name": "swapfail"}).Decode(t, &db)
	admin := env.MariaDB(t)
	rows := func() int {
		t.Helper()
		var n int
		if err := admin.QueryRow("SELECT COUNT(*) FROM `" + db.DBName + "`.t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, q := range []string{
		"CREATE TABLE `" + db.DBName + "`.t (x INT PRIMARY KEY)",
		"INSERT INTO `" + db.DBName + "`.t VALUES (1), (2), (3)",
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var snap snapshot
	cs.Expect(t, http.StatusAccepted, "POST", "/v1/databases/mariadb/"+db.DBName+"/snapshots", nil).Decode(t, &snap)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		var l struct {
			Snapshots []snapshot `json:"snapshots"`
		}
		cs.Expect(t, http.StatusOK, "GET", "/v1/databases/mariadb/"+db.DBName+"/snapshots", nil).Decode(t, &l)
		if len(l.Snapshots) == 1 && l.Snapshots[0].Status == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("snapshot did not complete")
		}
	}
	if _, err := admin.Exec("INSERT INTO `" + db.DBName + "`.t VALUES (4), (5)"); err != nil {
		t.Fatal(err)
	}
	var q restoreJob
	cs.Expect(t, http.StatusAccepted, "POST", "/v1/databases/mariadb/"+db.DBName+"/restore", map[string]any{"snapshot_id": snap.SnapshotID}).Decode(t, &q)
	var got restoreJob
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		cs.Expect(t, http.StatusOK, "GET", "/v1/databases/mariadb/"+db.DBName+"/restores/"+q.RestoreID, nil).Decode(t, &got)
		if got.Status == "completed" || got.Status == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restore did not finish: %+v", got)
		}
	}
	if got.Status != "failed" {
		t.Fatalf("restore with a failing swap: %+v", got)
	}
	check := func(when string) {
		t.Helper()
		if n := rows(); n != 5 {
			t.Fatalf("%s: the live database has %d rows, want the 5 it had", when, n)
		}
		var left []string
		r, err := admin.Query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'cellar\\_restore\\_%' OR SCHEMA_NAME LIKE 'cellar\\_retired\\_%'")
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var n string
			r.Scan(&n)
			left = append(left, n)
		}
		r.Close()
		if len(left) != 0 {
			t.Fatalf("%s: temporary databases left: %v", when, left)
		}
		if _, pending := metadataState(t, db.DBName); pending != 0 {
			t.Fatalf("%s: %d operations pending", when, pending)
		}
	}
	check("after the failed restore")
	reconcile(t)
	c.Expect(t, http.StatusOK, "PATCH", "/v1/databases/mariadb/"+db.DBName, map[string]any{"description": "still mine"})
	check("after reconcile and a change")
}
