package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/testenv"
)

type snapshotBody struct {
	SnapshotID   string   `json:"snapshot_id"`
	Status       string   `json:"status"`
	Kind         string   `json:"kind"`
	SizeMB       *float64 `json:"size_mb"`
	BytesWritten int64    `json:"bytes_written"`
	SHA256       *string  `json:"sha256"`
	Error        *string  `json:"error"`
	Description  *string  `json:"description"`
}

// takeSnapshot queues a snapshot and waits until it is completed.
func takeSnapshot(t *testing.T, c *testenv.Client, db created, description string) snapshotBody {
	t.Helper()
	var s snapshotBody
	c.Expect(t, http.StatusAccepted, "POST", path(db, "/snapshots"), map[string]any{"description": description}).Decode(t, &s)
	if s.Status != "pending" || !strings.HasPrefix(s.SnapshotID, "snap_") {
		t.Fatalf("queued snapshot: %+v", s)
	}
	return waitSnapshot(t, c, db, s.SnapshotID)
}

func waitSnapshot(t *testing.T, c *testenv.Client, db created, id string) snapshotBody {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var l struct {
			Snapshots []snapshotBody `json:"snapshots"`
		}
		c.Expect(t, http.StatusOK, "GET", path(db, "/snapshots"), nil).Decode(t, &l)
		for _, s := range l.Snapshots {
			if s.SnapshotID == id && (s.Status == "completed" || s.Status == "failed") {
				if s.Status == "failed" {
					t.Fatalf("snapshot failed: %v", s.Error)
				}
				return s
			}
		}
	}
	t.Fatalf("snapshot %s did not complete", id)
	return snapshotBody{}
}

// seed fills a database with data that tends to break dumps: many rows,
// non-ASCII text, every byte value, NULLs, a view and a sequence.
func seed(t *testing.T, engine string, s session) {
	t.Helper()
	ctx := context.Background()
	var stmts []string
	if engine == "postgresql" {
		stmts = []string{
			`CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, note text, photo bytea)`,
			`CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(12,2), placed timestamptz)`,
			`INSERT INTO customers (name, note, photo)
			   SELECT 'Zoë 東京 😀 #' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE repeat('ß', g % 50) END,
			          (SELECT decode(string_agg(lpad(to_hex((b + g) % 256), 2, '0'), ''), 'hex') FROM generate_series(0, 255) b)
			   FROM generate_series(1, 2000) g`,
			`INSERT INTO orders (customer_id, total, placed) SELECT 1 + g % 2000, g * 1.25, '2026-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 5000) g`,
			`CREATE VIEW big_spenders AS SELECT customer_id, sum(total) AS spent FROM orders GROUP BY customer_id HAVING sum(total) > 5000`,
			`CREATE SEQUENCE invoice_no START 1000`,
			`SELECT nextval('invoice_no') FROM generate_series(1, 17)`,
		}
	} else {
		stmts = []string{
			`CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, note TEXT, photo BLOB) DEFAULT CHARSET=utf8mb4`,
			`CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT, total DECIMAL(12,2), placed DATETIME, FOREIGN KEY (customer_id) REFERENCES customers(id))`,
			`SET SESSION max_recursive_iterations = 1000000`,
			`INSERT INTO customers (name, note, photo) WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2000)
			   SELECT CONCAT('Zoë 東京 😀 #', n), IF(n % 7 = 0, NULL, REPEAT('ß', n % 50)), UNHEX(REPEAT(CONCAT(HEX(n % 256), '00FF7F80'), 20)) FROM g`,
			`INSERT INTO orders (customer_id, total, placed) WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 5000)
			   SELECT 1 + n % 2000, n * 1.25, '2026-01-01' + INTERVAL n HOUR FROM g`,
			`CREATE VIEW big_spenders AS SELECT customer_id, SUM(total) AS spent FROM orders GROUP BY customer_id HAVING SUM(total) > 5000`,
		}
	}
	for _, q := range stmts {
		if err := execOn(ctx, s, q); err != nil {
			t.Fatalf("%s: %v", q[:40], err)
		}
	}
}

func execOn(ctx context.Context, s session, q string) error {
	switch c := s.(type) {
	case pgSession:
		_, err := c.Exec(ctx, q)
		return err
	case mySession:
		_, err := c.ExecContext(ctx, q)
		return err
	}
	return nil
}

