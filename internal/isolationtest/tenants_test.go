package isolationtest

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellar/cellar/internal/testenv"
)

// tenant is a customer's database made through the API, with the
// credentials the API returned for it.
type tenant struct {
	Engine   string
	Customer *testenv.Client
	DB       string
	User     string
	Password string
	Host     string
	Port     int
	// ConnString is the connection string exactly as returned.
	ConnString string
}

// newTenant makes a fresh customer and one database of engine for it.
func newTenant(t *testing.T, e *testenv.Env, engine string) *tenant {
	t.Helper()
	c := e.NewCustomer(t)
	var out struct {
		DBName           string `json:"db_name"`
		Username         string `json:"username"`
		Password         string `json:"password"`
		Host             string `json:"host"`
		Port             int    `json:"port"`
		ConnectionString string `json:"connection_string"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "app"}).Decode(t, &out)
	if out.Password == "" || out.DBName == "" {
		t.Fatalf("create answered without credentials: %+v", out)
	}
	return &tenant{Engine: engine, Customer: c, DB: out.DBName, User: out.Username, Password: out.Password,
		Host: out.Host, Port: out.Port, ConnString: out.ConnectionString}
}

// ---- PostgreSQL ----

// pgURL is the tenant's connection string aimed at database db.
func (tn *tenant) pgURL(t *testing.T, db string) string {
	t.Helper()
	u, err := url.Parse(tn.ConnString)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	q := u.Query()
	q.Set("connect_timeout", "10")
	u.RawQuery = q.Encode()
	return u.String()
}

// pg logs in as the tenant to its own database.
func (tn *tenant) pg(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), tn.pgURL(t, tn.DB))
	if err != nil {
		t.Fatalf("tenant %s cannot log in to its own database: %v", tn.User, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// pgAdminIn opens an admin connection to database db (the tenant's, to
// look at what the tenant made there).
func pgAdminIn(t *testing.T, e *testenv.Env, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), e.Services.PG.DSN(db))
	if err != nil {
		t.Fatalf("admin connect to %s: %v", db, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// pgInsufficientPrivilege is the SQLSTATE of a refused privilege check.
const pgInsufficientPrivilege = "42501"

// refusedPG fails the test unless err is a server refusal with one of the
// SQLSTATEs in codes (42501 if none is given): an attempt that fails for
// another reason (a typo, a missing object) proves nothing.
func refusedPG(t *testing.T, what string, err error, codes ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("HOLE: %s succeeded for a tenant", what)
	}
	if len(codes) == 0 {
		codes = []string{pgInsufficientPrivilege}
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: failed without a server error: %v", what, err)
	}
	for _, c := range codes {
		if pe.Code == c {
			t.Logf("%s: refused: %s (SQLSTATE %s)", what, pe.Message, pe.Code)
			return
		}
	}
	t.Fatalf("%s: failed with SQLSTATE %s (%s), want one of %v", what, pe.Code, pe.Message, codes)
}

// execPG runs sql as the tenant and returns the error.
func execPG(conn *pgx.Conn, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := conn.Exec(ctx, sql, args...)
	return err
}

// queryPG runs a query as the tenant, reads every row and returns the
// error, so that a refusal raised while rows are produced is seen.
func queryPG(conn *pgx.Conn, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
}

// pgScalar reads one value as the admin (or anyone) and fails on error.
func pgScalar[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// roleAttrs is what the admin sees of a role: the attributes that matter
// and the roles it is a member of.
type roleAttrs struct {
	Super, CreateRole, CreateDB, Replication, BypassRLS bool
	MemberOf                                            string
}

func pgRoleAttrs(t *testing.T, e *testenv.Env, role string) roleAttrs {
	t.Helper()
	var a roleAttrs
	err := e.PG(t).QueryRow(context.Background(), `
		SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
			COALESCE((SELECT string_agg(m.roleid::regrole::text, ',' ORDER BY 1)
				FROM pg_auth_members m WHERE m.member = r.oid), '')
		FROM pg_roles r WHERE rolname = $1`, role).
		Scan(&a.Super, &a.CreateRole, &a.CreateDB, &a.Replication, &a.BypassRLS, &a.MemberOf)
	if err != nil {
		t.Fatalf("read role %s: %v", role, err)
	}
	return a
}

// expectPlainRole fails the test unless role has none of the privileged
// attributes and belongs to no role.
func expectPlainRole(t *testing.T, e *testenv.Env, role string) {
	t.Helper()
	if a := pgRoleAttrs(t, e, role); a != (roleAttrs{}) {
		t.Fatalf("HOLE: role %s now has %+v", role, a)
	}
}

// ---- MariaDB ----

// mariaDSN is the tenant's go-sql-driver DSN for database db ("" for none).
func (tn *tenant) mariaDSN(db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.DBName = tn.User, tn.Password, "tcp", db
	cfg.Addr = tn.Host + ":" + strconv.Itoa(tn.Port)
	cfg.Timeout = 10 * time.Second
	return cfg.FormatDSN()
}

// my logs in as the tenant to its own database, on one session.
func (tn *tenant) my(t *testing.T) *sql.Conn {
	t.Helper()
	db, err := sql.Open("mysql", tn.mariaDSN(tn.DB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatalf("tenant %s cannot log in to its own database: %v", tn.User, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// mariaDenied are the MariaDB errors of a refused privilege check.
var mariaDenied = map[uint16]string{
	1044: "ER_DBACCESS_DENIED_ERROR",
	1045: "ER_ACCESS_DENIED_ERROR",
	1095: "ER_KILL_DENIED_ERROR",
	1142: "ER_TABLEACCESS_DENIED_ERROR",
	1143: "ER_COLUMNACCESS_DENIED_ERROR",
	1227: "ER_SPECIFIC_ACCESS_DENIED_ERROR",
	1370: "ER_PROCACCESS_DENIED_ERROR",
	1410: "ER_CANT_CREATE_USER_WITH_GRANT",
	1698: "ER_ACCESS_DENIED_NO_PASSWORD_ERROR",
}

// refusedMy fails the test unless err is a MariaDB privilege refusal.
func refusedMy(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("HOLE: %s succeeded for a tenant", what)
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("%s: failed without a server error: %v", what, err)
	}
	if name, ok := mariaDenied[me.Number]; ok {
		t.Logf("%s: refused: %s (%d %s)", what, me.Message, me.Number, name)
		return
	}
	t.Fatalf("%s: failed with error %d (%s), not a privilege refusal", what, me.Number, me.Message)
}

// execMy runs a statement on the tenant's session.
func execMy(conn *sql.Conn, stmt string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := conn.ExecContext(ctx, stmt, args...)
	return err
}

// queryMy runs a query on the tenant's session and reads every row.
func queryMy(conn *sql.Conn, stmt string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := conn.QueryContext(ctx, stmt, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
}

// myScalar reads one value.
func myScalar[T any](t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, stmt string, args ...any) T {
	t.Helper()
	var v T
	if err := q.QueryRowContext(context.Background(), stmt, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return v
}

// myGrants returns the grants of every account of user, as the admin sees
// them, one per line.
func myGrants(t *testing.T, e *testenv.Env, user string) string {
	t.Helper()
	admin := e.MariaDB(t)
	rows, err := admin.QueryContext(context.Background(), "SELECT Host FROM mysql.user WHERE User = ? ORDER BY Host", user)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	rows.Close()
	var out []string
	for _, h := range hosts {
		rows, err := admin.QueryContext(context.Background(), "SHOW GRANTS FOR "+quoteMy(user)+"@"+quoteMy(h))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var g string
			if err := rows.Scan(&g); err != nil {
				t.Fatal(err)
			}
			out = append(out, g)
		}
		rows.Close()
	}
	return strings.Join(out, "\n")
}

// expectOnlyOwnGrants fails unless the tenant's grants are exactly USAGE
// on *.* (with its password) and ALL PRIVILEGES on its own database,
// without GRANT OPTION.
func expectOnlyOwnGrants(t *testing.T, e *testenv.Env, tn *tenant) {
	t.Helper()
	g := myGrants(t, e, tn.User)
	for _, line := range strings.Split(g, "\n") {
		switch {
		case strings.HasPrefix(line, "GRANT USAGE ON *.* TO "):
		case strings.HasPrefix(line, "GRANT ALL PRIVILEGES ON `"+strings.ReplaceAll(tn.DB, "_", `\_`)+"`.* TO "):
		default:
			t.Fatalf("HOLE: tenant %s holds grant %q", tn.User, line)
		}
		if strings.Contains(line, "WITH GRANT OPTION") {
			t.Fatalf("HOLE: tenant %s holds grant %q", tn.User, line)
		}
	}
}

func quoteMy(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// connectOnly opens a bare protocol connection (no queries at start, so a
// replication connection works) and closes it; it returns the error.
func connectOnly(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
