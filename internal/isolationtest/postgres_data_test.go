package isolationtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// These tests try to reach other tenants' data and sessions, and the
// server's shared databases and catalogs.

func TestTenant_PostgreSQL_CannotConnectToAnotherTenantsDatabase(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "postgresql"), newTenant(t, e, "postgresql")
	if err := execPG(b.pg(t), "CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('b-private')"); err != nil {
		t.Fatal(err)
	}
	// A's own credentials, aimed at B's database.
	conn, err := pgx.Connect(context.Background(), a.pgURL(t, b.DB))
	if err == nil {
		var v string
		_ = conn.QueryRow(context.Background(), "SELECT v FROM secrets").Scan(&v)
		conn.Close(context.Background())
		t.Fatalf("HOLE: tenant A connected to tenant B's database (read %q)", v)
	}
	refusedPG(t, "connect to another tenant's database", err)
	// Nor does A's database name with B's role name get A anywhere: A has
	// no password for B, so only A's own login is tried above.
	if n := pgScalar[int64](t, pgAdminIn(t, e, b.DB), "SELECT count(*) FROM secrets"); n != 1 {
		t.Fatalf("B's table has %d rows, want 1", n)
	}
}

// A tenant that can connect to template1 blocks every CREATE DATABASE on
// the server ("source database is being accessed by other users"), and in
// "postgres" it can keep temporary tables outside its quota. A stock server
// lets PUBLIC connect to both.
func TestTenant_PostgreSQL_CannotConnectToSharedDatabases(t *testing.T) {
	e := need(t)
	t.Parallel()
	a := newTenant(t, e, "postgresql")
	for _, db := range []string{"postgres", "template1"} {
		t.Run(db, func(t *testing.T) {
			conn, err := pgx.Connect(context.Background(), a.pgURL(t, db))
			if err == nil {
				conn.Close(context.Background())
				t.Fatalf("HOLE: a tenant connected to the shared database %q", db)
			}
			refusedPG(t, "connect to "+db, err)
			// Checked as the admin: no PUBLIC grant of CONNECT or TEMPORARY is left.
			if n := pgScalar[int64](t, e.PG(t), `
				SELECT count(*) FROM pg_database d, aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) x
				WHERE d.datname = $1 AND x.grantee = 0`, db); n != 0 {
				t.Fatalf("HOLE: PUBLIC still holds %d privileges on %s", n, db)
			}
		})
	}
}

func TestTenant_PostgreSQL_CannotReadPasswordCatalogs(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "postgresql").pg(t)
	for _, q := range []string{
		"SELECT rolname, rolpassword FROM pg_authid",
		"SELECT usename, passwd FROM pg_shadow",
		"SELECT * FROM pg_user_mapping",
	} {
		t.Run(strings.Fields(q)[len(strings.Fields(q))-1], func(t *testing.T) {
			refusedPG(t, q, queryPG(conn, q))
		})
	}
	// pg_roles is readable but masks the password.
	if n := pgScalar[int64](t, conn, "SELECT count(*) FROM pg_roles WHERE rolpassword IS DISTINCT FROM '********'"); n != 0 {
		t.Fatalf("HOLE: pg_roles shows %d password hashes", n)
	}
}

func TestTenant_PostgreSQL_CannotSeeOtherTenantsQueries(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "postgresql"), newTenant(t, e, "postgresql")
	bconn := b.pg(t)
	const marker = "b-secret-query-7f3a"
	// B's session stays open with the marker as its last query.
	if err := queryPG(bconn, "SELECT '"+marker+"'"); err != nil {
		t.Fatal(err)
	}
	conn := a.pg(t)
	var visible int64
	if err := conn.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%'||$1||'%' AND pid <> pg_backend_pid()", marker).Scan(&visible); err != nil {
		t.Fatal(err)
	}
	if visible != 0 {
		t.Fatalf("HOLE: tenant A reads tenant B's query text in pg_stat_activity")
	}
	// The row is there (pids are public), its text is not.
	if q := pgScalar[string](t, conn, "SELECT COALESCE(query, '') FROM pg_stat_activity WHERE usename = $1 LIMIT 1", b.User); q != "<insufficient privilege>" {
		t.Fatalf("A sees B's session query as %q, want <insufficient privilege>", q)
	}
	// Checked as the admin: the marker really is B's last query.
	if n := pgScalar[int64](t, e.PG(t), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND query LIKE '%'||$2||'%'", b.User, marker); n != 1 {
		t.Fatalf("admin sees %d sessions of B with the marker, want 1", n)
	}
}