// fingerprint hashes every row of every table and the view, in order, plus
// the sequence's next value: equal fingerprints mean equal data.
func fingerprint(t *testing.T, engine string, s session) string {
	t.Helper()
	ctx := context.Background()
	h := sha256.New()
	queries := []string{
		"SELECT id, name, note, photo FROM customers ORDER BY id",
		"SELECT id, customer_id, total, placed FROM orders ORDER BY id",
		"SELECT customer_id, spent FROM big_spenders ORDER BY customer_id",
	}
	if engine == "postgresql" {
		queries = append(queries, "SELECT last_value FROM invoice_no")
	}
	for _, q := range queries {
		switch c := s.(type) {
		case pgSession:
			rows, err := c.Query(ctx, q)
			must(t, err)
			for rows.Next() {
				vals, err := rows.Values()
				must(t, err)
				for _, v := range vals {
					h.Write([]byte(fmtValue(v)))
					h.Write([]byte{0})
				}
			}
			must(t, rows.Err())
		case mySession:
			rows, err := c.QueryContext(ctx, q)
			must(t, err)
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				must(t, rows.Scan(ptrs...))
				for _, v := range vals {
					h.Write([]byte(fmtValue(v)))
					h.Write([]byte{0})
				}
			}
			must(t, rows.Err())
			rows.Close()
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return hex.EncodeToString(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(x)
	}
}

func TestSnapshots_RoundTrip_InPlaceAndToNewName(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			db := createDB(t, c, engine, "precious")
			s := openSession(t, engine, db)
			seed(t, engine, s)
			want := fingerprint(t, engine, s)
			s.Close()

			snap := takeSnapshot(t, c, db, "before the migration")
			if snap.SHA256 == nil || snap.SizeMB == nil || *snap.SizeMB <= 0 || snap.BytesWritten <= 0 {
				t.Fatalf("completed snapshot: %+v", snap)
			}

			// Change the data, with a session open that the swap must end.
			s = openSession(t, engine, db)
			must(t, execOn(context.Background(), s, "DELETE FROM orders WHERE id % 3 = 0"))
			must(t, execOn(context.Background(), s, "UPDATE customers SET name = 'changed' WHERE id < 100"))
			if fingerprint(t, engine, s) == want {
				t.Fatal("the change did not change the fingerprint")
			}
			restoreOK(t, c, db, map[string]any{"snapshot_id": snap.SnapshotID})
			if alive(s) {
				t.Error("a session survived the in-place restore")
			}
			s.Close()
			s = openSession(t, engine, db) // the same credentials still work
			if got := fingerprint(t, engine, s); got != want {
				t.Fatal("restored data differs from the snapshot")
			}
			// The owner can still write everywhere.
			must(t, execOn(context.Background(), s, "INSERT INTO customers (name) VALUES ('after restore')"))
			s.Close()

			// Restore to a new name: a new database with its own credentials.
			var out struct {
				DBName           string `json:"target_db_name"`
				Password         string `json:"password"`
				ConnectionString string `json:"connection_string"`
			}
			r := restoreOK(t, c, db, map[string]any{"snapshot_id": snap.SnapshotID, "target_db_name": "precious_copy"})
			r.Decode(t, &out)
			if out.DBName != "cust_"+c.CustomerID+"_"+shortOf(engine)+"_precious_copy" || out.Password == "" || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("restore to new name: %s", r.Body)
			}
			copyDB := created{DBType: engine, DBName: out.DBName, Username: out.DBName, Password: &out.Password, ConnectionString: out.ConnectionString}
			cs := openSession(t, engine, copyDB)
			if got := fingerprint(t, engine, cs); got != want {
				t.Fatal("the copy differs from the snapshot")
			}
			cs.Close()
			// Its name is taken now.
			checkProblem(t, c.Do(t, "POST", path(db, "/restore"), map[string]any{"snapshot_id": snap.SnapshotID, "target_db_name": "precious_copy"}), http.StatusConflict, "")
		})
	}
}

func TestSnapshots_CorruptSnapshotIsRefusedAndNothingIsTouched(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			db := createDB(t, c, engine, "fragile")
			s := openSession(t, engine, db)
			seed(t, engine, s)
			want := fingerprint(t, engine, s)
			s.Close()
			snap := takeSnapshot(t, c, db, "")

			// Flip bytes in the middle of the file.
			matches, _ := filepath.Glob(filepath.Join(e.Config(nil)["CELLAR_SNAPSHOT_DIR"], c.CustomerID, db.DBName, snap.SnapshotID+"*"))
			if len(matches) != 1 {
				t.Fatalf("snapshot file: %v", matches)
			}
			raw, err := os.ReadFile(matches[0])
			must(t, err)
			for i := len(raw) / 2; i < len(raw)/2+64 && i < len(raw); i++ {
				raw[i] ^= 0xff
			}
			must(t, os.WriteFile(matches[0], raw, 0o600))

			// The restore job checks it first, fails with the reason, and
			// undoes everything (the new database goes again).
			for _, body := range []map[string]any{
				{"snapshot_id": snap.SnapshotID},
				{"snapshot_id": snap.SnapshotID, "target_db_name": "fragile2"},
			} {
				if _, q := restoreAndWait(t, c, db, body); q.Status != "failed" || q.Error == nil || !strings.Contains(*q.Error, "corrupt") {
					t.Fatalf("restore of a corrupt snapshot: %+v (%s)", q, ptr(q.Error))
				}
			}
			s = openSession(t, engine, db)
			if fingerprint(t, engine, s) != want {
				t.Fatal("a refused restore changed the database")
			}
			s.Close()
			var l listed
			c.Expect(t, http.StatusOK, "GET", "/v1/databases/"+engine, nil).Decode(t, &l)
			if len(l.Databases) != 1 {
				t.Fatalf("a refused restore left databases behind: %v", names(l))
			}
		})
	}
}

