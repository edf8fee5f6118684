package app_test

// outage_test.go: kill -9 each dependency of a `make run` style Cellar
// (embedded servers, supervised) during a mixed workload, and check that
// the outage answers 503 naming the dependency, that the supervisor brings
// the dependency back without anyone touching Cellar, and that nothing is
// orphaned or lost.

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

	// A bare kill -9, nobody holding the port: each process is back at
	// once and the workload goes on.
	t.Run("bare kills", func(t *testing.T) {
		for _, d := range deps {
			before := restartsMetric(t, c, d.process)
			killed := time.Now()
			if err := syscall.Kill(d.pid(t, c), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			for restartsMetric(t, c, d.process) <= before {
				if time.Since(killed) > 2*time.Minute {
					t.Fatalf("%s not restarted", d.process)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := testenv.WaitReady(c.addr, c.exited, 2*time.Minute); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: restarted and ready %s after a bare kill", d.process, time.Since(killed).Round(time.Millisecond))
			for _, engine := range []string{"postgresql", "mariadb"} {
				expectAllOK(t, "after a bare kill of "+d.process, w.round("k", engine))
			}
		}
	})

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

// TestOutage_CreateCutShortByVault_SettledWhenVaultIsBack: a create whose
// Vault write fails because Vault is down answers 503 naming Vault; its
// rollback cannot destroy the secret either, so the create stays pending.
// Once the supervisor has Vault back, the reconciler rolls it back: nothing
// of it is left on the server or in Vault, and the name is free again.
func TestOutage_CreateCutShortByVault_SettledWhenVaultIsBack(t *testing.T) {
	testenv.Need(t, env)
	c := startEmbedded(t)
	st := c.state(t)
	w := newWorkload(t, c)

	if err := syscall.Kill(vaultPid(t, c), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	release := holdPort(t, st.Vault.Port)
	name := "cust_admin_pg_cutshort"
	w.tried[name] = "postgresql"
	cl := w.do("create", "postgresql", name, "POST", "/v1/databases", `{"db_type":"postgresql","requested_name":"cutshort"}`)
	if cl.status != http.StatusServiceUnavailable || !strings.Contains(cl.detail, "the secret store (Vault) is unavailable") || cl.retryAfter == "" {
		release()
		t.Fatalf("create while Vault is down: %v", cl)
	}
	var status string
	var pending int
	md := metadataConn(t, st)
	md.QueryRow(context.Background(), `SELECT d.status, (SELECT count(*) FROM operations o WHERE o.database_id = d.id AND o.state = 'pending')
		FROM databases d WHERE d.name = $1`, name).Scan(&status, &pending)
	release()
	if status != "creating" || pending != 1 {
		t.Fatalf("while Vault is down: status %q, %d pending operations; want the create left to the reconciler", status, pending)
	}

	if err := testenv.WaitReady(c.addr, c.exited, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	waitNoPending(t, st)
	if err := md.QueryRow(context.Background(), "SELECT status FROM databases WHERE name = $1", name).Scan(&status); err != nil || status != "failed" {
		t.Fatalf("after the reconciler: status %q, %v", status, err)
	}
	checkNoOrphans(t, w, st)
	// The name is free again.
	expectAllOK(t, "create again", []call{w.do("create", "postgresql", name, "POST", "/v1/databases", `{"db_type":"postgresql","requested_name":"cutshort"}`)})
}
