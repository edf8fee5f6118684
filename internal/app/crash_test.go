package app_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/testenv"
)

var env *testenv.Env

// The in-process server only queues snapshots (no workers), so that a
// snapshot job runs in the process a test chooses to kill.
func TestMain(m *testing.M) {
	os.Exit(testenv.RunWith(m, &env, testenv.Options{Config: map[string]string{"CELLAR_BACKUP_WORKERS": "0"}}))
}

// cellarBinary builds the server once per test run: crash tests need a real
// process to kill.
func cellarBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(env.Dir, "cellar")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	out, err := exec.Command("go", "build", "-o", bin, "github.com/cellar/cellar/cmd/server").CombinedOutput()
	if err != nil {
		t.Fatalf("build cellar: %v\n%s", err, out)
	}
	return bin
}

// crashingServer runs Cellar as a child process with a failpoint that kills
// it (SIGKILL, from inside) at one step.
type crashingServer struct {
	cmd    *exec.Cmd
	addr   string
	exited chan error
}

func startProcess(t *testing.T, failpoints string) *crashingServer {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := env.Config(map[string]string{"CELLAR_LISTEN_ADDR": addr, "CELLAR_FAILPOINTS": failpoints, "CELLAR_BACKUP_WORKERS": "1"})
	cmd := exec.Command(cellarBinary(t), "serve")
	cmd.Env = os.Environ()
	for k, v := range cfg {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logFile, err := os.Create(filepath.Join(env.Dir, "crash-"+strings.NewReplacer("/", "_", "=", "_", ",", "_").Replace(t.Name())+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &crashingServer{cmd: cmd, addr: addr, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-s.exited })
	if err := testenv.WaitReady(addr, s.exited, time.Minute); err != nil {
		t.Fatal(err)
	}
	return s
}

// expectKilled waits for the process to die of SIGKILL.
func (s *crashingServer) expectKilled(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.exited:
		s.exited <- err // for the cleanup
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("process ended with %v, want SIGKILL", err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("process ended with %v, want SIGKILL", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("process was not killed by its failpoint")
	}
}

// reconcile runs `cellar reconcile` as an operator would after a crash.
func reconcile(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(cellarBinary(t), "reconcile")
	cmd.Env = os.Environ()
	for k, v := range env.Config(nil) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cellar reconcile: %v\n%s", err, out)
	}
	return string(out)
}

// metadataState returns the status of the newest row for name and the
// number of pending operations on any row of that name.
func metadataState(t *testing.T, name string) (status string, pending int) {
	t.Helper()
	md := env.Metadata(t)
	ctx := context.Background()
	if err := md.QueryRow(ctx, "SELECT status FROM databases WHERE name = $1 ORDER BY created_at DESC LIMIT 1", name).Scan(&status); err != nil {
		t.Fatalf("metadata row for %s: %v", name, err)
	}
	if err := md.QueryRow(ctx, `SELECT count(*) FROM operations o JOIN databases d ON d.id = o.database_id
		WHERE d.name = $1 AND o.state = 'pending'`, name).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	return status, pending
}

func shortOf(engine string) string {
	if engine == "postgresql" {
		return "pg"
	}
	return "my"
}

// TestCrash_KillDuringCreate_LeavesNothingOrphaned kills Cellar with
// SIGKILL after each step of a create and checks, after reconciling, that
// the servers, Vault and the metadata agree: either the database is fully
// there (the kill came after the final commit) or nothing of it is.
func TestCrash_KillDuringCreate_LeavesNothingOrphaned(t *testing.T) {
	testenv.Need(t, env)
	steps := []string{"create.after_intent", "create.after_secret", "create.after_user", "create.after_database", "create.after_commit"}
	for _, engine := range []string{"postgresql", "mariadb"} {
		for _, step := range steps {
			t.Run(engine+"/"+step, func(t *testing.T) {
				c := env.NewCustomer(t)
				name := "cust_" + c.CustomerID + "_" + shortOf(engine) + "_crashy"
				srv := startProcess(t, step+"=kill")
				r, err := rawCreate(srv.addr, c.Key, engine, "crashy")
				if err == nil {
					t.Fatalf("create answered %d; the failpoint should have killed the server first", r)
				}
				srv.expectKilled(t)

				out := reconcile(t)
				if !strings.Contains(out, "settled 1") && step != "create.after_commit" {
					t.Errorf("reconcile output: %s", out)
				}
				x := env.Inspect(t, engine, c.CustomerID, name)
				status, pending := metadataState(t, name)
				if pending != 0 {
					t.Fatalf("%d operations still pending", pending)
				}
				if step == "create.after_commit" {
					if status != "active" || !x.Database || !x.User || !x.Secret {
						t.Fatalf("committed create: status %s, servers %+v", status, x)
					}
					return
				}
				if status != "failed" || x.Database || x.User || x.Secret {
					t.Fatalf("interrupted create: status %s, left behind %+v", status, x)
				}
				// The name is free again.
				c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "crashy"})
			})
		}
	}
}

