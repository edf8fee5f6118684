package harness

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// vaultBinary finds a vault binary: $CELLAR_VAULT_BIN, then PATH, then
// where the dev machine's setup builds it.
func vaultBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CELLAR_VAULT_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("vault"); err == nil {
		return p
	}
	if _, err := os.Stat("/tmp/setup/vault"); err == nil {
		return "/tmp/setup/vault"
	}
	t.Skip("no vault binary: set CELLAR_VAULT_BIN, put vault on PATH or build it to /tmp/setup/vault")
	return ""
}

// requireDatabases skips when the PostgreSQL or MariaDB binaries are
// missing.
func requireDatabases(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real servers (run without -short)")
	}
	if _, err := os.Stat(filepath.Join(defaultPGBinDir(), "postgres")); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
	if _, err := os.Stat(lookPathOr("mariadbd", "/usr/sbin/mariadbd")); err != nil {
		t.Skipf("no MariaDB server binary: %v", err)
	}
}

// newRoot makes a root directory the service users can traverse (unlike
// t.TempDir(), which is 0700) and removes it at the end of the test.
func newRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cellar-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs after the Stop cleanups.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keeping %s for inspection", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func startServices(t *testing.T, dir string, durable bool) *Services {
	t.Helper()
	began := time.Now()
	s, err := Start(t.Context(), Options{
		Dir:      dir,
		Durable:  durable,
		VaultBin: vaultBinary(t),
		Logger:   testLogger(t),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start (durable=%t) took %s", durable, time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() { stopServices(t, s) })
	return s
}

// stopServices stops s and checks that no process of any server's group
// is left.
func stopServices(t *testing.T, s *Services) {
	t.Helper()
	var procs []*process
	for _, p := range []*process{procOf(s.Metadata), procOf(s.PG), procOf(s.MariaDB), procOf(s.Vault)} {
		if p != nil {
			procs = append(procs, p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	if err := s.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	t.Logf("Stop took %s", time.Since(began).Round(time.Millisecond))
	for _, p := range procs {
		// The group id is the leader's pid; no member may survive.
		if err := syscall.Kill(-p.pid(), 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s: process group %d still has processes after Stop (kill: %v)", p.name, p.pid(), err)
		}
	}
}

func procOf(x any) *process {
	switch v := x.(type) {
	case *Postgres:
		if v != nil {
			return v.proc
		}
	case *MariaDB:
		if v != nil {
			return v.proc
		}
	case *Vault:
		if v != nil {
			return v.proc
		}
	}
	return nil
}

func pgConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgx connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func checkPostgres(t *testing.T, pg *Postgres, database string) *pgx.Conn {
	t.Helper()
	conn := pgConnect(t, pg.DSN(database))
	var got string
	if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != database {
		t.Fatalf("connected to %q, want %q", got, database)
	}
	if !strings.HasPrefix(pg.Version, "1") || strings.Contains(pg.Version, " ") {
		t.Errorf("Version = %q, want something like 15.14", pg.Version)
	}
	var maxConns string
	if err := conn.QueryRow(t.Context(), "SHOW max_connections").Scan(&maxConns); err != nil || maxConns != "300" {
		t.Errorf("max_connections = %q, %v; want 300", maxConns, err)
	}
	return conn
}

// checkTenantsCannotRoam checks that an ordinary role cannot connect to the
// managed server's "postgres" database.
func checkTenantsCannotRoam(t *testing.T, pg *Postgres) {
	t.Helper()
	admin := pgConnect(t, pg.DSN("postgres"))
	ctx := t.Context()
	if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS harness_probe"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE ROLE harness_probe LOGIN PASSWORD 'probe'"); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(context.Background(), "DROP ROLE IF EXISTS harness_probe")
	dsn := "postgres://harness_probe:probe@127.0.0.1:" + strconv.Itoa(pg.Port) + "/postgres?sslmode=disable"
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		conn.Close(ctx)
		t.Fatal("an ordinary role could connect to the managed server's postgres database")
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Fatalf("want insufficient_privilege (42501), got %v", err)
	}
}

func checkMariaDB(t *testing.T, m *MariaDB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		t.Fatalf("SELECT VERSION(): %v", err)
	}
	if !strings.HasPrefix(v, m.Version) {
		t.Errorf("VERSION() = %q, Version = %q", v, m.Version)
	}
	var n int
	if err := db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM mysql.user WHERE User = '' OR (User = 'root' AND Host <> 'localhost')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d anonymous or non-local root accounts left", n)
	}
	var grants string
	if err := db.QueryRowContext(ctx, "SHOW GRANTS").Scan(&grants); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(grants, "ALL PRIVILEGES ON *.*") || !strings.Contains(grants, "WITH GRANT OPTION") {
		t.Errorf("admin grants: %s", grants)
	}
	var maxConns int
	if err := db.QueryRowContext(ctx, "SELECT @@max_connections").Scan(&maxConns); err != nil || maxConns != 500 {
		t.Errorf("max_connections = %d, %v; want 500", maxConns, err)
	}
	return db
}