func TestSnapshots_ListNewestFirst_DeleteRemovesTheFile(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "mariadb", "versions")
	first := takeSnapshot(t, c, db, "first")
	second := takeSnapshot(t, c, db, "second")
	var l struct {
		DBName    string         `json:"db_name"`
		Snapshots []snapshotBody `json:"snapshots"`
	}
	c.Expect(t, http.StatusOK, "GET", path(db, "/snapshots"), nil).Decode(t, &l)
	if len(l.Snapshots) != 2 || l.Snapshots[0].SnapshotID != second.SnapshotID || *l.Snapshots[1].Description != "first" {
		t.Fatalf("list: %+v", l.Snapshots)
	}
	dir := filepath.Join(e.Config(nil)["CELLAR_SNAPSHOT_DIR"], c.CustomerID, db.DBName)
	c.Expect(t, http.StatusOK, "DELETE", path(db, "/snapshots/"+first.SnapshotID), nil)
	if m, _ := filepath.Glob(filepath.Join(dir, first.SnapshotID+"*")); len(m) != 0 {
		t.Fatalf("file left after delete: %v", m)
	}
	checkProblem(t, c.Do(t, "DELETE", path(db, "/snapshots/"+first.SnapshotID), nil), http.StatusNotFound, "")
	checkProblem(t, c.Do(t, "POST", path(db, "/restore"), map[string]any{"snapshot_id": first.SnapshotID}), http.StatusNotFound, "")
	// Another customer can neither see nor use them.
	other := e.NewCustomer(t)
	checkProblem(t, other.Do(t, "GET", path(db, "/snapshots"), nil), http.StatusNotFound, "")
	checkProblem(t, other.Do(t, "DELETE", path(db, "/snapshots/"+second.SnapshotID), nil), http.StatusNotFound, "")
	checkProblem(t, other.Do(t, "POST", path(db, "/restore"), map[string]any{"snapshot_id": second.SnapshotID}), http.StatusNotFound, "")
	// Deleting the database deletes its snapshots and their files.
	c.Expect(t, http.StatusOK, "DELETE", path(db, ""), nil)
	if m, _ := filepath.Glob(filepath.Join(dir, "snap_*")); len(m) != 0 {
		t.Fatalf("snapshot files outlived their database: %v", m)
	}
	var live int
	must(t, e.Metadata(t).QueryRow(context.Background(),
		"SELECT count(*) FROM snapshots s JOIN databases d ON d.id = s.database_id WHERE d.name = $1 AND s.deleted_at IS NULL", db.DBName).Scan(&live))
	if live != 0 {
		t.Fatalf("%d snapshot records outlived their database", live)
	}
}

func TestBackupPolicy_ValidationAndNextBackup(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "postgresql", "scheduled")
	var p struct {
		Enabled       bool    `json:"enabled"`
		Frequency     string  `json:"frequency"`
		RetentionDays int     `json:"retention_days"`
		TimeOfDay     string  `json:"time_of_day"`
		LastBackup    *string `json:"last_backup"`
		NextBackup    *string `json:"next_backup"`
	}
	c.Expect(t, http.StatusOK, "GET", path(db, "/backup-policy"), nil).Decode(t, &p)
	if p.Enabled || p.NextBackup != nil || p.Frequency != "daily" || p.RetentionDays != 7 {
		t.Fatalf("default policy: %+v", p)
	}
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{}`, "enabled"},
		{`{"enabled": true, "frequency": "monthly"}`, "frequency"},
		{`{"enabled": true, "retention_days": 0}`, "retention_days"},
		{`{"enabled": true, "retention_days": 366}`, "retention_days"},
		{`{"enabled": true, "time_of_day": "25:00"}`, "time_of_day"},
		{`{"enabled": true, "time_of_day": "2:00"}`, "time_of_day"},
		{`{"enabled": true, "timezone": "Mars/Olympus"}`, "timezone"},
		{`{"enabled": "yes"}`, "enabled"},
	} {
		checkProblem(t, c.Do(t, "PUT", path(db, "/backup-policy"), tc.body), http.StatusUnprocessableEntity, tc.field)
	}
	c.Expect(t, http.StatusOK, "PUT", path(db, "/backup-policy"),
		map[string]any{"enabled": true, "frequency": "daily", "retention_days": 3, "time_of_day": "02:30", "timezone": "Europe/Oslo"}).Decode(t, &p)
	next, err := time.Parse(time.RFC3339, *p.NextBackup)
	must(t, err)
	oslo, _ := time.LoadLocation("Europe/Oslo")
	if local := next.In(oslo); local.Hour() != 2 || local.Minute() != 30 || !next.After(time.Now()) || next.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("next backup %s (Oslo %s)", next, next.In(oslo))
	}
	c.Expect(t, http.StatusOK, "GET", path(db, "/backup-policy"), nil).Decode(t, &p)
	if !p.Enabled || p.RetentionDays != 3 || p.TimeOfDay != "02:30" {
		t.Fatalf("stored policy: %+v", p)
	}
}