// TestCrash_RetryAfterCrashSettlesInline: a client that retries a create
// after the server died does not wait for the reconciler.
func TestCrash_RetryAfterCrashSettlesInline(t *testing.T) {
	testenv.Need(t, env)
	c := env.NewCustomer(t)
	srv := startProcess(t, "create.after_user=kill")
	if _, err := rawCreate(srv.addr, c.Key, "postgresql", "retried"); err == nil {
		t.Fatal("expected the server to die")
	}
	srv.expectKilled(t)
	var db struct {
		Password string `json:"password"`
		DBName   string `json:"db_name"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "postgresql", "requested_name": "retried"}).Decode(t, &db)
	status, pending := metadataState(t, db.DBName)
	if status != "active" || pending != 0 {
		t.Fatalf("status %s, pending %d", status, pending)
	}
	var failed int
	env.Metadata(t).QueryRow(context.Background(), "SELECT count(*) FROM databases WHERE name = $1 AND status = 'failed'", db.DBName).Scan(&failed)
	if failed != 1 {
		t.Fatalf("want the crashed attempt recorded as failed, got %d", failed)
	}
}

// TestCrash_InjectedErrorRollsBackInline: a step that fails (rather than
// the process dying) is rolled back before the answer.
func TestCrash_InjectedErrorRollsBackInline(t *testing.T) {
	testenv.Need(t, env)
	for _, engine := range []string{"postgresql", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			c := env.NewCustomer(t)
			addr, stop, err := env.StartServer(map[string]string{"CELLAR_FAILPOINTS": "create.after_database=error"})
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			r := c.WithBaseURL("http://"+addr).Do(t, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "flaky"})
			if r.Status != http.StatusInternalServerError {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), "failpoint") {
				t.Fatalf("internal error leaked: %s", r.Body)
			}
			name := "cust_" + c.CustomerID + "_" + shortOf(engine) + "_flaky"
			if x := env.Inspect(t, engine, c.CustomerID, name); x.Database || x.User || x.Secret {
				t.Fatalf("left behind: %+v", x)
			}
			if status, pending := metadataState(t, name); status != "failed" || pending != 0 {
				t.Fatalf("status %s, pending %d", status, pending)
			}
		})
	}
}

// TestCrash_KillDuringDelete_DeletionCompletes kills Cellar after each step
// of a delete; the reconciler finishes the deletion the customer asked for.
func TestCrash_KillDuringDelete_DeletionCompletes(t *testing.T) {
	testenv.Need(t, env)
	steps := []string{"delete.after_intent", "delete.after_database", "delete.after_user", "delete.after_secret"}
	for _, engine := range []string{"postgresql", "mariadb"} {
		for _, step := range steps {
			t.Run(engine+"/"+step, func(t *testing.T) {
				c := env.NewCustomer(t)
				var db struct {
					DBName string `json:"db_name"`
				}
				c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "goner"}).Decode(t, &db)
				srv := startProcess(t, step+"=kill")
				if code, err := rawDelete(srv.addr, c.Key, engine, db.DBName); err == nil {
					t.Fatalf("delete answered %d; the failpoint should have killed the server first", code)
				}
				srv.expectKilled(t)
				if status, pending := metadataState(t, db.DBName); status != "deleting" || pending != 1 {
					t.Fatalf("before reconcile: status %s, pending %d", status, pending)
				}
				reconcile(t)
				if x := env.Inspect(t, engine, c.CustomerID, db.DBName); x.Database || x.User || x.Secret {
					t.Fatalf("left behind: %+v", x)
				}
				if status, pending := metadataState(t, db.DBName); status != "deleted" || pending != 0 {
					t.Fatalf("after reconcile: status %s, pending %d", status, pending)
				}
				var events string
				env.Metadata(t).QueryRow(context.Background(), `SELECT string_agg(kind, ',' ORDER BY e.id) FROM database_events e
					JOIN databases d ON d.id = e.database_id WHERE d.name = $1`, db.DBName).Scan(&events)
				if events != "created,deleted" {
					t.Fatalf("events %q", events)
				}
			})
		}
	}
}

func rawCreate(addr, key, engine, name string) (int, error) {
	return rawRequest("POST", "http://"+addr+"/v1/databases", key,
		fmt.Sprintf(`{"db_type":%q,"requested_name":%q}`, engine, name))
}

func rawDelete(addr, key, engine, name string) (int, error) {
	return rawRequest("DELETE", "http://"+addr+"/v1/databases/"+engine+"/"+name, key, "")
}

func rawRequest(method, url, key, body string) (int, error) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("X-API-Key", key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestCrash_KillDuringRotate_VaultPasswordWorks kills Cellar at each step of
// a rotation; after reconciling, the password in Vault is the one that
// works, and the metadata records its version.
func TestCrash_KillDuringRotate_VaultPasswordWorks(t *testing.T) {
	testenv.Need(t, env)
	steps := []string{"rotate.after_intent", "rotate.after_secret", "rotate.after_server"}
	for _, engine := range []string{"postgresql", "mariadb"} {
		for _, step := range steps {
			t.Run(engine+"/"+step, func(t *testing.T) {
				c := env.NewCustomer(t)
				var db struct {
					DBName string `json:"db_name"`
				}
				c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "spinning"}).Decode(t, &db)
				srv := startProcess(t, step+"=kill")
				if code, err := rawRequest("POST", "http://"+srv.addr+"/v1/databases/"+engine+"/"+db.DBName+"/credentials/rotate", c.Key, ""); err == nil {
					t.Fatalf("rotate answered %d; the failpoint should have killed the server first", code)
				}
				srv.expectKilled(t)
				reconcile(t)

				secret, err := env.Vault(t).KVv2("secret").Get(context.Background(), "cellar/customers/"+c.CustomerID+"/"+engine+"/"+db.DBName)
				if err != nil {
					t.Fatal(err)
				}
				password, _ := secret.Data["password"].(string)
				if err := login(engine, db.DBName, password); err != nil {
					t.Fatalf("the password in Vault (version %d) does not work: %v", secret.VersionMetadata.Version, err)
				}
				var recorded int
				if err := env.Metadata(t).QueryRow(context.Background(), "SELECT vault_version FROM databases WHERE name = $1 AND status = 'active'", db.DBName).Scan(&recorded); err != nil {
					t.Fatal(err)
				}
				if recorded != secret.VersionMetadata.Version {
					t.Fatalf("metadata records version %d, Vault has %d", recorded, secret.VersionMetadata.Version)
				}
				if _, pending := metadataState(t, db.DBName); pending != 0 {
					t.Fatalf("%d operations pending", pending)
				}
			})
		}
	}
}

// TestCrash_KillDuringUpdate_LimitReachesServer: the metadata holds the
// desired limit; the reconciler applies it to the server.
func TestCrash_KillDuringUpdate_LimitReachesServer(t *testing.T) {
	testenv.Need(t, env)
	for _, engine := range []string{"postgresql", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			c := env.NewCustomer(t)
			var db struct {
				DBName string `json:"db_name"`
			}
			c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "throttled"}).Decode(t, &db)
			srv := startProcess(t, "update.after_intent=kill")
			if _, err := rawRequest("PATCH", "http://"+srv.addr+"/v1/databases/"+engine+"/"+db.DBName, c.Key, `{"connection_limit": 17}`); err == nil {
				t.Fatal("the failpoint should have killed the server first")
			}
			srv.expectKilled(t)
			reconcile(t)
			if got := serverConnectionLimit(t, engine, db.DBName); got != 17 {
				t.Fatalf("server connection limit %d, want 17", got)
			}
			if _, pending := metadataState(t, db.DBName); pending != 0 {
				t.Fatalf("%d operations pending", pending)
			}
		})
	}
}

// login connects as the database's user with password, on the real server.
func login(engine, name, password string) error {
	ctx := context.Background()
	if engine == "postgresql" {
		u := url.URL{Scheme: "postgres", User: url.UserPassword(name, password),
			Host: fmt.Sprintf("127.0.0.1:%d", env.Services.PG.Port), Path: "/" + name, RawQuery: "sslmode=disable"}
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = name, password, "tcp", fmt.Sprintf("127.0.0.1:%d", env.Services.MariaDB.Port), name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

func serverConnectionLimit(t *testing.T, engine, name string) int {
	t.Helper()
	var limit int
	var err error
	if engine == "postgresql" {
		err = env.PG(t).QueryRow(context.Background(), "SELECT datconnlimit FROM pg_database WHERE datname = $1", name).Scan(&limit)
	} else {
		err = env.MariaDB(t).QueryRow("SELECT max_user_connections FROM mysql.user WHERE User = ? LIMIT 1", name).Scan(&limit)
	}
	if err != nil {
		t.Fatal(err)
	}
	return limit
}
