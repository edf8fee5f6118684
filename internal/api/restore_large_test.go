package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/testenv"
)

// TestRestore_Large_2GiB_InPlaceAndToNewName restores a database of 2 GiB
// of incompressible data through the API, in place and to a new name: the
// restore is a background job with a size-based deadline, so neither the
// request's context, a fixed step budget nor the HTTP write timeout stops
// it. The data is made on the server (SHA-512 chains, stored uncompressed).
// Durations are logged, not asserted.
func TestRestore_Large_2GiB_InPlaceAndToNewName(t *testing.T) {
	if testing.Short() {
		t.Skip("2 GiB restore: skipped with -short")
	}
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "postgresql", "large")
	s := openSession(t, "postgresql", db).(pgSession)
	ctx := context.Background()
	start := time.Now()
	const rows, rowMiB = 2048, 1 // 2 GiB
	// Random bytes from pgcrypto (a trusted extension the tenant may
	// create, which the restore must bring back too), else SHA-512 chains.
	fill := `INSERT INTO blobs SELECT r, (SELECT string_agg(gen_random_bytes(1024), ''::bytea)
			FROM generate_series(1, 1024) g) FROM generate_series(1, 2048) r`
	if _, err := s.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pgcrypto`); err != nil {
		t.Logf("no pgcrypto (%v): SHA-512 chains instead", err)
		fill = `INSERT INTO blobs SELECT r, (SELECT string_agg(sha512(int8send(r::int8 * 1000000 + g)), ''::bytea)
			FROM generate_series(1, 16384) g) FROM generate_series(1, 2048) r`
	}
	for _, q := range []string{
		`CREATE TABLE blobs (id int PRIMARY KEY, data bytea)`,
		// Incompressible data: skip TOAST's compression attempt.
		`ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL`,
		fill,
	} {
		if _, err := s.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", firstLine(q), err)
		}
	}
	var size int64
	must(t, s.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&size))
	if size < rows*rowMiB<<20 {
		t.Fatalf("database is %d bytes, want at least 2 GiB", size)
	}
	fingerprint := func(s pgSession) string {
		t.Helper()
		var f string
		must(t, s.QueryRow(ctx, `SELECT count(*) || ':' || sum(length(data)) || ':' || md5(string_agg(md5(data), '' ORDER BY id)) FROM blobs`).Scan(&f))
		return f
	}
	want := fingerprint(s)
	t.Logf("generated %d MiB (database %d MiB) in %v; fingerprint %s", rows*rowMiB, size>>20, time.Since(start).Round(time.Second), want)

	start = time.Now()
	var snap snapshotBody
	c.Expect(t, http.StatusAccepted, "POST", path(db, "/snapshots"), nil).Decode(t, &snap)
	for deadline := time.Now().Add(30 * time.Minute); snap.Status != "completed"; time.Sleep(time.Second) {
		if snap.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("snapshot: %+v (%s)", snap, ptr(snap.Error))
		}
		var l struct {
			Snapshots []snapshotBody `json:"snapshots"`
		}
		c.Expect(t, http.StatusOK, "GET", path(db, "/snapshots"), nil).Decode(t, &l)
		for _, x := range l.Snapshots {
			if x.SnapshotID == snap.SnapshotID {
				snap = x
			}
		}
	}
	t.Logf("snapshot of %.0f MiB in %v", *snap.SizeMB, time.Since(start).Round(time.Second))

	// Change the data, so the in-place restore has something to undo.
	must(t, execOn(ctx, s, `DELETE FROM blobs WHERE id % 2 = 0`))
	s.Close()

	// Both restores at once (they have different targets, so they may):
	// it halves the test's time.
	start = time.Now()
	var inPlace, toNew restoreBody
	r := c.Expect(t, http.StatusAccepted, "POST", path(db, "/restore"), map[string]any{"snapshot_id": snap.SnapshotID})
	r.Decode(t, &inPlace)
	var out struct {
		created
		TargetDBName string `json:"target_db_name"`
	}
	r = c.Expect(t, http.StatusAccepted, "POST", path(db, "/restore"), map[string]any{"snapshot_id": snap.SnapshotID, "target_db_name": "large_copy"})
	r.Decode(t, &out)
	r.Decode(t, &toNew)
	for _, q := range []*restoreBody{&inPlace, &toNew} {
		if *q = waitRestore(t, c, db, q.RestoreID, 40*time.Minute); q.Status != "completed" {
			t.Fatalf("restore: %+v (%s)", *q, ptr(q.Error))
		}
		t.Logf("restore of %d MiB into %s: done after %v", size>>20, q.TargetDBName, time.Since(start).Round(time.Second))
	}
	s = openSession(t, "postgresql", db).(pgSession)
	if got := fingerprint(s); got != want {
		t.Fatalf("after the in-place restore: %s, want %s", got, want)
	}
	s.Close()
	cs := openSession(t, "postgresql", out.created).(pgSession)
	if got := fingerprint(cs); got != want {
		t.Fatalf("the copy: %s, want %s", got, want)
	}
	cs.Close()
	// Free the disk at once for the rest of the suite.
	c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/postgresql/"+out.TargetDBName, nil)
	c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/postgresql/"+db.DBName, nil)
}
