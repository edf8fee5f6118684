package isolationtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// These tests try to run code outside the SQL sandbox or change the
// server's configuration.

func TestTenant_PostgreSQL_CannotCreateUntrustedExtensions(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	admin := pgAdminIn(t, e, tn.DB)
	for _, ext := range []string{
		"adminpack",      // pg_file_write and friends: server files
		"file_fdw",       // foreign tables over server files and programs
		"dblink",         // connections from the server: other databases, the socket
		"postgres_fdw",   // the same as foreign tables
		"pageinspect",    // raw pages of any relation
		"pg_buffercache", // other databases' cached pages
		"pg_surgery",     // heap surgery
		"pg_stat_statements",
		"plpython3u", "plperlu", "pltclu",
	} {
		t.Run(ext, func(t *testing.T) {
			if pgScalar[int64](t, admin, "SELECT count(*) FROM pg_available_extensions WHERE name = $1", ext) == 0 {
				t.Skipf("%s is not installed on this server", ext)
			}
			refusedPG(t, "CREATE EXTENSION "+ext, execPG(conn, "CREATE EXTENSION "+pgx.Identifier{ext}.Sanitize()))
			if n := pgScalar[int64](t, admin, "SELECT count(*) FROM pg_extension WHERE extname = $1", ext); n != 0 {
				t.Fatalf("HOLE: extension %s exists in the tenant's database", ext)
			}
		})
	}
}

func TestTenant_PostgreSQL_CannotCreateLanguage(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	refusedPG(t, "CREATE LANGUAGE with a handler",
		execPG(conn, "CREATE TRUSTED LANGUAGE evil HANDLER plpgsql_call_handler"))
	if n := pgScalar[int64](t, pgAdminIn(t, e, tn.DB), "SELECT count(*) FROM pg_language WHERE lanname = 'evil'"); n != 0 {
		t.Fatal("HOLE: language evil exists")
	}
}

// C and internal functions are how a library (libc's system, say) is
// called from SQL; both languages are untrusted.
func TestTenant_PostgreSQL_CannotCreateCFunction(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	refusedPG(t, "CREATE FUNCTION LANGUAGE C",
		execPG(conn, "CREATE FUNCTION sys(cstring) RETURNS int AS 'libc.so.6', 'system' LANGUAGE C STRICT"))
	refusedPG(t, "CREATE FUNCTION LANGUAGE internal",
		execPG(conn, "CREATE FUNCTION rf(text) RETURNS text AS 'pg_read_file_off_len' LANGUAGE internal STRICT"))
	if n := pgScalar[int64](t, pgAdminIn(t, e, tn.DB), "SELECT count(*) FROM pg_proc WHERE proname IN ('sys', 'rf')"); n != 0 {
		t.Fatal("HOLE: a C or internal function exists")
	}
}

func TestTenant_PostgreSQL_CannotCreateEventTrigger(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	// The function is allowed; the trigger, which would run it in every
	// session of the database (the admin's too), is not.
	if err := execPG(conn, `CREATE FUNCTION trap() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$`); err != nil {
		t.Fatal(err)
	}
	refusedPG(t, "CREATE EVENT TRIGGER", execPG(conn, "CREATE EVENT TRIGGER trap ON ddl_command_start EXECUTE FUNCTION trap()"))
	if n := pgScalar[int64](t, pgAdminIn(t, e, tn.DB), "SELECT count(*) FROM pg_event_trigger"); n != 0 {
		t.Fatal("HOLE: an event trigger exists")
	}
}

func TestTenant_PostgreSQL_CannotAlterSystem(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "postgresql").pg(t)
	refusedPG(t, "ALTER SYSTEM", execPG(conn, "ALTER SYSTEM SET log_statement = 'none'"))
	refusedPG(t, "ALTER SYSTEM RESET ALL", execPG(conn, "ALTER SYSTEM RESET ALL"))
	refusedPG(t, "pg_reload_conf", queryPG(conn, "SELECT pg_reload_conf()"))
	if n := pgScalar[int64](t, e.PG(t), "SELECT count(*) FROM pg_file_settings WHERE name = 'log_statement' AND setting = 'none'"); n != 0 {
		t.Fatal("HOLE: ALTER SYSTEM took effect")
	}
}

