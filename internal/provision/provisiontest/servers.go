// Package provisiontest holds what the engine drivers' tests share: their
// private servers (from the shared harness, with every statement logged so
// that the tests can check no secret reaches a server log), and checks
// every driver must pass. It is imported by tests only.
package provisiontest

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/harness"
)

// Servers are the addresses of the private servers Run started; an
// engine's fields are zero when its server was not asked for (or under
// -short), and its tests skip.
type Servers struct {
	PGAdminDSN     string
	PGPort         int
	PGLogPath      string // server log, with log_statement = all
	MariaAdminDSN  string
	MariaAdminUser string
	MariaPort      int
	MariaLogPath   string // general query log
}

// Run is a test package's TestMain body: it starts a private server of each
// of engines (none under -short), hands their addresses to ready, runs the
// tests and stops the servers, removing their directory if the tests
// passed.
func Run(m *testing.M, ready func(Servers), engines ...cellar.Engine) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	// Tests kill tenant sessions on purpose; go-sql-driver would log an
	// "unexpected EOF" for each.
	_ = mysql.SetLogger(&mysql.NopLogger{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "cellar-provision-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var s Servers
	var stops []func()
	// Stop the servers before their directory goes.
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for _, engine := range engines {
		switch engine {
		case cellar.PostgreSQL:
			s.PGLogPath = filepath.Join(dir, "postgres.log")
			pg, err := harness.StartPostgres(ctx, harness.PostgresOptions{
				Name: "provision-pg", DataDir: filepath.Join(dir, "pg"), LogPath: s.PGLogPath, RestrictDefaultDatabases: true,
			})
			if err != nil {
				fmt.Fprintln(os.Stderr, "start test postgresql:", err)
				return 1
			}
			stops = append(stops, func() { pg.Stop(context.Background()) })
			if err := logEveryPGStatement(ctx, pg); err != nil {
				fmt.Fprintln(os.Stderr, "turn on statement logging:", err)
				return 1
			}
			s.PGAdminDSN, s.PGPort = pg.DSN("postgres"), pg.Port
		case cellar.MariaDB:
			maria, err := harness.StartMariaDB(ctx, harness.MariaDBOptions{Dir: filepath.Join(dir, "mariadb"), LogPath: filepath.Join(dir, "mariadb.log")})
			if err != nil {
				fmt.Fprintln(os.Stderr, "start test mariadb:", err)
				return 1
			}
			stops = append(stops, func() { maria.Stop(context.Background()) })
			s.MariaLogPath = filepath.Join(maria.DataDir, "general.log")
			if err := logEveryMariaStatement(ctx, maria, s.MariaLogPath); err != nil {
				fmt.Fprintln(os.Stderr, "turn on statement logging:", err)
				return 1
			}
			s.MariaAdminDSN, s.MariaAdminUser, s.MariaPort = maria.DSN(""), maria.User, maria.Port
		default:
			fmt.Fprintln(os.Stderr, "no test server for engine", engine)
			return 1
		}
	}
	ready(s)
	code := m.Run()
	for _, stop := range stops {
		stop()
	}
	stops = nil
	if code == 0 {
		os.RemoveAll(dir)
	}
	return code
}

// logEveryPGStatement makes the server log every statement, the worst
// case for a secret sent in a statement.
func logEveryPGStatement(ctx context.Context, pg *harness.Postgres) error {
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"ALTER SYSTEM SET log_statement = 'all'",
		"ALTER SYSTEM SET log_min_error_statement = 'error'",
		"ALTER SYSTEM SET log_connections = on",
		"SELECT pg_reload_conf()",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// logEveryMariaStatement turns on the general query log, into logPath.
func logEveryMariaStatement(ctx context.Context, maria *harness.MariaDB, logPath string) error {
	db, err := sql.Open("mysql", maria.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, stmt := range []string{
		"SET GLOBAL general_log_file = '" + logPath + "'",
		"SET GLOBAL general_log = 1",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// MariaDSN builds a go-sql-driver DSN for a test MariaDB over TCP.
func MariaDSN(port int, user, password, db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.DBName = user, password, "tcp", db
	cfg.Addr = "127.0.0.1:" + strconv.Itoa(port)
	cfg.Timeout = 5 * time.Second
	return cfg.FormatDSN()
}

// PGDSN builds a pgx DSN for a test PostgreSQL.
func PGDSN(port int, user, password, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: "127.0.0.1:" + strconv.Itoa(port), Path: "/" + db, RawQuery: "sslmode=disable&connect_timeout=5"}
	return u.String()
}
