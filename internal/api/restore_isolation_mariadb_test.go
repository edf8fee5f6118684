package api_test

// The MariaDB side of restore isolation: objects that run as their definer
// (triggers, SQL SECURITY DEFINER views, routines, events), and attempts
// to name other accounts as definer, survive a restore in place and to a
// new name with every definer an account of the database's own owner, no
// account created or given anything, and the data intact.

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/testenv"
)

// myRows runs q and returns each row's columns joined by '|'.
func myRows(t *testing.T, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, q string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q, args...)
	must(t, err)
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...))
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.String
		}
		out = append(out, strings.Join(parts, "|"))
	}
	must(t, rows.Err())
	return out
}

// myAccounts is what the server knows of accounts that matter here: the
// owner's accounts with their global privileges and grants, and every
// account with SUPER or GRANT OPTION.
func myAccounts(t *testing.T, admin *sql.DB, owner string) []string {
	t.Helper()
	out := myRows(t, admin, `SELECT CONCAT(User, '@', Host, ' super=', Super_priv, ' grant=', Grant_priv, ' file=', File_priv, ' create_user=', Create_user_priv)
		FROM mysql.user WHERE User = ? OR Super_priv = 'Y' OR Grant_priv = 'Y' ORDER BY User, Host`, owner)
	for _, acct := range myRows(t, admin, `SELECT Host FROM mysql.user WHERE User = ?`, owner) {
		out = append(out, myRows(t, admin, "SHOW GRANTS FOR '"+owner+"'@'"+acct+"'")...)
	}
	return out
}

func TestRestore_MariaDB_DefinerObjectsGainNothing(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "mariadb", "definers")
	s := openSession(t, "mariadb", db).(mySession)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE accounts (id INT PRIMARY KEY, balance INT)`,
		`CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, who VARCHAR(200), what VARCHAR(200))`,
		`CREATE TRIGGER accounts_audit AFTER INSERT ON accounts FOR EACH ROW INSERT INTO audit (who, what) VALUES (CURRENT_USER(), CONCAT('insert ', NEW.id))`,
		`INSERT INTO accounts VALUES (1, 10), (2, 20), (3, 30)`,
		`CREATE SQL SECURITY DEFINER VIEW rich AS SELECT id, balance, CURRENT_USER() AS viewer FROM accounts WHERE balance > 15`,
		`CREATE PROCEDURE grab() SQL SECURITY DEFINER BEGIN INSERT INTO audit (who, what) VALUES (CURRENT_USER(), 'grab'); END`,
		`CREATE FUNCTION whoami() RETURNS VARCHAR(200) SQL SECURITY DEFINER DETERMINISTIC RETURN CURRENT_USER()`,
		`CREATE EVENT tick ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO INSERT INTO audit (who, what) VALUES (CURRENT_USER(), 'tick')`,
	} {
		if _, err := s.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", firstLine(q), err)
		}
	}
	// A tenant cannot name another account as definer.
	for _, q := range []string{
		"CREATE DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW as_root AS SELECT 1",
		"CREATE DEFINER=`root`@`localhost` PROCEDURE as_root() SELECT 1",
		"CREATE DEFINER=`root`@`localhost` TRIGGER as_root BEFORE INSERT ON accounts FOR EACH ROW SET NEW.balance = NEW.balance",
	} {
		if _, err := s.ExecContext(ctx, q); err == nil {
			t.Fatalf("the tenant could create %q", q)
		}
	}
	tables := []string{`SELECT id, balance FROM accounts ORDER BY id`, `SELECT id, what FROM audit ORDER BY id`, `SELECT id, balance FROM rich ORDER BY id`}
	snapshotData := func(s mySession) []string {
		var out []string
		for _, q := range tables {
			out = append(out, myRows(t, s, q)...)
		}
		return out
	}
	want := snapshotData(s)
	s.Close()
	admin := e.MariaDB(t)
	before := myAccounts(t, admin, db.Username)
	snap := takeSnapshot(t, c, db, "with definers")

	check := func(where string, target created, wantAccounts []string) {
		t.Helper()
		if got := myAccounts(t, admin, target.Username); !slices.Equal(got, wantAccounts) {
			t.Errorf("%s: accounts changed:\n got %v\nwant %v", where, got, wantAccounts)
		}
		definers := myRows(t, admin, `
			SELECT CONCAT('view ', TABLE_NAME, ' ', DEFINER) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?
			UNION ALL SELECT CONCAT('routine ', ROUTINE_NAME, ' ', DEFINER) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
			UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME, ' ', DEFINER) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
			UNION ALL SELECT CONCAT('event ', EVENT_NAME, ' ', DEFINER) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`,
			target.DBName, target.DBName, target.DBName, target.DBName)
		if len(definers) != 5 {
			t.Errorf("%s: objects after the restore: %v, want the 5 made", where, definers)
		}
		for _, d := range definers {
			if f := strings.Fields(d); len(f) != 3 || !strings.HasPrefix(f[2], target.Username+"@") {
				t.Errorf("%s: %s: definer is not an account of %s", where, d, target.Username)
			}
		}
		ts := openSession(t, "mariadb", target).(mySession)
		defer ts.Close()
		if got := snapshotData(ts); !slices.Equal(got, want) {
			t.Errorf("%s: data differs:\n got %v\nwant %v", where, got, want)
		}
		// The routines still run, as the owner.
		if who := myRows(t, ts, `SELECT whoami()`); len(who) != 1 || !strings.HasPrefix(who[0], target.Username+"@") {
			t.Errorf("%s: whoami() = %v", where, who)
		}
		if _, err := ts.ExecContext(ctx, `CALL grab()`); err != nil {
			t.Errorf("%s: CALL grab(): %v", where, err)
		}
	}
	restoreOK(t, c, db, map[string]any{"snapshot_id": snap.SnapshotID})
	check("in place", db, before)

	var out struct {
		created
		TargetDBName string `json:"target_db_name"`
	}
	restoreOK(t, c, db, map[string]any{"snapshot_id": snap.SnapshotID, "target_db_name": "definers_copy"}).Decode(t, &out)
	target := out.created
	target.DBType, target.DBName = "mariadb", out.TargetDBName
	wantNew := myAccounts(t, admin, target.Username) // made by the create, before the load
	for _, a := range wantNew {
		if strings.Contains(a, "super=Y") && strings.HasPrefix(a, target.Username+"@") {
			t.Errorf("the new owner has SUPER: %s", a)
		}
	}
	check("to a new name", target, wantNew)
}
