// Package testenv runs Cellar for integration tests: real PostgreSQL,
// MariaDB and Vault processes from the harness, and the real server
// in-process, with a client that validates every response against the
// OpenAPI document.
//
// A package's TestMain calls Run once; tests then make customers with
// NewCustomer, which keeps tests independent while they share the servers.
package testenv

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/app"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/harness"
)

// Env is a running Cellar and the servers behind it.
type Env struct {
	Services *harness.Services
	BaseURL  string
	AdminKey string
	Dir      string
	spec     *spec

	// baseEnv is the configuration the in-process server runs with; crash
	// tests start extra processes with it.
	baseEnv map[string]string
	stop    func()
}

// Run starts the servers and Cellar, runs the tests and stops everything.
// With -short it runs only the tests and leaves env nil: integration tests
// then skip through Need.
func Run(m *testing.M, env **Env) int { return RunWith(m, env, Options{}) }

// RunWith is Run with options.
func RunWith(m *testing.M, env **Env, o Options) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	e, err := start(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	*env = e
	code := m.Run()
	e.close()
	if code == 0 {
		os.RemoveAll(e.Dir)
	} else {
		fmt.Fprintln(os.Stderr, "testenv: server logs kept in", e.Dir)
	}
	return code
}

// Need skips a test when there is no environment (go test -short).
func Need(t *testing.T, e *Env) *Env {
	t.Helper()
	if e == nil {
		t.Skip("integration test: needs real servers (run without -short)")
	}
	return e
}

// VaultBin finds the vault binary the way `make deps` provides it.
func VaultBin() (string, error) { return harness.FindVault(os.Getenv("CELLAR_VAULT_BIN")) }

// Options shape an environment made with Start.
type Options struct {
	// ExtraListen are addresses the managed servers listen on besides
	// loopback (clients in network namespaces).
	ExtraListen []string
	// Config overrides Cellar's environment variables.
	Config map[string]string
}

// Start makes an environment for one test (and its subtests), stopped at
// the test's cleanup. Packages whose tests share one environment use Run.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs real servers (run without -short)")
	}
	e, err := start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.close()
		if !t.Failed() {
			os.RemoveAll(e.Dir)
		} else {
			t.Logf("server logs kept in %s", e.Dir)
		}
	})
	return e
}

func start(o Options) (*Env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	vaultBin, err := VaultBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cellar-test-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	svcs, err := harness.Start(ctx, harness.Options{Dir: filepath.Join(dir, "servers"), VaultBin: vaultBin, ExtraListen: o.ExtraListen})
	if err != nil {
		return nil, err
	}
	e := &Env{Services: svcs, Dir: dir, AdminKey: "ck_testadmn_" + cellar.RandomToken(40)}
	e.baseEnv = map[string]string{
		"CELLAR_METADATA_DSN":        svcs.Metadata.DSN(harness.MetadataDatabase),
		"CELLAR_VAULT_ADDR":          svcs.Vault.Addr,
		"CELLAR_VAULT_TOKEN":         svcs.Vault.Token,
		"CELLAR_PG_ADMIN_DSN":        svcs.PG.DSN("postgres"),
		"CELLAR_MARIADB_ADMIN_DSN":   svcs.MariaDB.DSN(""),
		"CELLAR_BOOTSTRAP_API_KEY":   e.AdminKey,
		"CELLAR_RECONCILE_INTERVAL":  "1h", // tests call the reconciler explicitly
		"CELLAR_LOG_LEVEL":           "warn",
		"CELLAR_REQUEST_TIMEOUT":     "60s",
		"CELLAR_MAX_BODY_BYTES":      "65536",
		"CELLAR_MARIADB_SERVER_NAME": "mariadb-1",
		"CELLAR_PG_SERVER_NAME":      "pg-1",
		"CELLAR_SNAPSHOT_DIR":        filepath.Join(dir, "snapshots"),
	}
	for k, v := range o.Config {
		e.baseEnv[k] = v
	}
	addr, stop, err := e.StartServer(nil)
	if err != nil {
		svcs.Stop(context.Background())
		return nil, err
	}
	e.BaseURL = "http://" + addr
	e.stop = stop
	if e.spec, err = loadSpec(); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *Env) close() {
	if e.stop != nil {
		e.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.Services.Stop(ctx)
}

// Config returns the environment variables a Cellar for these servers runs
// with, plus extra.
func (e *Env) Config(extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range e.baseEnv {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

var serverLogs atomic.Int64

// StartServer runs another Cellar in-process against the same servers and
// returns its address and a function that stops it.
func (e *Env) StartServer(extra map[string]string) (addr string, stop func(), err error) {
	port, err := FreePort()
	if err != nil {
		return "", nil, err
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	cfg := e.Config(extra)
	cfg["CELLAR_LISTEN_ADDR"] = addr
	logPath := filepath.Join(e.Dir, fmt.Sprintf("cellar-%d.log", serverLogs.Add(1)))
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := app.Run(ctx, []string{"serve"}, func(k string) string { return cfg[k] }, io.Discard, logFile)
		done <- err
		close(done) // so that both WaitReady and stop may receive
	}()
	stop = func() {
		cancel()
		<-done
		logFile.Close()
	}
	if err := WaitReady(addr, done, 60*time.Second); err != nil {
		stop()
		return "", nil, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	return addr, stop, nil
}

// WaitReady polls /readyz until it answers 200, the server exits, or the
// timeout passes.
func WaitReady(addr string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("cellar exited before it was ready: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("cellar at %s not ready after %s", addr, timeout)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Reconcile runs `cellar reconcile` in-process against the environment,
// as an operator would after a crash, and returns what it printed.
func (e *Env) Reconcile(t testing.TB) string {
	t.Helper()
	var out strings.Builder
	cfg := e.Config(nil)
	err := app.Run(context.Background(), []string{"reconcile"}, func(k string) string { return cfg[k] }, &out, io.Discard)
	if err != nil {
		t.Fatalf("cellar reconcile: %v\n%s", err, out.String())
	}
	return out.String()
}
