package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/service"
)

// snapshotBench compares a snapshot through the API (queued, dumped into
// the snapshot store, checksummed, published) with the bare dump tool
// writing a file, on the same ~50 MB database, in MB/s of database size.
func (r *rig) snapshotBench(ctx context.Context, out io.Writer, runs int, target float64, targets *targetLines) (bool, error) {
	fmt.Fprintf(out, "\nSnapshots of a ~50 MB database (median of %d, MB/s of database size):\n", runs)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tsize\traw tool\tapi snapshot\tratio\t")
	pass := true
	var verdicts []string
	for _, engine := range cellar.Engines {
		name := "snapbench"
		if err := r.call(ctx, "POST", "/v1/databases", fmt.Sprintf(`{"db_type":%q,"requested_name":%q}`, engine, name), http.StatusCreated); err != nil {
			return false, err
		}
		db := cellar.DatabaseName(service.BootstrapCustomer, engine, name)
		size, err := r.fill(ctx, engine, db)
		if err != nil {
			return false, err
		}
		var raw, api []time.Duration
		for range runs {
			d, err := r.rawDump(ctx, engine, db)
			if err != nil {
				return false, err
			}
			raw = append(raw, d)
			d, err = r.apiSnapshot(ctx, engine, db)
			if err != nil {
				return false, err
			}
			api = append(api, d)
		}
		mb := float64(size) / (1 << 20)
		rawRate, apiRate := mb/median(raw).Seconds(), mb/median(api).Seconds()
		fmt.Fprintf(tw, "%s\t%.0f MB\t%.1f MB/s\t%.1f MB/s\t%.2fx\t\n", engine, mb, rawRate, apiRate, apiRate/rawRate)
		verdict := "PASS"
		if apiRate/rawRate < target {
			verdict, pass = "FAIL", false
		}
		targets.add(string(engine)+"_snapshot_throughput_ratio", apiRate/rawRate, target, verdict == "PASS")
		verdicts = append(verdicts, fmt.Sprintf("%s: snapshot throughput %.2fx the bare tool, target >= %.2fx: %s", engine, apiRate/rawRate, target, verdict))
		if err := r.call(ctx, "DELETE", "/v1/databases/"+string(engine)+"/"+db, "", http.StatusOK); err != nil {
			return false, err
		}
	}
	tw.Flush()
	fmt.Fprintln(out)
	for _, v := range verdicts {
		fmt.Fprintln(out, v)
	}
	return pass, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// fill writes about 50 MB of mixed data and returns the database's size.
func (r *rig) fill(ctx context.Context, engine cellar.Engine, db string) (int64, error) {
	var size int64
	if engine == cellar.PostgreSQL {
		conn, err := r.pgConn(ctx, db)
		if err != nil {
			return 0, err
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `CREATE TABLE filler AS SELECT g, md5(g::text) || md5((g * 7)::text) AS a,
			repeat(chr(65 + g % 26), 60) || g AS b, now() - g * interval '1 second' AS at FROM generate_series(1, 350000) g`); err != nil {
			return 0, err
		}
		err = conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size)
		return size, err
	}
	stmts := []string{
		"CREATE TABLE `" + db + "`.filler (g INT PRIMARY KEY, a VARCHAR(64), b VARCHAR(80), at DATETIME) ENGINE=InnoDB",
		"SET SESSION max_recursive_iterations = 1000000",
		"INSERT INTO `" + db + "`.filler WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 350000) " +
			"SELECT g, CONCAT(MD5(g), MD5(g * 7)), CONCAT(REPEAT(CHAR(65 + g % 26), 60), g), NOW() - INTERVAL g SECOND FROM s",
		"ANALYZE TABLE `" + db + "`.filler",
	}
	conn, err := r.my.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return 0, err
		}
	}
	err = conn.QueryRowContext(ctx, "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", db).Scan(&size)
	return size, err
}

// rawDump runs the bare tool the way an operator would, to a file.
func (r *rig) rawDump(ctx context.Context, engine cellar.Engine, db string) (time.Duration, error) {
	file := filepath.Join(os.TempDir(), "cellar-bench-"+db)
	defer os.Remove(file)
	var cmd *exec.Cmd
	if engine == cellar.PostgreSQL {
		cmd = exec.CommandContext(ctx, filepath.Join(pgBinDir(), "pg_dump"), "-h", r.svcs.PG.Host, "-p", strconv.Itoa(r.svcs.PG.Port),
			"-U", r.svcs.PG.User, "-Fc", "-Z1", "-f", file, db)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+r.svcs.PG.Password)
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", `mariadb-dump --no-defaults -h "$H" -P "$P" -u "$U" --single-transaction --routines --triggers --events --hex-blob "$D" | gzip -1 > "$F"`)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+r.svcs.MariaDB.Password, "H="+r.svcs.MariaDB.Host, "P="+strconv.Itoa(r.svcs.MariaDB.Port),
			"U="+r.svcs.MariaDB.User, "D="+db, "F="+file)
	}
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s: %v: %s", cmd.Path, err, out)
	}
	return time.Since(start), nil
}

// apiSnapshot takes a snapshot through the API and waits for it.
func (r *rig) apiSnapshot(ctx context.Context, engine cellar.Engine, db string) (time.Duration, error) {
	path := "/v1/databases/" + string(engine) + "/" + db + "/snapshots"
	start := time.Now()
	body, err := r.get(ctx, "POST", path, http.StatusAccepted)
	if err != nil {
		return 0, err
	}
	var snap struct {
		ID string `json:"snapshot_id"`
	}
	if err := json.Unmarshal(body, &snap); err != nil {
		return 0, fmt.Errorf("snapshot create answer: %w", err)
	}
	for {
		body, err := r.get(ctx, "GET", path, http.StatusOK)
		if err != nil {
			return 0, err
		}
		var l struct {
			Snapshots []struct {
				ID     string `json:"snapshot_id"`
				Status string `json:"status"`
			} `json:"snapshots"`
		}
		if err := json.Unmarshal(body, &l); err != nil {
			return 0, fmt.Errorf("snapshot list: %w", err)
		}
		for _, s := range l.Snapshots {
			if s.ID == snap.ID && s.Status == "completed" {
				d := time.Since(start)
				return d, r.call(ctx, "DELETE", path+"/"+s.ID, "", http.StatusOK)
			}
			if s.ID == snap.ID && s.Status == "failed" {
				return 0, fmt.Errorf("snapshot %s failed", s.ID)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) get(ctx context.Context, method, path string, want int) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, method, r.baseURL+path, nil)
	req.Header.Set("X-API-Key", r.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b, nil
}

func pgBinDir() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		return string(out[:len(out)-1])
	}
	return "/usr/lib/postgresql/15/bin"
}

// pgConn connects to a database on the managed PostgreSQL as its admin.
func (r *rig) pgConn(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, r.svcs.PG.DSN(db))
}
