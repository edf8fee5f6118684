package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	_ "github.com/go-sql-driver/mysql"
	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/app"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/harness"
	"github.com/cellar/cellar/internal/provision/mariadb"
	"github.com/cellar/cellar/internal/provision/postgres"
	"github.com/cellar/cellar/internal/service"
	"github.com/cellar/cellar/internal/testenv"
)

// rig is the servers, a running Cellar and raw admin connections to the
// same servers.
type rig struct {
	svcs        *harness.Services
	snapshotDir string
	baseURL     string
	key         string
	pg          *pgx.Conn
	my          *sql.DB
	kv          *vault.KVv2
}

func run(ctx context.Context, n, clients, perClient int, target float64, snapRuns int, collectDBs int, out io.Writer) error {
	r, cleanup, err := setUp(ctx)
	if err != nil {
		return err
	}
	defer cleanup()

	fmt.Fprintf(out, "Cellar bench: %d sequential creates+deletes per engine and path (API and raw interleaved), then %d clients x %d creates.\n", n, clients, perClient)
	fmt.Fprintf(out, "Servers: PostgreSQL %s, MariaDB %s, Vault (file storage), durable settings; all on loopback.\n\n", r.svcs.PG.Version, r.svcs.MariaDB.Version)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\top\tpath\tn\tp50\tp99\tp50 ratio\t")
	var verdicts []string
	var targets targetLines
	pass := true
	for _, engine := range cellar.Engines {
		var apiCreate, rawCreate, apiDelete, rawDelete []time.Duration
		for i := range n {
			// Alternate which goes first so neither path always meets a
			// warmer server.
			order := []bool{true, false}
			if i%2 == 1 {
				order = []bool{false, true}
			}
			for _, api := range order {
				name := fmt.Sprintf("b%d%s", i, strings.ToLower(cellar.RandomToken(6)))
				if api {
					c, d, err := r.apiRoundTrip(ctx, engine, name)
					if err != nil {
						return err
					}
					apiCreate, apiDelete = append(apiCreate, c), append(apiDelete, d)
				} else {
					c, d, err := r.rawRoundTrip(ctx, engine, name)
					if err != nil {
						return err
					}
					rawCreate, rawDelete = append(rawCreate, c), append(rawDelete, d)
				}
			}
		}
		createRatio := ratio(apiCreate, rawCreate)
		row(tw, engine, "create", "raw", rawCreate, "")
		row(tw, engine, "create", "api", apiCreate, fmt.Sprintf("%.2fx", createRatio))
		row(tw, engine, "delete", "raw", rawDelete, "")
		row(tw, engine, "delete", "api", apiDelete, fmt.Sprintf("%.2fx", ratio(apiDelete, rawDelete)))
		overhead := pct(apiCreate, 50) - pct(rawCreate, 50)
		switch {
		case engine != gatedEngine:
			verdicts = append(verdicts, fmt.Sprintf("%s: create p50 %.2fx raw (+%s); informational, the target is gated on %s (see README)", engine, createRatio, ms(overhead), gatedEngine))
		case createRatio <= target:
			targets.add(string(engine)+"_create_p50_ratio", createRatio, target, true)
			verdicts = append(verdicts, fmt.Sprintf("%s: create p50 %.2fx raw (+%s), target <= %.2fx: PASS", engine, createRatio, ms(overhead), target))
		default:
			pass = false
			targets.add(string(engine)+"_create_p50_ratio", createRatio, target, false)
			verdicts = append(verdicts, fmt.Sprintf("%s: create p50 %.2fx raw (+%s), target <= %.2fx: FAIL", engine, createRatio, ms(overhead), target))
		}
	}
	tw.Flush()

	fmt.Fprintf(out, "\nThroughput, %d concurrent clients:\n", clients)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tpath\tcreates\tseconds\tcreates/s\tratio\t")
	for _, engine := range cellar.Engines {
		rawRate, rawN, rawSecs, err := r.throughput(ctx, engine, clients, perClient, false)
		if err != nil {
			return err
		}
		apiRate, apiN, apiSecs, err := r.throughput(ctx, engine, clients, perClient, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\traw\t%d\t%.2f\t%.1f\t\t\n", engine, rawN, rawSecs, rawRate)
		fmt.Fprintf(tw, "%s\tapi\t%d\t%.2f\t%.1f\t%.2fx\t\n", engine, apiN, apiSecs, apiRate, apiRate/rawRate)
	}
	tw.Flush()

	fmt.Fprintln(out)
	for _, v := range verdicts {
		fmt.Fprintln(out, v)
	}

	snapPass := true
	if snapRuns > 0 {
		var err error
		if snapPass, err = r.snapshotBench(ctx, out, snapRuns, 0.9, &targets); err != nil {
			return err
		}
	}
	if collectDBs > 0 {
		if err := r.collectBench(ctx, out, collectDBs); err != nil {
			return err
		}
	}
	// The machine-readable verdicts close the output.
	fmt.Fprintln(out)
	targets.print(out)
	switch {
	case !pass:
		return fmt.Errorf("API create p50 exceeds %.2fx of raw DDL + Vault write", target)
	case !snapPass:
		return fmt.Errorf("snapshot throughput below 0.9x of the bare tool")
	}
	return nil
}

// targetLines collects the bench's targets, printed last as
// "target <name> <measured> <limit> PASS|FAIL", one per line.
type targetLines []string

func (t *targetLines) add(name string, measured, limit float64, ok bool) {
	verdict := "FAIL"
	if ok {
		verdict = "PASS"
	}
	*t = append(*t, fmt.Sprintf("target %s %.2f %.2f %s", name, measured, limit, verdict))
}

func (t targetLines) print(out io.Writer) {
	for _, l := range t {
		fmt.Fprintln(out, l)
	}
}

// gatedEngine is the engine the create target applies to. On PostgreSQL the
// DDL itself (~75 ms) dominates a create; MariaDB's DDL takes ~2 ms, less
// than the fixed cost of recording intent and outcome durably (two
// fsync'd metadata commits) plus the HTTP round trip, so a ratio there
// measures that fixed cost rather than Cellar's efficiency. Its ratio and
// absolute overhead are still reported.
const gatedEngine = cellar.PostgreSQL

func row(tw io.Writer, engine cellar.Engine, op, path string, d []time.Duration, ratio string) {
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t\n", engine, op, path, len(d), ms(pct(d, 50)), ms(pct(d, 99)), ratio)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func ratio(api, raw []time.Duration) float64 {
	return float64(pct(api, 50)) / float64(pct(raw, 50))
}

func setUp(ctx context.Context) (*rig, func(), error) {
	vaultBin, err := testenv.VaultBin()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "cellar-bench-")
	if err != nil {
		return nil, nil, err
	}
	_ = os.Chmod(dir, 0o755) // best effort: the servers run as other users
	svcs, err := harness.Start(ctx, harness.Options{Dir: filepath.Join(dir, "servers"), VaultBin: vaultBin, Durable: true})
	if err != nil {
		return nil, nil, err
	}
	r := &rig{svcs: svcs, key: "ck_benchadm_" + cellar.RandomToken(40), snapshotDir: filepath.Join(dir, "snapshots")}
	port, err := testenv.FreePort()
	if err != nil {
		return nil, nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	r.baseURL = "http://" + addr
	cfg := map[string]string{
		"CELLAR_LISTEN_ADDR":            addr,
		"CELLAR_METADATA_DSN":           svcs.Metadata.DSN(harness.MetadataDatabase),
		"CELLAR_VAULT_ADDR":             svcs.Vault.Addr,
		"CELLAR_VAULT_TOKEN":            svcs.Vault.Token,
		"CELLAR_PG_ADMIN_DSN":           svcs.PG.DSN("postgres"),
		"CELLAR_MARIADB_ADMIN_DSN":      svcs.MariaDB.DSN(""),
		"CELLAR_BOOTSTRAP_API_KEY":      r.key,
		"CELLAR_LOG_LEVEL":              "error",
		"CELLAR_SERVER_CAPACITY":        "100000",
		"CELLAR_QUOTA_MAX_DATABASES":    "100000",
		"CELLAR_RATE_LIMIT":             "0", // the bench measures Cellar, not its throttles
		"CELLAR_MAX_CONCURRENT_CHANGES": "0",
		"CELLAR_SNAPSHOT_DIR":           filepath.Join(dir, "snapshots"),
	}
	srvCtx, stopServer := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(srvCtx, []string{"serve"}, func(k string) string { return cfg[k] }, io.Discard, os.Stderr)
	}()
	cleanup := func() {
		stopServer()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "bench: cellar:", err)
		}
		if r.pg != nil {
			r.pg.Close(context.Background())
		}
		if r.my != nil {
			r.my.Close()
		}
		_ = svcs.Stop(context.Background())
		os.RemoveAll(dir)
	}
	fail := func(err error) (*rig, func(), error) { cleanup(); return nil, nil, err }
	if err := testenv.WaitReady(addr, done, time.Minute); err != nil {
		return fail(err)
	}
	if r.pg, err = pgx.Connect(ctx, svcs.PG.DSN("postgres")); err != nil {
		return fail(err)
	}
	if r.my, err = sql.Open("mysql", svcs.MariaDB.DSN("")); err != nil {
		return fail(err)
	}
	vc := vault.DefaultConfig()
	vc.Address = svcs.Vault.Addr
	client, err := vault.NewClient(vc)
	if err != nil {
		return fail(err)
	}
	client.SetToken(svcs.Vault.Token)
	r.kv = client.KVv2("secret")
	return r, cleanup, nil
}