func TestTenant_PostgreSQL_CannotTerminateOtherTenantsSessions(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "postgresql"), newTenant(t, e, "postgresql")
	bconn := b.pg(t)
	bpid := bconn.PgConn().PID()
	conn := a.pg(t)
	for _, fn := range []string{"pg_terminate_backend", "pg_cancel_backend"} {
		t.Run(fn, func(t *testing.T) {
			refusedPG(t, fn+" of another tenant's session", queryPG(conn, "SELECT "+fn+"($1)", int32(bpid)))
		})
	}
	// The admin's session too.
	admin := e.PG(t)
	refusedPG(t, "pg_terminate_backend of the admin's session",
		queryPG(conn, "SELECT pg_terminate_backend($1)", int32(admin.PgConn().PID())))
	// B's session is alive.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bconn.Ping(ctx); err != nil {
		t.Fatalf("HOLE: B's session died: %v", err)
	}
}

func TestTenant_PostgreSQL_CannotCreateOrRenameDatabases(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "postgresql"), newTenant(t, e, "postgresql")
	conn := a.pg(t)
	name := a.DB + "_x"
	refusedPG(t, "CREATE DATABASE", execPG(conn, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()))
	refusedPG(t, "ALTER DATABASE own RENAME", execPG(conn, "ALTER DATABASE "+pgx.Identifier{a.DB}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()))
	refusedPG(t, "ALTER DATABASE own OWNER TO another tenant",
		execPG(conn, "ALTER DATABASE "+pgx.Identifier{a.DB}.Sanitize()+" OWNER TO "+pgx.Identifier{b.User}.Sanitize()))
	admin := e.PG(t)
	if n := pgScalar[int64](t, admin, "SELECT count(*) FROM pg_database WHERE datname = $1", name); n != 0 {
		t.Fatalf("HOLE: database %s exists", name)
	}
	if o := pgScalar[string](t, admin, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", a.DB); o != a.User {
		t.Fatalf("HOLE: %s is owned by %s", a.DB, o)
	}
}

// Objects given to another role could be used to plant code that role
// runs; giving needs membership in the receiving role.
func TestTenant_PostgreSQL_CannotGiveObjectsToAnotherRole(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "postgresql"), newTenant(t, e, "postgresql")
	conn := a.pg(t)
	if err := execPG(conn, "CREATE TABLE gift (v int)"); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"ALTER TABLE gift OWNER TO " + pgx.Identifier{b.User}.Sanitize(),
		"ALTER TABLE gift OWNER TO postgres",
		"REASSIGN OWNED BY CURRENT_USER TO " + pgx.Identifier{b.User}.Sanitize(),
		"ALTER SCHEMA public OWNER TO " + pgx.Identifier{b.User}.Sanitize(),
	} {
		refusedPG(t, stmt, execPG(conn, stmt))
	}
	if o := pgScalar[string](t, pgAdminIn(t, e, a.DB), "SELECT tableowner FROM pg_tables WHERE tablename = 'gift'"); o != a.User {
		t.Fatalf("HOLE: gift is owned by %s", o)
	}
}

// A database's owner may mark it IS_TEMPLATE, and PostgreSQL refuses to
// drop a template: without care the database could no longer be deleted,
// and it would drop out of metrics and usage. Deletion through the API
// still works, and the tenant's data is gone afterwards.
func TestTenant_PostgreSQL_CannotMakeOwnDatabaseUndeletable(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	if err := execPG(conn, "ALTER DATABASE "+pgx.Identifier{tn.DB}.Sanitize()+" IS_TEMPLATE true"); err != nil {
		t.Fatalf("the owner may set IS_TEMPLATE (PostgreSQL allows it): %v", err)
	}
	tn.Customer.Expect(t, 200, "DELETE", "/v1/databases/postgresql/"+tn.DB, nil)
	if x := e.Inspect(t, "postgresql", tn.Customer.CustomerID, tn.DB); x.Database || x.User || x.Secret {
		t.Fatalf("HOLE: after delete: %+v", x)
	}
}

// Cellar serializes its PostgreSQL work with advisory locks taken in the
// admin's database. Advisory locks are per database, and tenants cannot
// connect to the admin's database, so a tenant taking the same keys in its
// own database stalls nothing.
func TestTenant_PostgreSQL_CannotHoldCellarsLocks(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "postgresql"), newTenant(t, e, "postgresql")
	conn := a.pg(t)
	for _, key := range []string{"cellar/provision/role/" + b.User, "cellar/provision/database/" + b.DB, "cellar/provision/pg_hba"} {
		if err := queryPG(conn, "SELECT pg_advisory_lock(hashtextextended($1, 0))", key); err != nil {
			t.Fatal(err)
		}
	}
	b.Customer.Expect(t, 200, "POST", "/v1/databases/postgresql/"+b.DB+"/credentials/rotate", nil)
	b.Customer.Expect(t, 200, "PATCH", "/v1/databases/postgresql/"+b.DB, map[string]any{"connection_limit": 20})
}
