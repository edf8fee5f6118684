package isolationtest

import (
	"strings"
	"testing"
)

// Stored code runs with its DEFINER's privileges (SQL SECURITY DEFINER,
// the default): a routine, view, trigger or event defined as the admin or
// another tenant would run anything that account may. Naming a DEFINER
// other than oneself needs SUPER or SET USER.

// definerAccount is `user`@`host` as the DEFINER clause takes it.
func definerAccount(account string) string {
	user, host, _ := strings.Cut(account, "@")
	return quoteMy(user) + "@" + quoteMy(host)
}

func TestTenant_MariaDB_CannotSetDefinerToAnotherAccount(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "mariadb"), newTenant(t, e, "mariadb")
	conn := a.my(t)
	if err := execMy(conn, "CREATE TABLE t (v INT)"); err != nil {
		t.Fatal(err)
	}
	admin := e.MariaDB(t)
	others := map[string]string{
		"admin":        definerAccount(myScalar[string](t, admin, "SELECT CURRENT_USER()")),
		"root":         "`root`@`localhost`",
		"other_tenant": quoteMy(b.User) + "@`%`",
	}
	for who, def := range others {
		t.Run(who, func(t *testing.T) {
			for kind, stmt := range map[string]string{
				"procedure": "CREATE DEFINER=" + def + " PROCEDURE p_" + who + "() SQL SECURITY DEFINER SELECT 1",
				"function":  "CREATE DEFINER=" + def + " FUNCTION f_" + who + "() RETURNS INT SQL SECURITY DEFINER RETURN 1",
				"view":      "CREATE DEFINER=" + def + " SQL SECURITY DEFINER VIEW v_" + who + " AS SELECT 1 AS one",
				"trigger":   "CREATE DEFINER=" + def + " TRIGGER tr_" + who + " BEFORE INSERT ON t FOR EACH ROW SET NEW.v = 1",
				"event":     "CREATE DEFINER=" + def + " EVENT ev_" + who + " ON SCHEDULE EVERY 1 DAY DO SELECT 1",
			} {
				t.Run(kind, func(t *testing.T) {
					refusedMy(t, kind+" with DEFINER "+who, execMy(conn, stmt))
				})
			}
			// An existing object cannot be moved to another definer either.
			if err := execMy(conn, "CREATE OR REPLACE VIEW own_"+who+" AS SELECT 1 AS one"); err != nil {
				t.Fatal(err)
			}
			refusedMy(t, "ALTER VIEW to DEFINER "+who,
				execMy(conn, "ALTER DEFINER="+def+" SQL SECURITY DEFINER VIEW own_"+who+" AS SELECT 2 AS one"))
		})
	}
	// Checked as the admin: every stored object in A's database is A's.
	for _, q := range []string{
		"SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND DEFINER NOT LIKE ?",
		"SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? AND DEFINER NOT LIKE ?",
		"SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND DEFINER NOT LIKE ?",
		"SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND DEFINER NOT LIKE ?",
	} {
		if n := myScalar[int64](t, admin, q, a.DB, a.User+"@%"); n != 0 {
			t.Fatalf("HOLE: %s: %d objects defined as another account", q, n)
		}
	}
}

// A tenant's own stored code, SQL SECURITY DEFINER or not, runs as the
// tenant: calling it gains nothing.
func TestTenant_MariaDB_OwnStoredCodeRunsAsTenant(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "mariadb")
	conn := tn.my(t)
	if err := execMy(conn, "CREATE FUNCTION whoami() RETURNS VARCHAR(200) SQL SECURITY DEFINER RETURN CURRENT_USER()"); err != nil {
		t.Fatal(err)
	}
	if u := myScalar[string](t, conn, "SELECT whoami()"); !strings.HasPrefix(u, tn.User+"@") {
		t.Fatalf("own definer function runs as %s", u)
	}
	if err := execMy(conn, "CREATE PROCEDURE peek() SQL SECURITY DEFINER SELECT COUNT(*) FROM mysql.user"); err != nil {
		t.Fatal(err)
	}
	refusedMy(t, "own definer procedure reading mysql.user", queryMy(conn, "CALL peek()"))
	expectOnlyOwnGrants(t, e, tn)
}
