package backup

// Private PostgreSQL and MariaDB servers for this package's integration
// tests, from the shared harness, and helpers to provision databases on them
// the way Cellar does.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/harness"
	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/provision/mariadb"
	"github.com/cellar/cellar/internal/provision/postgres"
	"github.com/cellar/cellar/internal/snapstore"

	"github.com/cellar/cellar/internal/cellar"
)

// Set by TestMain when the servers are up; zero means the engine's tests
// skip.
var (
	pgAdmin    Conn
	mariaAdmin Conn
)

// startedCmd is a tool started by the package, as seen right after start.
type startedCmd struct {
	pid     int
	args    []string // exec.Cmd.Args
	cmdline []string // /proc/<pid>/cmdline, what any local user can read
	env     []string
}

var started struct {
	mu   sync.Mutex
	cmds []startedCmd
}

// startedWith returns the tools started so far whose arguments include arg.
func startedWith(arg string) []startedCmd {
	started.mu.Lock()
	defer started.mu.Unlock()
	var out []startedCmd
	for _, c := range started.cmds {
		for _, a := range c.args {
			if a == arg {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func allStarted() []startedCmd {
	started.mu.Lock()
	defer started.mu.Unlock()
	return append([]startedCmd(nil), started.cmds...)
}

func TestMain(m *testing.M) {
	flag.Parse()
	startHook = func(cmd *exec.Cmd) {
		c := startedCmd{pid: cmd.Process.Pid, args: cmd.Args, env: cmd.Env}
		// Start returns after the child's exec, so this is the tool's own
		// argv (unless it has already exited).
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(c.pid) + "/cmdline"); err == nil {
			c.cmdline = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		}
		started.mu.Lock()
		started.cmds = append(started.cmds, c)
		started.mu.Unlock()
	}
	os.Exit(runTestMain(m))
}

func runTestMain(m *testing.M) int {
	if testing.Short() {
		return m.Run()
	}
	_ = mysql.SetLogger(&mysql.NopLogger{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "cellar-backup-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pg, err := harness.StartPostgres(ctx, harness.PostgresOptions{
		Name: "backup-pg", DataDir: filepath.Join(dir, "pg"), LogPath: filepath.Join(dir, "postgres.log"),
		RestrictDefaultDatabases: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start test postgresql:", err)
		return 1
	}
	maria, err := harness.StartMariaDB(ctx, harness.MariaDBOptions{Dir: filepath.Join(dir, "mariadb"), LogPath: filepath.Join(dir, "mariadb.log")})
	if err != nil {
		pg.Stop(context.Background())
		fmt.Fprintln(os.Stderr, "start test mariadb:", err)
		return 1
	}
	// Stop the servers before their directory goes (deferred calls run
	// last first).
	defer maria.Stop(context.Background())
	defer pg.Stop(context.Background())

	pgAdmin = Conn{Host: pg.Host, Port: pg.Port, User: pg.User, Password: pg.Password}
	mariaAdmin = Conn{Host: maria.Host, Port: maria.Port, User: maria.User, Password: maria.Password}
	code := m.Run()
	pg.Stop(context.Background())
	maria.Stop(context.Background())
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintln(os.Stderr, "server logs kept in", dir)
	}
	return code
}

// testCtx is a context for one test, bounded so a hang fails the test.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func admin(t testing.TB, engine cellar.Engine) Conn {
	t.Helper()
	c := pgAdmin
	if engine == cellar.MariaDB {
		c = mariaAdmin
	}
	if c.Port == 0 {
		t.Skipf("test %s server not running", engine)
	}
	return c
}

// as is how Restore logs in for the tenant: the server's address with the
// owner's own credentials (never the admin's: see Tools.Restore).
func as(t testing.TB, tn tenant) Conn {
	t.Helper()
	c := admin(t, tn.engine)
	c.User, c.Password = tn.user, tn.password
	return c
}

// adminDSN is the provision driver's DSN for the engine's admin.
func adminDSN(engine cellar.Engine) string {
	if engine == cellar.MariaDB {
		return mariaDSN(mariaAdmin, mariaAdmin.User, mariaAdmin.Password, "")
	}
	return pgDSN(pgAdmin, pgAdmin.User, pgAdmin.Password, "postgres")
}

func pgDSN(c Conn, user, password, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: c.Host + ":" + strconv.Itoa(c.Port), Path: "/" + db, RawQuery: "sslmode=disable&connect_timeout=5"}
	return u.String()
}

func mariaDSN(c Conn, user, password, db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.DBName = user, password, "tcp", db
	cfg.Addr = c.Host + ":" + strconv.Itoa(c.Port)
	cfg.Timeout = 5 * time.Second
	cfg.MultiStatements = true
	return cfg.FormatDSN()
}

// tenant is a customer database with its owner, created as Cellar does.
type tenant struct {
	engine             cellar.Engine
	db, user, password string
}

// uniq returns a short random suffix for names.
func uniq() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newTenant creates user prefix_owner_X and database prefix_db_X on the
// engine's server with provision (EnsureUser + EnsureDatabase), dropped at
// the end of the test.
func newTenant(t testing.TB, engine cellar.Engine, prefix string) tenant {
	t.Helper()
	admin(t, engine) // skip if not running
	ctx := testCtx(t)
	d, err := openDriver(ctx, engine, adminDSN(engine))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	s := uniq()
	tn := tenant{engine: engine, db: prefix + "_db_" + s, user: prefix + "_owner_" + s, password: "pw-" + uniq() + uniq()}
	if err := d.EnsureUser(ctx, tn.user, tn.password); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureDatabase(ctx, tn.db, tn.user); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.DropDatabase(ctx, tn.db); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := d.DropUser(ctx, tn.user); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return tn
}

// pgConnect logs in to PostgreSQL (as the tenant when user is its owner).
func pgConnect(t testing.TB, user, password, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(testCtx(t), pgDSN(pgAdmin, user, password, db))
	if err != nil {
		t.Fatalf("connect to %s as %s: %v", db, user, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// pgAsAdmin connects to a database as the admin.
func pgAsAdmin(t testing.TB, db string) *pgx.Conn {
	return pgConnect(t, pgAdmin.User, pgAdmin.Password, db)
}

// mariaConnect logs in to MariaDB (multi-statements allowed, for setup).
func mariaConnect(t testing.TB, user, password, db string) *sql.DB {
	t.Helper()
	d, err := sql.Open("mysql", mariaDSN(mariaAdmin, user, password, db))
	if err != nil {
		t.Fatal(err)
	}
	d.SetMaxOpenConns(1) // session settings stick
	t.Cleanup(func() { d.Close() })
	if err := d.PingContext(testCtx(t)); err != nil {
		t.Fatalf("connect to %s as %s: %v", db, user, err)
	}
	return d
}

func mariaAsAdmin(t testing.TB, db string) *sql.DB {
	return mariaConnect(t, mariaAdmin.User, mariaAdmin.Password, db)
}

// newStore returns a snapstore.Local in a temporary directory.
func newStore(t testing.TB) *snapstore.Local {
	t.Helper()
	s, err := snapstore.NewLocal(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// snapKey names a snapshot as Cellar would.
func snapKey(tn tenant) string {
	ext := ".dump"
	if tn.engine == cellar.MariaDB {
		ext = ".sql.gz"
	}
	return "cust/" + tn.db + "/snap_" + time.Now().UTC().Format("20060102_150405") + "_" + uniq() + ext
}

// dumpToStore dumps the tenant's database into a new object, commits it and
// returns its key, size and checksum.
func dumpToStore(t testing.TB, tools Tools, s snapstore.Store, tn tenant, progress func(int64)) (string, int64, string) {
	t.Helper()
	ctx := testCtx(t)
	key := snapKey(tn)
	w, err := s.Create(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := tools.Dump(ctx, tn.engine, admin(t, tn.engine), tn.db, w, progress); err != nil {
		w.Abort()
		t.Fatalf("Dump %s: %v", tn.db, err)
	}
	n, sum, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return key, n, sum
}

// dumpBytes dumps the tenant's database into memory (small test databases).
func dumpBytes(t testing.TB, tn tenant) []byte {
	t.Helper()
	var buf strings.Builder
	if err := (Tools{}).Dump(testCtx(t), tn.engine, admin(t, tn.engine), tn.db, &buf, nil); err != nil {
		t.Fatalf("Dump %s: %v", tn.db, err)
	}
	return []byte(buf.String())
}

// openDriver connects to the test server of the engine with its driver.
func openDriver(ctx context.Context, engine cellar.Engine, dsn string) (provision.Driver, error) {
	if engine == cellar.MariaDB {
		d, err := mariadb.Open(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	d, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return d, nil
}