// Superuser-only settings: hiding statements from the log, loading
// libraries into sessions, weakening safety checks.
var pgSuperuserSettings = map[string]string{
	"log_statement":              "'none'",
	"log_min_duration_statement": "-1",
	"log_min_error_statement":    "'panic'",
	"session_preload_libraries":  "'auto_explain'",
	"lc_messages":                "'C'",
	"zero_damaged_pages":         "on",
	"allow_system_table_mods":    "on",
	"log_parameter_max_length":   "0",
}

func TestTenant_PostgreSQL_CannotSetSuperuserSettings(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	for name, value := range pgSuperuserSettings {
		t.Run(name, func(t *testing.T) {
			refusedPG(t, "SET "+name, execPG(conn, "SET "+name+" = "+value))
			refusedPG(t, "ALTER ROLE self SET "+name, execPG(conn, "ALTER ROLE CURRENT_USER SET "+name+" = "+value))
			refusedPG(t, "ALTER DATABASE own SET "+name,
				execPG(conn, "ALTER DATABASE "+pgx.Identifier{tn.DB}.Sanitize()+" SET "+name+" = "+value))
		})
	}
	// Checked as the admin: no stored setting for the role or the database.
	if n := pgScalar[int64](t, e.PG(t), `
		SELECT count(*) FROM pg_db_role_setting s
		WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = $1)
		   OR s.setdatabase = (SELECT oid FROM pg_database WHERE datname = $2)`, tn.User, tn.DB); n != 0 {
		t.Fatalf("HOLE: %d stored settings for the tenant", n)
	}
}

func TestTenant_PostgreSQL_CannotCreateTablespace(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "postgresql").pg(t)
	dir := sharedDir(t)
	refusedPG(t, "CREATE TABLESPACE", execPG(conn, "CREATE TABLESPACE evil LOCATION '"+dir+"'"))
	if n := pgScalar[int64](t, e.PG(t), "SELECT count(*) FROM pg_tablespace WHERE spcname = 'evil'"); n != 0 {
		t.Fatal("HOLE: tablespace evil exists")
	}
}

func TestTenant_PostgreSQL_CannotLoadLibrary(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "postgresql").pg(t)
	for _, lib := range []string{"auto_explain", "passwordcheck", "$libdir/file_fdw", "/lib/x86_64-linux-gnu/libc.so.6"} {
		t.Run(lib, func(t *testing.T) {
			refusedPG(t, "LOAD "+lib, execPG(conn, "LOAD '"+lib+"'"))
		})
	}
	if n := pgScalar[int64](t, conn, "SELECT count(*) FROM pg_settings WHERE name LIKE 'auto_explain.%'"); n != 0 {
		t.Fatal("HOLE: auto_explain is loaded in the tenant's session")
	}
}

// A subscription makes the server itself connect wherever the tenant
// says: to other databases on the same server, or anywhere on its network.
func TestTenant_PostgreSQL_CannotCreateSubscription(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "postgresql"), newTenant(t, e, "postgresql")
	conn := a.pg(t)
	refusedPG(t, "CREATE SUBSCRIPTION", execPG(conn,
		"CREATE SUBSCRIPTION s CONNECTION 'host=127.0.0.1 dbname="+b.DB+"' PUBLICATION p WITH (connect = false)"))
	if n := pgScalar[int64](t, pgAdminIn(t, e, a.DB), "SELECT count(*) FROM pg_subscription"); n != 0 {
		t.Fatal("HOLE: a subscription exists")
	}
}

// A SHARE lock on pg_database would block every CREATE DATABASE on the
// server; locks stronger than ACCESS SHARE need UPDATE, DELETE or TRUNCATE
// on the catalog, which nobody but the superuser has.
func TestTenant_PostgreSQL_CannotLockSharedCatalogs(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "postgresql").pg(t)
	for _, table := range []string{"pg_database", "pg_authid", "pg_auth_members", "pg_tablespace"} {
		for _, mode := range []string{"ROW SHARE", "SHARE", "EXCLUSIVE", "ACCESS EXCLUSIVE"} {
			t.Run(table+"/"+mode, func(t *testing.T) {
				err := pgx.BeginFunc(context.Background(), conn, func(tx pgx.Tx) error {
					_, err := tx.Exec(context.Background(), "LOCK TABLE pg_catalog."+table+" IN "+mode+" MODE NOWAIT")
					return err
				})
				refusedPG(t, "LOCK "+table+" IN "+mode+" MODE", err)
			})
		}
	}
}