// apiRoundTrip creates and deletes one database through the API.
func (r *rig) apiRoundTrip(ctx context.Context, engine cellar.Engine, name string) (create, del time.Duration, err error) {
	start := time.Now()
	if err := r.call(ctx, "POST", "/v1/databases", fmt.Sprintf(`{"db_type":%q,"requested_name":%q}`, engine, name), http.StatusCreated); err != nil {
		return 0, 0, err
	}
	create = time.Since(start)
	start = time.Now()
	dbName := cellar.DatabaseName(service.BootstrapCustomer, engine, name)
	if err := r.call(ctx, "DELETE", "/v1/databases/"+string(engine)+"/"+dbName, "", http.StatusOK); err != nil {
		return 0, 0, err
	}
	return create, time.Since(start), nil
}

func (r *rig) call(ctx context.Context, method, path, body string, want int) error {
	req, _ := http.NewRequestWithContext(ctx, method, r.baseURL+path, bytes.NewReader([]byte(body)))
	req.Header.Set("X-API-Key", r.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		var p map[string]any
		_ = json.Unmarshal(b, &p) // a body that is no problem leaves the detail empty
		return fmt.Errorf("%s %s: %d %v", method, path, resp.StatusCode, p["detail"])
	}
	return nil
}

// rawRoundTrip does by hand what a create and a delete must do at least:
// generate a password, store it in Vault, create the user (with a hashed
// password, as Cellar does) and the database, restrict access; then drop
// both and destroy the secret.
func (r *rig) rawRoundTrip(ctx context.Context, engine cellar.Engine, name string) (create, del time.Duration, err error) {
	db := "raw_" + string(engine.Short()) + "_" + name
	path := "bench/raw/" + db
	start := time.Now()
	password := cellar.NewPassword()
	if _, err := r.kv.Put(ctx, path, map[string]any{"username": db, "password": password}); err != nil {
		return 0, 0, err
	}
	ident := pgx.Identifier{db}.Sanitize()
	switch engine {
	case cellar.PostgreSQL:
		verifier, err := postgres.SCRAMVerifier(password)
		if err != nil {
			return 0, 0, err
		}
		for _, stmt := range []string{
			"CREATE ROLE " + ident + " LOGIN PASSWORD '" + verifier + "'",
			"CREATE DATABASE " + ident + " OWNER " + ident,
			"REVOKE ALL ON DATABASE " + ident + " FROM PUBLIC",
		} {
			if _, err := r.pg.Exec(ctx, stmt); err != nil {
				return 0, 0, err
			}
		}
	case cellar.MariaDB:
		q := "`" + db + "`"
		for _, stmt := range []string{
			"CREATE DATABASE " + q,
			"CREATE USER '" + db + "'@'%' IDENTIFIED BY PASSWORD '" + mariadb.MySQLNativeHash(password) + "'",
			"GRANT ALL PRIVILEGES ON " + strings.ReplaceAll(q, "_", `\_`) + ".* TO '" + db + "'@'%'",
		} {
			if _, err := r.my.ExecContext(ctx, stmt); err != nil {
				return 0, 0, err
			}
		}
	}
	create = time.Since(start)

	start = time.Now()
	switch engine {
	case cellar.PostgreSQL:
		for _, stmt := range []string{"DROP DATABASE " + ident + " WITH (FORCE)", "DROP ROLE " + ident} {
			if _, err := r.pg.Exec(ctx, stmt); err != nil {
				return 0, 0, err
			}
		}
	case cellar.MariaDB:
		for _, stmt := range []string{"DROP USER '" + db + "'@'%'", "DROP DATABASE `" + db + "`"} {
			if _, err := r.my.ExecContext(ctx, stmt); err != nil {
				return 0, 0, err
			}
		}
	}
	if err := r.kv.DeleteMetadata(ctx, path); err != nil {
		return 0, 0, err
	}
	return create, time.Since(start), nil
}

