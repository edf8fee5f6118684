package provision

// Minimal private database servers for this package's integration tests.
// Each test run starts its own PostgreSQL and MariaDB in a temporary
// directory on free loopback ports and stops them at the end; the host's own
// database services are never touched. This file is meant to be replaced by
// the shared internal/harness package later.

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

const (
	pgBinDir       = "/usr/lib/postgresql/15/bin"
	mariadbd       = "/usr/sbin/mariadbd"
	mariaInstallDB = "mariadb-install-db"

	testAdminPassword = "admin-test-password-7Qx"
	startTimeout      = 60 * time.Second
)

// Set by TestMain when the servers are up; "" means the engine's tests skip.
var (
	pgAdminDSN    string
	pgPort        int
	pgLogPath     string
	mariaAdminDSN string
	mariaPort     int
	mariaLogPath  string // general query log
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTestMain(m))
}

func runTestMain(m *testing.M) int {
	if testing.Short() {
		return m.Run()
	}
	// Tests kill tenant sessions on purpose; go-sql-driver would log an
	// "unexpected EOF" for each.
	_ = mysql.SetLogger(&mysql.NopLogger{})
	pg, err := startPostgres()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start test postgresql: %v\n", err)
		return 1
	}
	if pg != nil {
		defer pg.stop()
	}
	maria, err := startMariaDB()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start test mariadb: %v\n", err)
		return 1
	}
	if maria != nil {
		defer maria.stop()
	}
	return m.Run()
}

// testServer is a database server process started by this test binary.
type testServer struct {
	name     string
	dir      string
	cmd      *exec.Cmd
	waitErr  chan error
	stopSig  syscall.Signal
	logFiles []string
}

// stop asks the server to shut down, kills it if it does not within a few
// seconds, and removes its directory (kept if PROVISION_KEEP_TEST_DIRS is set).
func (s *testServer) stop() {
	_ = s.cmd.Process.Signal(s.stopSig)
	select {
	case <-s.waitErr:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.waitErr
	}
	if os.Getenv("PROVISION_KEEP_TEST_DIRS") != "" {
		fmt.Fprintf(os.Stderr, "keeping %s test dir %s\n", s.name, s.dir)
		return
	}
	_ = os.RemoveAll(s.dir)
}

// dumpLogs prints the server's logs to stderr, for startup failures.
func (s *testServer) dumpLogs() {
	for _, f := range s.logFiles {
		b, _ := os.ReadFile(f)
		fmt.Fprintf(os.Stderr, "---- %s ----\n%s\n", f, b)
	}
}

