package provision

// Private PostgreSQL and MariaDB servers for this package's integration
// tests, from the shared harness, with every statement logged so that the
// tests can check no secret reaches a server log.

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

	"github.com/cellar/cellar/internal/harness"
)

// Set by TestMain when the servers are up; "" means the engine's tests skip.
var (
	pgAdminDSN     string
	pgPort         int
	pgLogPath      string // server log, with log_statement = all
	mariaAdminDSN  string
	mariaAdminUser string
	mariaPort      int
	mariaLogPath   string // general query log
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
	pgLogPath = filepath.Join(dir, "postgres.log")
	pg, err := harness.StartPostgres(ctx, harness.PostgresOptions{
		Name: "provision-pg", DataDir: filepath.Join(dir, "pg"), LogPath: pgLogPath, RestrictDefaultDatabases: true,
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
	// Stop the servers before their directory goes (deferred calls run last first).
	defer maria.Stop(context.Background())
	defer pg.Stop(context.Background())

	mariaLogPath = filepath.Join(maria.DataDir, "general.log")
	if err := logEverything(ctx, pg, maria); err != nil {
		fmt.Fprintln(os.Stderr, "turn on statement logging:", err)
		return 1
	}
	pgAdminDSN, pgPort = pg.DSN("postgres"), pg.Port
	mariaAdminDSN, mariaAdminUser, mariaPort = maria.DSN(""), maria.User, maria.Port
	code := m.Run()
	pg.Stop(context.Background())
	maria.Stop(context.Background())
	if code == 0 {
		os.RemoveAll(dir)
	}
	return code
}

// logEverything makes both servers log every statement, the worst case for
// a secret sent in a statement.
func logEverything(ctx context.Context, pg *harness.Postgres, maria *harness.MariaDB) error {
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
	db, err := sql.Open("mysql", maria.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, stmt := range []string{
		"SET GLOBAL general_log_file = '" + mariaLogPath + "'",
		"SET GLOBAL general_log = 1",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
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
