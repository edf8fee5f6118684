package isolationtest

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// These tests try to gain global privileges, reach the server's files, load
// code into the server, change its settings, and run code as another
// account.

func TestTenant_MariaDB_CannotGrantSelfGlobalPrivileges(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "mariadb")
	conn := tn.my(t)
	for _, priv := range []string{"SUPER", "FILE", "PROCESS", "SHUTDOWN", "RELOAD", "CREATE USER", "ALL PRIVILEGES",
		"SET USER", "READ_ONLY ADMIN", "BINLOG MONITOR", "REPLICATION SLAVE", "SELECT"} {
		t.Run(priv, func(t *testing.T) {
			refusedMy(t, "GRANT "+priv+" ON *.* TO self", execMy(conn, "GRANT "+priv+" ON *.* TO CURRENT_USER"))
			refusedMy(t, "GRANT "+priv+" ON mysql.* TO self", execMy(conn, "GRANT "+priv+" ON mysql.* TO CURRENT_USER"))
		})
	}
	expectOnlyOwnGrants(t, e, tn)
}

func TestTenant_MariaDB_CannotGrantToOthers(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "mariadb"), newTenant(t, e, "mariadb")
	conn := a.my(t)
	own := quoteMy(a.DB) + ".*"
	refusedMy(t, "GRANT on own database to another tenant", execMy(conn, "GRANT SELECT ON "+own+" TO "+quoteMy(b.User)+"@'%'"))
	refusedMy(t, "GRANT on own database WITH GRANT OPTION", execMy(conn, "GRANT SELECT ON "+own+" TO CURRENT_USER WITH GRANT OPTION"))
	refusedMy(t, "GRANT on own database to PUBLIC", execMy(conn, "GRANT SELECT ON "+own+" TO PUBLIC"))
	expectOnlyOwnGrants(t, e, a)
	expectOnlyOwnGrants(t, e, b)
}

func TestTenant_MariaDB_CannotCreateOtherDatabases(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "mariadb")
	conn := tn.my(t)
	for _, name := range []string{tn.DB + "_x", "test", "test_x", "mysql2"} {
		refusedMy(t, "CREATE DATABASE "+name, execMy(conn, "CREATE DATABASE "+quoteMy(name)))
		if n := myScalar[int64](t, e.MariaDB(t), "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name); n != 0 {
			t.Fatalf("HOLE: database %s exists", name)
		}
	}
}

func TestTenant_MariaDB_CannotLoadDataInfile(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "mariadb")
	conn := tn.my(t)
	secret := serverReadable(t, "server-secret\n")
	if err := execMy(conn, "CREATE TABLE loot (line TEXT)"); err != nil {
		t.Fatal(err)
	}
	refusedMy(t, "LOAD DATA INFILE of a server file", execMy(conn, "LOAD DATA INFILE '"+secret+"' INTO TABLE loot"))
	refusedMy(t, "LOAD XML INFILE of a server file", execMy(conn, "LOAD XML INFILE '"+secret+"' INTO TABLE loot"))
	if n := myScalar[int64](t, e.MariaDB(t), "SELECT COUNT(*) FROM "+quoteMy(tn.DB)+".loot"); n != 0 {
		t.Fatalf("HOLE: %d rows loaded from a server file", n)
	}
}

// With LOCAL the file is read and sent by the client, never opened by the
// server: a tenant reaches only files its own client can read. A client
// that sends nothing (here the driver, which sends only files registered
// with it) gets nothing from the server's side.
func TestTenant_MariaDB_LoadDataLocalCannotReadServerFiles(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "mariadb")
	conn := tn.my(t)
	secret := serverReadable(t, "server-secret\n")
	if err := execMy(conn, "CREATE TABLE loot (line TEXT)"); err != nil {
		t.Fatal(err)
	}
	if err := execMy(conn, "LOAD DATA LOCAL INFILE '"+secret+"' INTO TABLE loot"); err == nil {
		t.Fatal("HOLE: LOAD DATA LOCAL INFILE of an unsent file succeeded")
	} else {
		t.Logf("refused: %v", err)
	}
	if n := myScalar[int64](t, e.MariaDB(t), "SELECT COUNT(*) FROM "+quoteMy(tn.DB)+".loot"); n != 0 {
		t.Fatalf("HOLE: %d rows loaded from a server file", n)
	}
}

func TestTenant_MariaDB_CannotSelectIntoOutfile(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "mariadb").my(t)
	dir := sharedDir(t)
	for _, kind := range []string{"OUTFILE", "DUMPFILE"} {
		t.Run(kind, func(t *testing.T) {
			target := filepath.Join(dir, kind)
			refusedMy(t, "SELECT INTO "+kind, queryMy(conn, "SELECT 'x' INTO "+kind+" '"+target+"'"))
			expectNoFile(t, target)
		})
	}
}

