package app_test

// outage_env_test.go: a `make run` style Cellar for the outage tests, and
// the workload they run against it.

import (
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/cellar/cellar/internal/testenv"
)

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
		"CELLAR_QUOTA_MAX_DATABASES=1000",
		// The workload sends as fast as it can with one key: the per-key
		// rate and the per-customer bound on changes (tested on their own)
		// would answer 429 where this test looks for 503s.
		"CELLAR_RATE_LIMIT=0", "CELLAR_MAX_CONCURRENT_CHANGES=0")
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
