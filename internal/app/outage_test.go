package app_test

// outage_test.go: kill -9 each dependency of a `make run` style Cellar
// (embedded servers, supervised) during a mixed workload, and check that
// the outage answers 503 naming the dependency, that the supervisor brings
// the dependency back without anyone touching Cellar, and that nothing is
// orphaned or lost.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/testenv"
)

// outageHold is how long the test keeps a killed dependency's port after
// the kill. A kill -9 alone is healed by the supervisor within a second or
// two, and Vault's client retries for about as long, so requests could
// miss the outage altogether; holding the port (accepting and closing
// every connection, as a dying server does) makes the outage long enough
// to observe, and makes the supervisor's first restart attempt wait or
// fail like a real slow recovery.
const outageHold = 5 * time.Second

// embeddedCellar is `cellar serve` in embedded mode: it starts and
// supervises its own metadata PostgreSQL, managed PostgreSQL, MariaDB and
// Vault under dir.
type embeddedCellar struct {
	dir, addr, key string
	exited         chan error
	log            string
}

type harnessState struct {
	MetadataPG struct {
		Port     int    `json:"port"`
		Password string `json:"password"`
	} `json:"metadata_pg"`
	ManagedPG struct {
		Port     int    `json:"port"`
		Password string `json:"password"`
	} `json:"managed_pg"`
	MariaDB struct {
		Port     int    `json:"port"`
		User     string `json:"user"`
		Password string `json:"password"`
	} `json:"mariadb"`
	Vault struct {
		Port      int    `json:"port"`
		RootToken string `json:"root_token"`
	} `json:"vault"`
}

func startEmbedded(t *testing.T) *embeddedCellar {
	t.Helper()
	dir, err := os.MkdirTemp("", "cellar-outage-")
	if err != nil {
		t.Fatal(err)
	}
	// The database servers run as their own OS users, which must reach
	// their data directories.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vaultBin, err := testenv.VaultBin()
	if err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &embeddedCellar{dir: dir, addr: "127.0.0.1:" + strconv.Itoa(port), key: "outage-admin-key-0123456789abcdefghijklmnop",
		exited: make(chan error, 1), log: filepath.Join(env.Dir, "outage-cellar.log")}
	cmd := exec.Command(cellarBinary(t), "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CELLAR_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CELLAR_DATA_DIR="+dir, "CELLAR_LISTEN_ADDR="+c.addr, "CELLAR_BOOTSTRAP_API_KEY="+c.key,
		"CELLAR_VAULT_BIN="+vaultBin, "CELLAR_RECONCILE_INTERVAL=2s", "CELLAR_LOG_LEVEL=info",
		// Creates cut short by an outage count until the reconciler rolls
		// them back.
		"CELLAR_QUOTA_MAX_DATABASES=1000")
	logFile, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		// A graceful stop stops the embedded servers too.
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-c.exited
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("cellar log: %s; data: %s", c.log, dir)
		}
	})
	began := time.Now()
	if err := testenv.WaitReady(c.addr, c.exited, 3*time.Minute); err != nil {
		t.Fatalf("%v (log %s)", err, c.log)
	}
	t.Logf("embedded cellar ready in %s", time.Since(began).Round(time.Millisecond))
	return c
}

func (c *embeddedCellar) state(t *testing.T) harnessState {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st harnessState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// dependency is one process the test kills.
type dependency struct {
	process string // the supervisor's name for it
	names   string // what a 503 must say
	check   string // its /readyz check
	pid     func(t *testing.T, c *embeddedCellar) int
	port    func(st harnessState) int
}

func pidFile(rel string) func(t *testing.T, c *embeddedCellar) int {
	return func(t *testing.T, c *embeddedCellar) int {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(c.dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		return pid
	}
}

// vaultPid finds the Vault server by its command line, which names the
// configuration file under the data directory.
func vaultPid(t *testing.T, c *embeddedCellar) int {
	t.Helper()
	want := []byte("-config=" + filepath.Join(c.dir, "vault", "vault.hcl"))
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, want) {
			return pid
		}
	}
	t.Fatal("no vault process found")
	return 0
}