func TestTenant_MariaDB_CannotLoadFile(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "mariadb").my(t)
	secret := serverReadable(t, "server-secret\n")
	// LOAD_FILE answers NULL, not an error, without the FILE privilege.
	var v sql.NullString
	if err := conn.QueryRowContext(t.Context(), "SELECT LOAD_FILE(?)", secret).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v.Valid {
		t.Fatalf("HOLE: LOAD_FILE read a server file: %q", v.String)
	}
}

func TestTenant_MariaDB_CannotSetGlobalVariables(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "mariadb").my(t)
	admin := e.MariaDB(t)
	before := myScalar[int64](t, admin, "SELECT @@GLOBAL.max_connections")
	for _, stmt := range []string{
		"SET GLOBAL max_connections = 1",
		"SET GLOBAL general_log = 0",
		"SET GLOBAL local_infile = 1",
		"SET GLOBAL event_scheduler = ON",
		"SET GLOBAL read_only = 1",
		"SET SESSION sql_log_off = 1", // would hide the session from the general log
		"SET SESSION sql_log_bin = 0", // would hide its writes from replicas
	} {
		refusedMy(t, stmt, execMy(conn, stmt))
	}
	if after := myScalar[int64](t, admin, "SELECT @@GLOBAL.max_connections"); after != before {
		t.Fatalf("HOLE: max_connections changed from %d to %d", before, after)
	}
}

func TestTenant_MariaDB_CannotAdministerServer(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "mariadb").my(t)
	for _, stmt := range []string{
		"SHUTDOWN",
		"FLUSH PRIVILEGES",
		"FLUSH LOGS",
		"FLUSH TABLES WITH READ LOCK",
		"RESET MASTER",
		"PURGE BINARY LOGS BEFORE NOW()",
		"CHANGE MASTER TO MASTER_HOST = '127.0.0.1'",
		"CREATE SERVER evil FOREIGN DATA WRAPPER mysql OPTIONS (HOST '127.0.0.1', USER 'root')",
	} {
		refusedMy(t, stmt, execMy(conn, stmt))
	}
	if err := e.MariaDB(t).PingContext(t.Context()); err != nil {
		t.Fatalf("HOLE: the server is down: %v", err)
	}
}

func TestTenant_MariaDB_CannotInstallPlugin(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "mariadb").my(t)
	admin := e.MariaDB(t)
	before := myScalar[int64](t, admin, "SELECT COUNT(*) FROM mysql.plugin")
	refusedMy(t, "INSTALL SONAME", execMy(conn, "INSTALL SONAME 'ha_blackhole'"))
	refusedMy(t, "INSTALL PLUGIN", execMy(conn, "INSTALL PLUGIN BLACKHOLE SONAME 'ha_blackhole'"))
	refusedMy(t, "UNINSTALL PLUGIN", execMy(conn, "UNINSTALL PLUGIN unix_socket"))
	if after := myScalar[int64](t, admin, "SELECT COUNT(*) FROM mysql.plugin"); after != before {
		t.Fatalf("HOLE: mysql.plugin changed from %d to %d rows", before, after)
	}
}

func TestTenant_MariaDB_CannotCreateUDFFromSharedLibrary(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "mariadb").my(t)
	refusedMy(t, "CREATE FUNCTION SONAME", execMy(conn, "CREATE FUNCTION sys_exec RETURNS INTEGER SONAME 'lib_mysqludf_sys.so'"))
	refusedMy(t, "CREATE AGGREGATE FUNCTION SONAME", execMy(conn, "CREATE AGGREGATE FUNCTION agg RETURNS INTEGER SONAME 'libc.so.6'"))
	if n := myScalar[int64](t, e.MariaDB(t), "SELECT COUNT(*) FROM mysql.func"); n != 0 {
		t.Fatalf("HOLE: %d UDFs exist", n)
	}
}

// DATA DIRECTORY / INDEX DIRECTORY would put a table's files anywhere the
// server may write (they need FILE).
func TestTenant_MariaDB_CannotPlaceTableFilesOnServer(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "mariadb")
	conn := tn.my(t)
	dir := sharedDir(t)
	for _, opt := range []string{
		"ENGINE=MyISAM DATA DIRECTORY = '" + dir + "'",
		"ENGINE=MyISAM INDEX DIRECTORY = '" + dir + "'",
		"ENGINE=InnoDB DATA DIRECTORY = '" + dir + "'",
		"ENGINE=InnoDB PARTITION BY HASH (v) (PARTITION p0 DATA DIRECTORY = '" + dir + "')",
	} {
		// The server may ignore the option (with a warning) instead of
		// refusing it; either way nothing may land in the directory.
		err := execMy(conn, "CREATE TABLE placed (v INT) "+opt)
		t.Logf("%s: %v", opt, err)
		entries, rerr := os.ReadDir(dir)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if len(entries) != 0 {
			t.Fatalf("HOLE: %s put %s on the server", opt, entries[0].Name())
		}
		if err == nil {
			_ = execMy(conn, "DROP TABLE placed")
		}
	}
}
