package isolationtest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// These tests try to reach other tenants' data and sessions, the system
// tables and other accounts on the shared MariaDB server.

func TestTenant_MariaDB_CannotReadAnotherTenantsDatabase(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "mariadb"), newTenant(t, e, "mariadb")
	if err := execMy(b.my(t), "CREATE TABLE secrets (v TEXT)"); err != nil {
		t.Fatal(err)
	}
	if err := execMy(b.my(t), "INSERT INTO secrets VALUES ('b-private')"); err != nil {
		t.Fatal(err)
	}
	conn := a.my(t)
	refusedMy(t, "USE another tenant's database", execMy(conn, "USE "+quoteMy(b.DB)))
	refusedMy(t, "SELECT from another tenant's table", queryMy(conn, "SELECT v FROM "+quoteMy(b.DB)+".secrets"))
	refusedMy(t, "INSERT into another tenant's table", execMy(conn, "INSERT INTO "+quoteMy(b.DB)+".secrets VALUES ('a-was-here')"))
	refusedMy(t, "DROP another tenant's database", execMy(conn, "DROP DATABASE "+quoteMy(b.DB)))
	// A login naming B's database as the default is refused too.
	db, err := sql.Open("mysql", a.mariaDSN(b.DB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	refusedMy(t, "log in to another tenant's database", db.PingContext(context.Background()))
	// B's data, checked as the admin.
	if n := myScalar[int64](t, e.MariaDB(t), "SELECT COUNT(*) FROM "+quoteMy(b.DB)+".secrets"); n != 1 {
		t.Fatalf("B's table has %d rows, want 1", n)
	}
}

func TestTenant_MariaDB_SeesOnlyOwnDatabase(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "mariadb"), newTenant(t, e, "mariadb")
	conn := a.my(t)
	rows, err := conn.QueryContext(context.Background(), "SHOW DATABASES")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seen []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, n)
		if n != a.DB && n != "information_schema" {
			t.Errorf("HOLE: tenant A sees database %q", n)
		}
	}
	if strings.Contains(strings.Join(seen, ","), b.DB) {
		t.Fatalf("HOLE: tenant A sees B's database")
	}
}

func TestTenant_MariaDB_CannotReadSystemTables(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "mariadb").my(t)
	for _, table := range []string{"user", "global_priv", "db", "tables_priv", "proc", "plugin", "func", "servers"} {
		t.Run(table, func(t *testing.T) {
			refusedMy(t, "SELECT from mysql."+table, queryMy(conn, "SELECT * FROM mysql."+table))
			refusedMy(t, "UPDATE mysql."+table, execMy(conn, "UPDATE mysql."+table+" SET Host = Host"))
		})
	}
	refusedMy(t, "USE mysql", execMy(conn, "USE mysql"))
}

func TestTenant_MariaDB_CannotCreateUser(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "mariadb")
	conn := tn.my(t)
	name := tn.User + "_x"
	refusedMy(t, "CREATE USER", execMy(conn, "CREATE USER "+quoteMy(name)+"@'%' IDENTIFIED BY 'pw'"))
	refusedMy(t, "GRANT creating a user", execMy(conn, "GRANT SELECT ON "+quoteMy(tn.DB)+".* TO "+quoteMy(name)+"@'%' IDENTIFIED BY 'pw'"))
	if n := myScalar[int64](t, e.MariaDB(t), "SELECT COUNT(*) FROM mysql.user WHERE User = ?", name); n != 0 {
		t.Fatalf("HOLE: user %s exists", name)
	}
}