// credentialFor returns the credential to run a server as the given system
// user when the tests run as root (servers refuse to run as root), or nil to
// run as the current user.
func credentialFor(name string) (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Getuid(), os.Getgid(), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("look up system user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// mkdirOwned creates dir with mode 0700 owned by uid:gid.
func mkdirOwned(dir string, uid, gid int) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	return os.Chown(dir, uid, gid)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runAs runs a setup command to completion as cred, returning its output on
// failure.
func runAs(cred *syscall.Credential, dir string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}

// startServer starts a long-running server process as cred with its output
// in logPath. Pdeathsig makes the kernel signal the server if this test
// binary dies without running stop (Go sets it after switching user, so the
// credential change does not clear it).
func startServer(name, dir string, cred *syscall.Credential, deathSig, stopSig syscall.Signal, logPath string, bin string, args ...string) (*testServer, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: deathSig, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &testServer{name: name, dir: dir, cmd: cmd, waitErr: make(chan error, 1), stopSig: stopSig, logFiles: []string{logPath}}
	go func() { s.waitErr <- cmd.Wait() }()
	return s, nil
}

// waitReady polls try until it succeeds, the server exits, or startTimeout.
func (s *testServer) waitReady(try func(context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-s.waitErr:
			s.waitErr <- err // let stop() see it too
			return fmt.Errorf("%s exited during startup: %v", s.name, err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = try(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v", s.name, startTimeout, last)
}

// startPostgres initializes and starts a private PostgreSQL 15 with SCRAM
// authentication and log_statement = 'all' (so tests can check that no
// password verifier reaches the log). It returns nil, nil if PostgreSQL 15 is
// not installed.
func startPostgres() (*testServer, error) {
	if _, err := os.Stat(filepath.Join(pgBinDir, "initdb")); err != nil {
		fmt.Fprintln(os.Stderr, "PostgreSQL 15 not installed: skipping PostgreSQL integration tests")
		return nil, nil
	}
	cred, uid, gid, err := credentialFor("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "provision-pg-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := mkdirOwned(d, uid, gid); err != nil {
			return nil, err
		}
	}
	pwfile := filepath.Join(sock, "pwfile")
	if err := os.WriteFile(pwfile, []byte(testAdminPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.Chown(pwfile, uid, gid); err != nil {
		return nil, err
	}
	if err := runAs(cred, dir, filepath.Join(pgBinDir, "initdb"), "-D", data, "-U", "postgres",
		"--auth=scram-sha-256", "--pwfile="+pwfile, "--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, err
	}
	os.Remove(pwfile)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	s, err := startServer("postgresql", dir, cred, syscall.SIGQUIT, syscall.SIGINT, logPath,
		filepath.Join(pgBinDir, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB", "-c", "max_connections=60",
		"-c", "log_statement=all", "-c", "log_min_error_statement=error",
		"-c", "log_connections=on")
	if err != nil {
		return nil, err
	}
	dsn := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", testAdminPassword, port)
	if err := s.waitReady(func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	}); err != nil {
		s.dumpLogs()
		s.stop()
		return nil, err
	}
	ok = true
	pgAdminDSN, pgPort, pgLogPath = dsn, port, logPath
	return s, nil
}

// startMariaDB initializes and starts a private MariaDB with the general
// query log on (so tests can check that no password hash reaches it) and
// creates an admin user for 127.0.0.1 over the socket. It returns nil, nil if
// MariaDB is not installed.
func startMariaDB() (*testServer, error) {
	installDB, err := exec.LookPath(mariaInstallDB)
	if _, serr := os.Stat(mariadbd); err != nil || serr != nil {
		fmt.Fprintln(os.Stderr, "MariaDB not installed: skipping MariaDB integration tests")
		return nil, nil
	}
	cred, uid, gid, err := credentialFor("mysql")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "provision-maria-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	data, run := filepath.Join(dir, "data"), filepath.Join(dir, "run")
	for _, d := range []string{data, run} {
		if err := mkdirOwned(d, uid, gid); err != nil {
			return nil, err
		}
	}
	sysUser := "mysql"
	if cred == nil {
		u, _ := user.Current()
		sysUser = u.Username
	}
	// --no-defaults keeps the host's /etc/mysql configuration out.
	if err := runAs(nil, dir, installDB, "--no-defaults", "--user="+sysUser, "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db"); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(run, "sock")
	errLog := filepath.Join(dir, "mariadb.err")
	generalLog := filepath.Join(run, "general.log")
	// Started directly as the mysql user (not as root with --user, which
	// would make mariadbd switch user itself and so clear Pdeathsig).
	s, err := startServer("mariadb", dir, cred, syscall.SIGKILL, syscall.SIGTERM, filepath.Join(dir, "mariadb.out"),
		mariadbd, "--no-defaults", "--user="+sysUser, "--datadir="+data, "--port="+strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--socket="+sock, "--pid-file="+filepath.Join(run, "pid"),
		"--skip-log-bin", "--skip-name-resolve", "--log-error="+errLog,
		"--general-log=1", "--general-log-file="+generalLog,
		"--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0", "--max-connections=100")
	if err != nil {
		return nil, err
	}
	s.logFiles = append(s.logFiles, errLog)
	rootCfg := mysql.NewConfig()
	rootCfg.User, rootCfg.Net, rootCfg.Addr = "root", "unix", sock
	rootDSN := rootCfg.FormatDSN()
	if err := s.waitReady(func(ctx context.Context) error {
		db, err := sql.Open("mysql", rootDSN)
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	}); err != nil {
		s.dumpLogs()
		s.stop()
		return nil, err
	}
	db, err := sql.Open("mysql", rootDSN)
	if err != nil {
		s.stop()
		return nil, err
	}
	defer db.Close()
	for _, stmt := range []string{
		"CREATE USER 'admin'@'127.0.0.1' IDENTIFIED BY '" + testAdminPassword + "'",
		"GRANT ALL PRIVILEGES ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION",
	} {
		if _, err := db.Exec(stmt); err != nil {
			s.dumpLogs()
			s.stop()
			return nil, fmt.Errorf("%s: %w", strings.SplitN(stmt, " IDENTIFIED", 2)[0], err)
		}
	}
	ok = true
	mariaPort = port
	mariaAdminDSN = mariaDSN("admin", testAdminPassword, "")
	mariaLogPath = generalLog
	s.logFiles = append(s.logFiles, generalLog)
	return s, nil
}

// mariaDSN builds a go-sql-driver DSN for the test MariaDB over TCP.
func mariaDSN(user, password, db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.DBName = user, password, "tcp", db
	cfg.Addr = "127.0.0.1:" + strconv.Itoa(mariaPort)
	cfg.Timeout = 5 * time.Second
	return cfg.FormatDSN()
}

// pgDSN builds a pgx DSN for the test PostgreSQL.
func pgDSN(user, password, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: "127.0.0.1:" + strconv.Itoa(pgPort), Path: "/" + db, RawQuery: "sslmode=disable&connect_timeout=5"}
	return u.String()
}