// holdPort binds the port as soon as the dead process released it and
// answers every connection by closing it, until release is called.
func holdPort(t *testing.T, port int) (release func()) {
	t.Helper()
	var ln net.Listener
	deadline := time.Now().Add(3 * time.Second)
	for {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("could not hold port %d (%v); the outage will be shorter", port, err)
			return func() {}
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	return func() { ln.Close(); <-done }
}

// call is one API call of the workload and its answer.
type call struct {
	op, engine, name string
	status           int
	detail           string
	retryAfter       string
	contentType      string
	err              error
}

func (c call) String() string {
	return fmt.Sprintf("%s %s %s → %d %q (Retry-After %q) %v", c.op, c.engine, c.name, c.status, c.detail, c.retryAfter, c.err)
}

// workload runs API calls against Cellar and remembers what each answered.
type workload struct {
	t      *testing.T
	c      *embeddedCellar
	client *http.Client

	mu      sync.Mutex
	seq     int
	live    map[string]string // name → engine: created with 2xx, not deleted with 2xx
	tried   map[string]string // every name a create was sent for
	deleted map[string]string // deleted with 2xx
}

func newWorkload(t *testing.T, c *embeddedCellar) *workload {
	return &workload{t: t, c: c, client: &http.Client{Timeout: 2 * time.Minute},
		live: map[string]string{}, tried: map[string]string{}, deleted: map[string]string{}}
}

func (w *workload) do(op, engine, name, method, path, body string) call {
	req, _ := http.NewRequest(method, "http://"+w.c.addr+path, strings.NewReader(body))
	req.Header.Set("X-API-Key", w.c.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	cl := call{op: op, engine: engine, name: name}
	resp, err := w.client.Do(req)
	if err != nil {
		cl.err = err
		return cl
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	cl.status = resp.StatusCode
	cl.retryAfter = resp.Header.Get("Retry-After")
	cl.contentType = resp.Header.Get("Content-Type")
	var p struct {
		Detail string `json:"detail"`
		DBName string `json:"db_name"`
	}
	_ = json.Unmarshal(raw, &p)
	cl.detail = p.Detail
	return cl
}

// pick returns a live database of engine, the oldest first.
func (w *workload) pick(engine string, skip int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var names []string
	for n, e := range w.live {
		if e == engine {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) <= skip {
		return ""
	}
	return names[skip]
}

// round runs one of each call on engine: create, read, rotate, list and
// (when there are enough) delete.
func (w *workload) round(tag, engine string) []call {
	w.mu.Lock()
	w.seq++
	suffix := fmt.Sprintf("%s%03d", tag, w.seq)
	w.mu.Unlock()
	name := "cust_admin_" + map[string]string{"postgresql": "pg", "mariadb": "my"}[engine] + "_" + suffix
	var out []call

	w.mu.Lock()
	w.tried[name] = engine
	w.mu.Unlock()
	cr := w.do("create", engine, name, "POST", "/v1/databases", fmt.Sprintf(`{"db_type":%q,"requested_name":%q}`, engine, suffix))
	if cr.status == http.StatusCreated {
		w.mu.Lock()
		w.live[name] = engine
		w.mu.Unlock()
	}
	out = append(out, cr)
	if n := w.pick(engine, 0); n != "" {
		out = append(out, w.do("read", engine, n, "GET", "/v1/databases/"+engine+"/"+n+"/credentials", ""))
	}
	if n := w.pick(engine, 1); n != "" {
		out = append(out, w.do("rotate", engine, n, "POST", "/v1/databases/"+engine+"/"+n+"/credentials/rotate", ""))
	}
	out = append(out, w.do("list", engine, "", "GET", "/v1/databases/"+engine, ""))
	if n := w.pick(engine, 2); n != "" {
		d := w.do("delete", engine, n, "DELETE", "/v1/databases/"+engine+"/"+n, "")
		w.mu.Lock()
		// A delete that answered an error may still be finished by the
		// reconciler (its intent was recorded) or not: either is right.
		delete(w.live, n)
		if d.status/100 == 2 {
			w.deleted[n] = engine
		}
		w.mu.Unlock()
		out = append(out, d)
	}
	return out
}

// mixed runs rounds on both engines concurrently until stop, and returns
// every call.
func (w *workload) mixed(tag string, stop <-chan struct{}) []call {
	var (
		mu  sync.Mutex
		all []call
		wg  sync.WaitGroup
	)
	for _, engine := range []string{"postgresql", "mariadb"} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				calls := w.round(tag, engine)
				mu.Lock()
				all = append(all, calls...)
				mu.Unlock()
				// Calls that fail fast would otherwise spin.
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return all
}

// TestOutage_KillEachDependency_503ThenSelfHeals kills, in turn, Vault, the
// managed PostgreSQL, MariaDB and the metadata PostgreSQL with SIGKILL
// while creates, deletes, rotations and reads run on both engines. During
// each outage every failing call answers 503 with Retry-After and names
// the dependency, never 500; the supervisor restarts the dependency with
// nobody touching Cellar, after which every call succeeds again; at the
// end no database, user or secret is orphaned and no acknowledged create
// or delete is lost.
func TestOutage_KillEachDependency_503ThenSelfHeals(t *testing.T) {
	testenv.Need(t, env)
	c := startEmbedded(t)
	w := newWorkload(t, c)

	deps := []dependency{
		{process: "vault", names: "the secret store (Vault) is unavailable", check: "vault",
			pid: vaultPid, port: func(st harnessState) int { return st.Vault.Port }},
		{process: "managed-postgresql", names: "the PostgreSQL server pg-1 is unavailable", check: "server:pg-1",
			pid: pidFile("managed-pg/postmaster.pid"), port: func(st harnessState) int { return st.ManagedPG.Port }},
		{process: "mariadb", names: "the MariaDB server mariadb-1 is unavailable", check: "server:mariadb-1",
			pid: pidFile("mariadb/mysqld.pid"), port: func(st harnessState) int { return st.MariaDB.Port }},
		{process: "metadata-postgresql", names: "the metadata database is unavailable", check: "metadata",
			pid: pidFile("metadata-pg/postmaster.pid"), port: func(st harnessState) int { return st.MetadataPG.Port }},
	}

	// Before any fault, everything works.
	for _, engine := range []string{"postgresql", "mariadb"} {
		for range 3 {
			expectAllOK(t, "warm-up", w.round("w", engine))
		}
	}

	for i, d := range deps {
		t.Run(d.process, func(t *testing.T) {
			tag := string(rune('a' + i))
			st := c.state(t)
			pid := d.pid(t, c)

			stop := make(chan struct{})
			res := make(chan []call, 1)
			go func() { res <- w.mixed(tag, stop) }()
			time.Sleep(300 * time.Millisecond) // the workload is under way

			killed := time.Now()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill %s (pid %d): %v", d.process, pid, err)
			}
			release := holdPort(t, d.port(st))
			time.Sleep(outageHold / 2)
			checkNotReady(t, c, d)
			time.Sleep(time.Until(killed.Add(outageHold)))
			release()
			close(stop)
			during := <-res

			// Recovery needs nobody: the supervisor restarts the process.
			if err := testenv.WaitReady(c.addr, c.exited, 2*time.Minute); err != nil {
				t.Fatalf("not ready again: %v (log %s)", err, c.log)
			}
			t.Logf("%s: ready again %s after the kill", d.process, time.Since(killed).Round(time.Millisecond))
			if newPid := d.pid(t, c); newPid == pid {
				t.Fatalf("%s still has pid %d", d.process, pid)
			}
			if n := restartsMetric(t, c, d.process); n < 1 {
				t.Fatalf("cellar_supervised_restarts_total{process=%q} = %v", d.process, n)
			}

			var named, ok, unavailable int
			for _, cl := range during {
				switch {
				case cl.err != nil:
					t.Errorf("transport error during the outage: %v", cl)
				case cl.status/100 == 2:
					ok++
				case cl.status == http.StatusServiceUnavailable:
					unavailable++
					if cl.retryAfter == "" || !strings.HasPrefix(cl.contentType, "application/problem+json") {
						t.Errorf("503 without Retry-After or problem+json: %v", cl)
					}
					if strings.Contains(cl.detail, d.names) {
						named++
					} else if !strings.Contains(cl.detail, " is unavailable") {
						t.Errorf("503 does not name a dependency: %v", cl)
					}
				default:
					t.Errorf("during the %s outage: %v", d.process, cl)
				}
			}
			t.Logf("%s outage: %d calls, %d succeeded, %d answered 503 (%d naming it)", d.process, len(during), ok, unavailable, named)
			if named == 0 {
				t.Errorf("no call answered 503 naming %q", d.names)
			}

			// Afterwards every call succeeds again.
			for _, engine := range []string{"postgresql", "mariadb"} {
				for range 2 {
					expectAllOK(t, "after the "+d.process+" outage", w.round(tag+"z", engine))
				}
			}
		})
		if t.Failed() {
			return
		}
	}

	// The reconciler (every 2 s in this server) settles what the outages
	// interrupted; then metadata, servers and Vault agree.
	st := c.state(t)
	waitNoPending(t, st)
	checkSettledAfterOutages(t, st)
	checkNoOrphans(t, w, st)
}

// checkSettledAfterOutages looks for operations that failed during an
// outage (a recorded failed attempt) and were finished afterwards: the
// reconciler's work, since their requests had answered 503.
func checkSettledAfterOutages(t *testing.T, st harnessState) {
	t.Helper()
	rows, err := metadataConn(t, st).Query(context.Background(), `SELECT kind, state, count(*) FROM operations
		WHERE attempts > 0 AND state <> 'pending' GROUP BY kind, state ORDER BY kind, state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	total := 0
	for rows.Next() {
		var kind, state string
		var n int
		if err := rows.Scan(&kind, &state, &n); err != nil {
			t.Fatal(err)
		}
		total += n
		t.Logf("settled after an outage: %d %s operations, now %s", n, kind, state)
	}
	if total == 0 {
		t.Error("no operation interrupted by an outage was settled afterwards; the outages did not cut any change short")
	}
}

// checkNotReady: during the outage /readyz answers 503 and says which
// dependency is down and that its process is restarting.
func checkNotReady(t *testing.T, c *embeddedCellar, d dependency) {
	t.Helper()
	resp, err := http.Get("http://" + c.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Detail string            `json:"detail"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	t.Logf("/readyz during the outage: %d %q %v", resp.StatusCode, body.Detail, body.Checks)
	if resp.StatusCode != http.StatusServiceUnavailable || body.Checks[d.check] != "unavailable" ||
		body.Checks["process:"+d.process] != "restarting" || !strings.Contains(body.Detail, d.check) {
		t.Errorf("/readyz does not say %s is down and %s restarting", d.check, d.process)
	}
}

func expectAllOK(t *testing.T, when string, calls []call) {
	t.Helper()
	for _, cl := range calls {
		if cl.err != nil || cl.status/100 != 2 {
			t.Errorf("%s: %v", when, cl)
		}
	}
}

// restartsMetric reads cellar_supervised_restarts_total for process.
func restartsMetric(t *testing.T, c *embeddedCellar, process string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + c.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	prefix := `cellar_supervised_restarts_total{process="` + process + `"} `
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

func metadataConn(t *testing.T, st harnessState) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(),
		fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/cellar?sslmode=disable", st.MetadataPG.Password, st.MetadataPG.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func waitNoPending(t *testing.T, st harnessState) {
	t.Helper()
	md := metadataConn(t, st)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var pending int
		if err := md.QueryRow(context.Background(), "SELECT count(*) FROM operations WHERE state = 'pending'").Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d operations still pending", pending)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func checkNoOrphans(t *testing.T, w *workload, st harnessState) {
	t.Helper()
	ctx := context.Background()
	md := metadataConn(t, st)
	active := map[string]map[string]bool{"postgresql": {}, "mariadb": {}}
	rows, err := md.Query(ctx, "SELECT engine, name FROM databases WHERE status = 'active'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e, n string
		if err := rows.Scan(&e, &n); err != nil {
			t.Fatal(err)
		}
		active[e][n] = true
	}
	rows.Close()
	var notSettled int
	md.QueryRow(ctx, "SELECT count(*) FROM databases WHERE status NOT IN ('active', 'deleted', 'failed')").Scan(&notSettled)
	if notSettled != 0 {
		t.Errorf("%d databases neither active, deleted nor failed", notSettled)
	}

	// No lost row: every acknowledged create not deleted since is active;
	// every acknowledged delete is not. Creates that answered an error may
	// have gone either way, but wholly.
	for n, e := range w.live {
		if !active[e][n] {
			t.Errorf("%s %s was created (2xx) but is not active", e, n)
		}
	}
	for n, e := range w.deleted {
		if active[e][n] {
			t.Errorf("%s %s was deleted (2xx) but is active", e, n)
		}
	}
	for e, names := range active {
		for n := range names {
			if _, ok := w.tried[n]; !ok {
				t.Errorf("%s %s is active but was never asked for", e, n)
			}
		}
	}

	// The servers and Vault hold exactly the active databases.
	pg, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", st.ManagedPG.Password, st.ManagedPG.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	compare(t, "postgresql databases", active["postgresql"], pgNames(t, pg, "SELECT datname FROM pg_database WHERE datname LIKE 'cust\\_%'"))
	compare(t, "postgresql roles", active["postgresql"], pgNames(t, pg, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'cust\\_%'"))

	mcfg := mysql.NewConfig()
	mcfg.User, mcfg.Passwd, mcfg.Net, mcfg.Addr = st.MariaDB.User, st.MariaDB.Password, "tcp", fmt.Sprintf("127.0.0.1:%d", st.MariaDB.Port)
	my, err := sql.Open("mysql", mcfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	compare(t, "mariadb databases", active["mariadb"], sqlNames(t, my, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'cust\\_%'"))
	compare(t, "mariadb users", active["mariadb"], sqlNames(t, my, "SELECT DISTINCT User FROM mysql.user WHERE User LIKE 'cust\\_%'"))

	vc, err := vault.NewClient(&vault.Config{Address: fmt.Sprintf("http://127.0.0.1:%d", st.Vault.Port)})
	if err != nil {
		t.Fatal(err)
	}
	vc.SetToken(st.Vault.RootToken)
	for _, engine := range []string{"postgresql", "mariadb"} {
		got := map[string]bool{}
		s, err := vc.Logical().ListWithContext(ctx, "secret/metadata/cellar/customers/admin/"+engine)
		if err != nil {
			t.Fatal(err)
		}
		if s != nil {
			keys, _ := s.Data["keys"].([]any)
			for _, k := range keys {
				got[k.(string)] = true
			}
		}
		compare(t, engine+" secrets", active[engine], got)
		// Each secret logs in: rotations cut short by an outage were
		// settled to the password Vault holds.
		for n := range active[engine] {
			sec, err := vc.KVv2("secret").Get(ctx, "cellar/customers/admin/"+engine+"/"+n)
			if err != nil {
				t.Errorf("secret of %s: %v", n, err)
				continue
			}
			pw, _ := sec.Data["password"].(string)
			if err := loginAt(engine, n, pw, st); err != nil {
				t.Errorf("%s %s: the password in Vault does not log in: %v", engine, n, err)
			}
		}
	}
	t.Logf("at the end: %d postgresql and %d mariadb databases active; %d acknowledged deletes",
		len(active["postgresql"]), len(active["mariadb"]), len(w.deleted))
}

func loginAt(engine, name, password string, st harnessState) error {
	ctx := context.Background()
	if engine == "postgresql" {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", name, password, st.ManagedPG.Port, name))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = name, password, "tcp", fmt.Sprintf("127.0.0.1:%d", st.MariaDB.Port), name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

func pgNames(t *testing.T, conn *pgx.Conn, q string) map[string]bool {
	t.Helper()
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	return out
}

func sqlNames(t *testing.T, db *sql.DB, q string) map[string]bool {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	return out
}

func compare(t *testing.T, what string, want, got map[string]bool) {
	t.Helper()
	for n := range want {
		if !got[n] {
			t.Errorf("%s: %s is missing", what, n)
		}
	}
	for n := range got {
		if !want[n] {
			t.Errorf("%s: %s is an orphan", what, n)
		}
	}
}