func TestTenant_MariaDB_CannotChangeOtherAccounts(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "mariadb"), newTenant(t, e, "mariadb")
	conn := a.my(t)
	other := quoteMy(b.User) + "@'%'"
	before := myGrants(t, e, b.User)
	for _, stmt := range []string{
		"SET PASSWORD FOR " + other + " = PASSWORD('taken')",
		"ALTER USER " + other + " IDENTIFIED BY 'taken'",
		"ALTER USER " + other + " ACCOUNT LOCK",
		"RENAME USER " + other + " TO 'stolen'@'%'",
		"DROP USER " + other,
		"RENAME USER " + quoteMy(a.User) + "@'%' TO 'renamed'@'%'",
		"ALTER USER 'root'@'localhost' IDENTIFIED BY 'taken'",
	} {
		refusedMy(t, stmt, execMy(conn, stmt))
	}
	if after := myGrants(t, e, b.User); after != before {
		t.Fatalf("HOLE: B's account changed:\n%s\nwas\n%s", after, before)
	}
	// B still logs in with its password.
	if err := execMy(b.my(t), "SELECT 1"); err != nil {
		t.Fatalf("HOLE: B cannot log in: %v", err)
	}
}

func TestTenant_MariaDB_CannotKillOtherTenantsConnection(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "mariadb"), newTenant(t, e, "mariadb")
	bconn := b.my(t)
	bid := myScalar[int64](t, bconn, "SELECT CONNECTION_ID()")
	conn := a.my(t)
	refusedMy(t, "KILL another tenant's connection", execMy(conn, "KILL "+itoa64(bid)))
	refusedMy(t, "KILL QUERY of another tenant", execMy(conn, "KILL QUERY "+itoa64(bid)))
	// KILL USER may answer without error and end only the caller's own
	// sessions; what matters is that B's survives (checked below).
	if err := execMy(conn, "KILL USER "+quoteMy(b.User)); err != nil {
		t.Logf("KILL USER another tenant: %v", err)
	}
	// The admin's connections too.
	adminID := myScalar[int64](t, e.MariaDB(t), "SELECT CONNECTION_ID()")
	refusedMy(t, "KILL the admin's connection", execMy(conn, "KILL "+itoa64(adminID)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bconn.PingContext(ctx); err != nil {
		t.Fatalf("HOLE: B's connection died: %v", err)
	}
	if id := myScalar[int64](t, bconn, "SELECT CONNECTION_ID()"); id != bid {
		t.Fatalf("HOLE: B's connection was replaced (%d, was %d)", id, bid)
	}
}

func TestTenant_MariaDB_CannotSeeOtherTenantsQueries(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "mariadb"), newTenant(t, e, "mariadb")
	bconn := b.my(t)
	bid := myScalar[int64](t, bconn, "SELECT CONNECTION_ID()")
	// B runs a query that stays in the process list until the admin ends
	// it at the end of the test.
	done := make(chan error, 1)
	go func() {
		_, err := bconn.ExecContext(context.Background(), "SELECT SLEEP(60), 'b-secret-query-7f3a'")
		done <- err
	}()
	admin := e.MariaDB(t)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if myScalar[int64](t, admin, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%b-secret-query-7f3a%' AND USER = ?", b.User) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the admin never saw B's query running")
		}
	}
	conn := a.my(t)
	for _, q := range []string{"SHOW FULL PROCESSLIST", "SELECT * FROM information_schema.PROCESSLIST"} {
		rows, err := conn.QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if strings.Contains(string(v), "b-secret-query") || string(v) == b.User {
					t.Errorf("HOLE: %s shows another tenant's session: %q", q, v)
				}
			}
		}
		rows.Close()
	}
	// The views that show every session's statements need PROCESS.
	refusedMy(t, "SHOW ENGINE INNODB STATUS", queryMy(conn, "SHOW ENGINE INNODB STATUS"))
	refusedMy(t, "information_schema.INNODB_TRX", queryMy(conn, "SELECT * FROM information_schema.INNODB_TRX"))
	if _, err := admin.ExecContext(context.Background(), "KILL QUERY "+itoa64(bid)); err != nil {
		t.Fatal(err)
	}
	<-done // SLEEP answers 1 when its query is killed
}