// throughput runs clients concurrent loops of perClient creates and
// returns creates per second. Databases are dropped afterwards, untimed.
func (r *rig) throughput(ctx context.Context, engine cellar.Engine, clients, perClient int, api bool) (float64, int, float64, error) {
	var mu sync.Mutex
	var firstErr error
	var names []string
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn *pgx.Conn
			if !api && engine == cellar.PostgreSQL {
				var err error
				if conn, err = pgx.Connect(ctx, r.svcs.PG.DSN("postgres")); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				defer conn.Close(ctx)
			}
			for i := range perClient {
				name := fmt.Sprintf("t%d_%d_%s", c, i, strings.ToLower(cellar.RandomToken(5)))
				var err error
				if api {
					err = r.call(ctx, "POST", "/v1/databases", fmt.Sprintf(`{"db_type":%q,"requested_name":%q}`, engine, name), http.StatusCreated)
				} else {
					err = r.rawCreateOn(ctx, conn, engine, name)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				names = append(names, name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if firstErr != nil {
		return 0, 0, 0, firstErr
	}
	for _, name := range names {
		if api {
			_ = r.call(ctx, "DELETE", "/v1/databases/"+string(engine)+"/"+cellar.DatabaseName(service.BootstrapCustomer, engine, name), "", http.StatusOK)
		} else {
			r.rawDrop(ctx, engine, name)
		}
	}
	return float64(len(names)) / secs, len(names), secs, nil
}

func (r *rig) rawCreateOn(ctx context.Context, conn *pgx.Conn, engine cellar.Engine, name string) error {
	db := "raw_" + engine.Short() + "_" + name
	password := cellar.NewPassword()
	if _, err := r.kv.Put(ctx, "bench/raw/"+db, map[string]any{"username": db, "password": password}); err != nil {
		return err
	}
	if engine == cellar.PostgreSQL {
		ident := pgx.Identifier{db}.Sanitize()
		verifier, err := postgres.SCRAMVerifier(password)
		if err != nil {
			return err
		}
		for _, stmt := range []string{
			"CREATE ROLE " + ident + " LOGIN PASSWORD '" + verifier + "'",
			"CREATE DATABASE " + ident + " OWNER " + ident,
			"REVOKE ALL ON DATABASE " + ident + " FROM PUBLIC",
		} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	}
	for _, stmt := range []string{
		"CREATE DATABASE `" + db + "`",
		"CREATE USER '" + db + "'@'%' IDENTIFIED BY PASSWORD '" + mariadb.MySQLNativeHash(password) + "'",
		"GRANT ALL PRIVILEGES ON `" + strings.ReplaceAll(db, "_", `\_`) + "`.* TO '" + db + "'@'%'",
	} {
		if _, err := r.my.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

func (r *rig) rawDrop(ctx context.Context, engine cellar.Engine, name string) {
	db := "raw_" + engine.Short() + "_" + name
	if engine == cellar.PostgreSQL {
		ident := pgx.Identifier{db}.Sanitize()
		_, _ = r.pg.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)")
		_, _ = r.pg.Exec(ctx, "DROP ROLE "+ident)
	} else {
		_, _ = r.my.ExecContext(ctx, "DROP USER '"+db+"'@'%'")
		_, _ = r.my.ExecContext(ctx, "DROP DATABASE `"+db+"`")
	}
	_ = r.kv.DeleteMetadata(ctx, "bench/raw/"+db)
}