func vaultClient(t *testing.T, v *Vault) *vault.Client {
	t.Helper()
	c, err := newVaultClient(v.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(v.Token)
	return c
}

func checkVaultRoundTrip(t *testing.T, v *Vault, path, value string) {
	t.Helper()
	kv := vaultClient(t, v).KVv2(kvMount)
	if _, err := kv.Put(t.Context(), path, map[string]any{"password": value}); err != nil {
		t.Fatalf("kv put: %v", err)
	}
	checkVaultSecret(t, v, path, value)
}

func checkVaultSecret(t *testing.T, v *Vault, path, want string) {
	t.Helper()
	s, err := vaultClient(t, v).KVv2(kvMount).Get(t.Context(), path)
	if err != nil {
		t.Fatalf("kv get %s: %v", path, err)
	}
	if got := s.Data["password"]; got != want {
		t.Fatalf("kv get %s: password = %v, want %q", path, got, want)
	}
}

func TestStartStopRestart(t *testing.T) {
	requireDatabases(t)
	dir := newRoot(t)

	s1 := startServices(t, dir, false)
	checkPostgres(t, s1.Metadata, MetadataDatabase)
	checkPostgres(t, s1.PG, "postgres")
	checkTenantsCannotRoam(t, s1.PG)
	checkMariaDB(t, s1.MariaDB)
	checkVaultRoundTrip(t, s1.Vault, "harness/one", "first")
	t.Logf("metadata-pg %s on %d, managed-pg on %d, mariadb %s on %d, vault at %s",
		s1.Metadata.Version, s1.Metadata.Port, s1.PG.Port, s1.MariaDB.Version, s1.MariaDB.Port, s1.Vault.Addr)

	if fi, err := os.Stat(filepath.Join(dir, stateFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, %v; want mode 0600", fi, err)
	}
	stopServices(t, s1)
	// A second Stop is harmless.
	if err := s1.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	s2 := startServices(t, dir, false)
	if s2.Metadata.Port != s1.Metadata.Port || s2.PG.Port != s1.PG.Port ||
		s2.MariaDB.Port != s1.MariaDB.Port || s2.Vault.Addr != s1.Vault.Addr {
		t.Errorf("ports changed across restart: %d %d %d %s -> %d %d %d %s",
			s1.Metadata.Port, s1.PG.Port, s1.MariaDB.Port, s1.Vault.Addr,
			s2.Metadata.Port, s2.PG.Port, s2.MariaDB.Port, s2.Vault.Addr)
	}
	// The old DSNs and token must still work.
	checkPostgres(t, s1.Metadata, MetadataDatabase)
	checkPostgres(t, s1.PG, "postgres")
	checkTenantsCannotRoam(t, s1.PG)
	checkMariaDB(t, s1.MariaDB)
	checkVaultRoundTrip(t, s1.Vault, "harness/two", "second")
	if s2.Metadata.Password != s1.Metadata.Password || s2.MariaDB.Password != s1.MariaDB.Password || s2.Vault.Token != s1.Vault.Token {
		t.Error("credentials changed across restart")
	}
}

func TestDurableRestartKeepsData(t *testing.T) {
	requireDatabases(t)
	dir := newRoot(t)

	s1 := startServices(t, dir, true)
	checkVaultRoundTrip(t, s1.Vault, "harness/durable", "kept")
	pg := checkPostgres(t, s1.PG, "postgres")
	if _, err := pg.Exec(t.Context(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('pg')"); err != nil {
		t.Fatal(err)
	}
	my := checkMariaDB(t, s1.MariaDB)
	for _, q := range []string{"CREATE DATABASE kept", "CREATE TABLE kept.kept (v text)", "INSERT INTO kept.kept VALUES ('maria')"} {
		if _, err := my.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pg.Close(t.Context())
	my.Close()
	stopServices(t, s1)

	s2 := startServices(t, dir, true)
	if s2.Vault.Token != s1.Vault.Token {
		t.Error("root token changed across restart")
	}
	checkVaultSecret(t, s2.Vault, "harness/durable", "kept")
	var v string
	if err := checkPostgres(t, s2.PG, "postgres").QueryRow(t.Context(), "SELECT v FROM kept").Scan(&v); err != nil || v != "pg" {
		t.Errorf("postgres row after restart: %q, %v", v, err)
	}
	if err := checkMariaDB(t, s2.MariaDB).QueryRowContext(t.Context(), "SELECT v FROM kept.kept").Scan(&v); err != nil || v != "maria" {
		t.Errorf("mariadb row after restart: %q, %v", v, err)
	}
}

// TestSingleServers starts PostgreSQL and MariaDB on their own, as tests of
// other packages may, and restarts them on the same directories. It needs
// no vault binary.
func TestSingleServers(t *testing.T) {
	requireDatabases(t)
	dir := newRoot(t)
	ctx := t.Context()
	pgOpts := PostgresOptions{DataDir: filepath.Join(dir, "pg"), Databases: []string{"app"}, Logger: testLogger(t)}
	myOpts := MariaDBOptions{Dir: filepath.Join(dir, "my"), Logger: testLogger(t)}

	began := time.Now()
	pg, err := StartPostgres(ctx, pgOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartPostgres (fresh) took %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() { pg.Stop(context.Background()) })
	checkPostgres(t, pg, "app")

	began = time.Now()
	my, err := StartMariaDB(ctx, myOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartMariaDB (fresh) took %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() { my.Stop(context.Background()) })
	checkMariaDB(t, my)

	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := my.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Restart on the same port with the same password: no initdb, and the
	// database created the first time is still there.
	pgOpts.Port, pgOpts.Password = pg.Port, pg.Password
	began = time.Now()
	pg2, err := StartPostgres(ctx, pgOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartPostgres (existing) took %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() { pg2.Stop(context.Background()) })
	checkPostgres(t, pg2, "app")

	myOpts.Port, myOpts.Password = my.Port, my.Password
	began = time.Now()
	my2, err := StartMariaDB(ctx, myOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartMariaDB (existing) took %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() { my2.Stop(context.Background()) })
	checkMariaDB(t, my2)

	// An existing cluster with a wrong password is a clear, quick error.
	if err := pg2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	pgOpts.Password = "wrong"
	_, err = StartPostgres(ctx, pgOpts)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("StartPostgres with a wrong password: %v", err)
	}
	if err := my2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	myOpts.Password = "wrong"
	_, err = StartMariaDB(ctx, myOpts)
	if err == nil || !strings.Contains(err.Error(), "admin password") {
		t.Errorf("StartMariaDB with a wrong password: %v", err)
	}
}

func TestRememberedPortBusy(t *testing.T) {
	requireDatabases(t)
	defer func(g time.Duration) { portGrace = g }(portGrace)
	portGrace = 200 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	dir := newRoot(t)
	_, err = StartPostgres(t.Context(), PostgresOptions{DataDir: filepath.Join(dir, "pg"), Port: port})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("StartPostgres on a busy remembered port: %v", err)
	}
	_, err = StartMariaDB(t.Context(), MariaDBOptions{Dir: filepath.Join(dir, "my"), Port: port})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("StartMariaDB on a busy remembered port: %v", err)
	}
}

func TestNotTraversableDir(t *testing.T) {
	requireDatabases(t)
	if os.Geteuid() != 0 {
		t.Skip("the servers run as the current user; traversal is only checked when running as root")
	}
	dir := t.TempDir() // mode 0700, owned by root
	_, err := StartPostgres(t.Context(), PostgresOptions{DataDir: filepath.Join(dir, "pg")})
	if err == nil || !strings.Contains(err.Error(), "not traversable") {
		t.Errorf("StartPostgres under a 0700 directory: %v", err)
	}
	_, err = StartMariaDB(t.Context(), MariaDBOptions{Dir: filepath.Join(dir, "my")})
	if err == nil || !strings.Contains(err.Error(), "not traversable") {
		t.Errorf("StartMariaDB under a 0700 directory: %v", err)
	}
}
