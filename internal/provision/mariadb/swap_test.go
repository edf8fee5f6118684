package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/provision"
)

// mariaErrAccountLocked (ER_ACCOUNT_HAS_BEEN_LOCKED) is what a login to a
// locked account gets.
const mariaErrAccountLocked = 4151

// mariaSwapSet is one live/replacement/retired trio with its owner.
type mariaSwapSet struct {
	live, repl, ret, owner, pw string
}

// mariaSwapContent fills db, as its owner, with the test schema: a parent
// table with AUTO_INCREMENT, a child with a named foreign key to it, a
// sequence used by a column default, triggers, views (one on the other),
// a function, a procedure and an event, tagged "old" or "new".
func mariaSwapContent(t *testing.T, set mariaSwapSet, db, which string, seqStart int) {
	t.Helper()
	ctx := testCtx(t)
	c, closeFn, err := mariaLogin(ctx, set.owner, set.pw, db)
	must(t, "login to fill "+db, err)
	defer closeFn()
	stmts := []string{
		"CREATE TABLE parent (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL) ENGINE=InnoDB",
		"CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, note VARCHAR(200), " +
			"CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES parent(id)) ENGINE=InnoDB",
		// NOCACHE: a cached sequence skips its cached values when its table
		// is reopened (as after a rename or a restart).
		fmt.Sprintf("CREATE SEQUENCE s START WITH %d NOCACHE", seqStart),
		"CREATE TABLE tick (id INT DEFAULT NEXTVAL(s) PRIMARY KEY, note VARCHAR(20))",
		"INSERT INTO tick (note) VALUES ('" + which + "')",
		"INSERT INTO parent (name) VALUES ('" + which + "-p1'), ('" + which + "-p2')",
		"INSERT INTO child VALUES (1, 1, '" + which + "-c1'), (2, 2, '" + which + "-c2')",
		"CREATE FUNCTION f() RETURNS VARCHAR(10) DETERMINISTIC RETURN '" + which + "'",
	}
	if which == "old" {
		stmts = append(stmts,
			"CREATE PROCEDURE p_add(n VARCHAR(50)) INSERT INTO parent (name) VALUES (CONCAT('old:', n))",
			"CREATE TRIGGER trg_old BEFORE INSERT ON child FOR EACH ROW SET NEW.note = CONCAT(NEW.note, '|old')",
			"CREATE VIEW v AS SELECT c.id, c.note, p.name FROM child c JOIN parent p ON p.id = c.parent_id",
			// A view whose name is a table of replacement: must make way.
			"CREATE VIEW extra AS SELECT 1 AS x",
			"CREATE EVENT ev_old ON SCHEDULE EVERY 1 DAY STARTS '2035-01-01 00:00:00' DISABLE DO DELETE FROM tick",
		)
	} else {
		stmts = append(stmts,
			"CREATE TABLE extra (x INT)",
			"INSERT INTO parent (name) VALUES ('new-p3')",
			"CREATE PROCEDURE p_add(n VARCHAR(50)) BEGIN INSERT INTO parent (name) VALUES (CONCAT('new:', n)); END",
			// trg_a is created first, trg_b before it: the order is b, a,
			// which is neither creation nor name order.
			"CREATE TRIGGER trg_a BEFORE INSERT ON child FOR EACH ROW SET NEW.note = CONCAT(NEW.note, '|new2')",
			"CREATE TRIGGER trg_b BEFORE INSERT ON child FOR EACH ROW PRECEDES trg_a SET NEW.note = CONCAT(NEW.note, '|new1é😀')",
			"CREATE VIEW v AS SELECT c.id, CONCAT(c.note, '+', f()) AS note, UPPER(p.name) AS name FROM child c JOIN parent p ON p.id = c.parent_id",
			// A view on a view that sorts before it.
			"CREATE VIEW a_count AS SELECT COUNT(*) AS n FROM v",
			"CREATE EVENT ev_new ON SCHEDULE EVERY 1 DAY STARTS '2035-01-01 00:00:00' DISABLE COMMENT 'it''s new' DO DELETE FROM tick",
		)
	}
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			t.Fatalf("fill %s: %s: %v", db, s, err)
		}
	}
}

// mariaSwapSetup creates owner (limit 7), live and replacement with
// different contents, and registers clean-up.
func mariaSwapSetup(t *testing.T, d *Driver, prefix string) mariaSwapSet {
	t.Helper()
	ctx := testCtx(t)
	set := mariaSwapSet{live: prefix + "_live", repl: prefix + "_repl", ret: prefix + "_ret", owner: prefix + "_u", pw: "Swap-pw 1 'q'"}
	mariaCleanup(t, d, []string{set.live, set.repl, set.ret}, []string{set.owner})
	must(t, "EnsureUser", d.EnsureUser(ctx, set.owner, set.pw))
	must(t, "EnsureDatabase live", d.EnsureDatabase(ctx, set.live, set.owner))
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, set.live, set.owner, 7))
	must(t, "EnsureDatabase replacement", d.EnsureDatabase(ctx, set.repl, set.owner))
	mariaSwapContent(t, set, set.live, "old", 10)
	mariaSwapContent(t, set, set.repl, "new", 500)
	return set
}

// mariaSwapSnapshot reads, in one statement, what a tenant sees: the child
// notes, the view and the function.
const mariaSwapSnapshot = `SELECT (SELECT GROUP_CONCAT(note ORDER BY id) FROM child),
	(SELECT GROUP_CONCAT(note, '/', name ORDER BY id) FROM v), f()`

// mariaTableNotes reads, as admin, live's base tables only: which
// contents (old or new) the child and parent tables have.
func mariaTableNotes(t *testing.T, db string) (child, parent string) {
	t.Helper()
	admin := mariaAdmin(t)
	var c, p sql.NullString
	must(t, "read "+db, admin.QueryRowContext(testCtx(t), "SELECT (SELECT GROUP_CONCAT(note ORDER BY id) FROM "+
		mariaQuote(db)+".child), (SELECT GROUP_CONCAT(name ORDER BY id) FROM "+mariaQuote(db)+".parent)").Scan(&c, &p))
	return c.String, p.String
}

// mariaNames returns the first column of a query's rows.
func mariaNames(t *testing.T, q string, args ...any) []string {
	t.Helper()
	rows, err := mariaAdmin(t).QueryContext(testCtx(t), q, args...)
	must(t, q, err)
	names, err := scanStrings(rows)
	must(t, q, err)
	return names
}

// mariaCheckNew checks that live, for its owner, is exactly the new
// database and fully usable, and the rest of the final state.
func mariaCheckNew(t *testing.T, d *Driver, set mariaSwapSet) {
	t.Helper()
	ctx := testCtx(t)
	c, closeFn, err := mariaLogin(ctx, set.owner, set.pw, set.live)
	must(t, "owner login to live after swap", err)
	defer closeFn()
	var notes, view, f string
	must(t, "read live", c.QueryRowContext(ctx, mariaSwapSnapshot).Scan(&notes, &view, &f))
	if notes != "new-c1,new-c2" || view != "new-c1+new/NEW-P1,new-c2+new/NEW-P2" || f != "new" {
		t.Errorf("live after swap: notes %q, view %q, f() %q; want the new contents", notes, view, f)
	}
	var n int
	must(t, "view on view", c.QueryRowContext(ctx, "SELECT n FROM a_count").Scan(&n))
	if n != 2 {
		t.Errorf("a_count = %d, want 2", n)
	}
	// INSERT through the triggers, in their original order, with the
	// non-ASCII text intact.
	_, err = c.ExecContext(ctx, "INSERT INTO child VALUES (9, 3, 'ins')")
	must(t, "insert child", err)
	must(t, "read inserted", c.QueryRowContext(ctx, "SELECT note FROM child WHERE id = 9").Scan(&notes))
	if notes != "ins|new1é😀|new2" {
		t.Errorf("inserted note = %q, want %q (new triggers, order b then a)", notes, "ins|new1é😀|new2")
	}
	// Foreign keys point to the new parent table in live.
	if _, err := c.ExecContext(ctx, "INSERT INTO child VALUES (10, 99, 'orphan')"); mariaErrNo(err) != 1452 {
		t.Errorf("insert orphan child: %v, want foreign key error 1452", err)
	}
	if _, err := c.ExecContext(ctx, "DELETE FROM parent WHERE id = 3"); mariaErrNo(err) != 1451 {
		t.Errorf("delete referenced parent: %v, want foreign key error 1451", err)
	}
	// AUTO_INCREMENT, the sequence default and the procedure.
	_, err = c.ExecContext(ctx, "CALL p_add('x')")
	must(t, "call p_add", err)
	var id int
	var name string
	must(t, "read p_add row", c.QueryRowContext(ctx, "SELECT id, name FROM parent ORDER BY id DESC LIMIT 1").Scan(&id, &name))
	if id != 4 || name != "new:x" {
		t.Errorf("p_add inserted (%d, %q), want (4, \"new:x\")", id, name)
	}
	_, err = c.ExecContext(ctx, "INSERT INTO tick (note) VALUES ('t')")
	must(t, "insert tick", err)
	must(t, "read tick", c.QueryRowContext(ctx, "SELECT MAX(id) FROM tick").Scan(&id))
	if id != 501 {
		t.Errorf("tick id from sequence = %d, want 501", id)
	}
	var create string
	must(t, "show create tick", c.QueryRowContext(ctx, "SHOW CREATE TABLE tick").Scan(&name, &create))
	if !strings.Contains(create, "nextval(`"+set.live+"`.`s`)") {
		t.Errorf("tick's default does not name live's sequence: %s", create)
	}
	if _, err := c.ExecContext(ctx, "CREATE TABLE tenant_made (x INT)"); err != nil {
		t.Errorf("owner cannot create a table in the new live: %v", err)
	}

	if got := mariaNames(t, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY ACTION_ORDER", set.live); !slices.Equal(got, []string{"trg_b", "trg_a"}) {
		t.Errorf("live's triggers = %q, want [trg_b trg_a]", got)
	}
	if got := mariaNames(t, "SELECT CONCAT(EVENT_NAME, ' ', STATUS, ' ', EVENT_COMMENT) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", set.live); !slices.Equal(got, []string{"ev_new DISABLED it's new"}) {
		t.Errorf("live's events = %q, want [ev_new DISABLED it's new]", got)
	}
	if got := mariaNames(t, "SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME, ' ', DEFINER) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY 1", set.live); !slices.Equal(got, []string{"FUNCTION f " + set.owner + "@%", "PROCEDURE p_add " + set.owner + "@%"}) {
		t.Errorf("live's routines = %q", got)
	}
	if got := mariaNames(t, "SELECT CONCAT(TABLE_NAME, ' ', TABLE_TYPE) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1", set.live); !slices.Equal(got,
		[]string{"a_count VIEW", "child BASE TABLE", "extra BASE TABLE", "parent BASE TABLE", "s SEQUENCE", "tenant_made BASE TABLE", "tick BASE TABLE", "v VIEW"}) {
		t.Errorf("live's tables = %q", got)
	}

	info, err := d.DatabaseInfo(ctx, set.live, set.owner)
	must(t, "DatabaseInfo", err)
	if info.Owner != set.owner || info.ConnectionLimit != 7 {
		t.Errorf("live: owner %q, limit %d; want %q, 7", info.Owner, info.ConnectionLimit, set.owner)
	}
	if ok, err := d.DatabaseExists(ctx, set.repl); err != nil || ok {
		t.Errorf("replacement still exists (%v, %v)", ok, err)
	}
	if g, err := d.databaseGrants(ctx, set.repl); err != nil || len(g) != 0 {
		t.Errorf("grants on replacement's name left: %v (%v)", g, err)
	}
	accts, err := d.userAccounts(ctx, set.owner)
	must(t, "userAccounts", err)
	for _, a := range accts {
		if a.locked != (a.host == "10.9.9.9") {
			t.Errorf("account %s@%s locked = %v after the swap", set.owner, a.host, a.locked)
		}
	}
}

// mariaCheckRetired checks that retired holds the old tables and data, with
// its foreign keys and sequence default pointing inside retired.
func mariaCheckRetired(t *testing.T, d *Driver, set mariaSwapSet) {
	t.Helper()
	ctx := testCtx(t)
	child, parent := mariaTableNotes(t, set.ret)
	if child != "old-c1,old-c2" || parent != "old-p1,old-p2" {
		t.Errorf("retired: child %q, parent %q; want the old rows", child, parent)
	}
	got := mariaNames(t, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", set.ret)
	slices.Sort(got)
	if !slices.Equal(got, []string{mariaSwapDone, "child", "parent", "s", "tick"}) {
		t.Errorf("retired's tables = %q", got)
	}
	if got := mariaNames(t, "SELECT CONCAT(ID, ' ', FOR_NAME, ' ', REF_NAME) FROM information_schema.INNODB_SYS_FOREIGN WHERE FOR_NAME LIKE ?", set.ret+"/%"); !slices.Equal(got,
		[]string{set.ret + "/fk_child_parent " + set.ret + "/child " + set.ret + "/parent"}) {
		t.Errorf("retired's foreign keys = %q", got)
	}
	admin := mariaAdmin(t)
	if _, err := admin.ExecContext(ctx, "INSERT INTO "+mariaQuote(set.ret)+".child VALUES (7, 99, 'x')"); mariaErrNo(err) != 1452 {
		t.Errorf("retired's foreign key not enforced: %v", err)
	}
	var id int
	_, err := admin.ExecContext(ctx, "INSERT INTO "+mariaQuote(set.ret)+".tick (note) VALUES ('r')")
	must(t, "insert into retired tick", err)
	must(t, "read retired tick", admin.QueryRowContext(ctx, "SELECT MAX(id) FROM "+mariaQuote(set.ret)+".tick").Scan(&id))
	if id != 11 {
		t.Errorf("retired tick id = %d, want 11 (from retired's own sequence)", id)
	}
	if g, err := d.databaseGrants(ctx, set.ret); err != nil || len(g) != 0 {
		t.Errorf("grants on retired: %v (%v)", g, err)
	}
}

func TestMariaDBSwapDatabase(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	set := mariaSwapSetup(t, d, "swp_my_main")
	admin := mariaAdmin(t)
	// A second account of the owner, locked before the swap: stays locked.
	_, err := admin.ExecContext(ctx, "CREATE USER "+mariaAccount(set.owner, "10.9.9.9")+" IDENTIFIED BY 'Other-pw-1' WITH MAX_USER_CONNECTIONS 7 ACCOUNT LOCK")
	must(t, "create locked account", err)
	grantsBefore := mariaNames(t, "SELECT CONCAT(User, '@', Host, ' ', Db) FROM mysql.db WHERE Db = ?", mariaGrantPattern(set.live))

	// An open session on live in a transaction holding row locks, one with
	// no default database, and one on replacement.
	sess, closeSess, err := mariaLogin(ctx, set.owner, set.pw, set.live)
	must(t, "session on live", err)
	defer closeSess()
	_, err = sess.ExecContext(ctx, "START TRANSACTION")
	must(t, "begin", err)
	_, err = sess.ExecContext(ctx, "SELECT * FROM child FOR UPDATE")
	must(t, "lock rows", err)
	sessNoDB, closeNoDB, err := mariaLogin(ctx, set.owner, set.pw, "")
	must(t, "session without database", err)
	defer closeNoDB()
	sessRepl, closeRepl, err := mariaLogin(ctx, set.owner, set.pw, set.repl)
	must(t, "session on replacement", err)
	defer closeRepl()

	// A tenant keeps reconnecting and reading: every answer must be all old
	// or all new; during the swap logins are refused (account locked).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seenOld, seenNew, locked atomic.Int32
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, closeFn, err := mariaLogin(cctx, set.owner, set.pw, set.live)
			if mariaErrNo(err) == mariaErrAccountLocked {
				locked.Add(1)
			}
			if err == nil {
				var notes, view, f sql.NullString
				if err := c.QueryRowContext(cctx, mariaSwapSnapshot).Scan(&notes, &view, &f); err == nil {
					switch {
					case notes.String == "old-c1,old-c2" && strings.HasPrefix(view.String, "old-c1/old-p1") && f.String == "old":
						seenOld.Add(1)
					case strings.HasPrefix(notes.String, "new-c1,new-c2") && strings.HasPrefix(view.String, "new-c1+new/NEW-P1") && f.String == "new":
						seenNew.Add(1)
					default:
						t.Errorf("tenant saw a mix: notes %q, view %q, f() %q", notes.String, view.String, f.String)
					}
				}
				closeFn()
			}
			cancel()
		}
	}()
	time.Sleep(100 * time.Millisecond)

	must(t, "SwapDatabase", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("tenant during the swap: %d old reads, %d new reads, %d logins refused (locked)", seenOld.Load(), seenNew.Load(), locked.Load())
	if seenNew.Load() == 0 {
		t.Error("tenant never saw the new contents after the swap")
	}

	for name, c := range map[string]*sql.Conn{"live": sess, "no database": sessNoDB, "replacement": sessRepl} {
		if _, err := c.ExecContext(ctx, "SELECT 1"); err == nil {
			t.Errorf("session %s survived the swap", name)
		}
	}
	mariaCheckNew(t, d, set)
	mariaCheckRetired(t, d, set)
	if got := mariaNames(t, "SELECT CONCAT(User, '@', Host, ' ', Db) FROM mysql.db WHERE Db = ?", mariaGrantPattern(set.live)); !slices.Equal(got, grantsBefore) {
		t.Errorf("grants on live changed: %q, were %q", got, grantsBefore)
	}

	// Idempotent: again, and again after the caller dropped retired.
	must(t, "SwapDatabase again", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	if child, _ := mariaTableNotes(t, set.live); !strings.HasPrefix(child, "new-c1,new-c2") {
		t.Errorf("second SwapDatabase changed live: %q", child)
	}
	if child, _ := mariaTableNotes(t, set.ret); child != "old-c1,old-c2" {
		t.Errorf("second SwapDatabase changed retired: %q", child)
	}
	must(t, "DropDatabase retired", d.DropDatabase(ctx, set.ret))
	must(t, "SwapDatabase after retired dropped", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	if child, _ := mariaTableNotes(t, set.live); !strings.HasPrefix(child, "new-c1,new-c2") {
		t.Errorf("SwapDatabase after drop of retired changed live: %q", child)
	}
}

// mariaSwapSteps are SwapDatabase's steps, in order (see swapStep calls).
var mariaSwapSteps = []string{
	"retired-created", "state-recorded", "accounts-locked", "sessions-ended", "snapshot-saved",
	"objects-dropped", "swapped", "objects-created", "replacement-dropped", "accounts-unlocked", "done",
}

// TestMariaDBSwapCrash stops SwapDatabase after each step as a crash would,
// checks that live's base tables are then entirely old or entirely new and
// that the owner is kept out of a half-done database, and that a second
// call completes the swap.
func TestMariaDBSwapCrash(t *testing.T) {
	d := newMaria(t)
	for i, step := range mariaSwapSteps {
		t.Run(step, func(t *testing.T) {
			ctx := testCtx(t)
			set := mariaSwapSetup(t, d, fmt.Sprintf("swp_my_crash%d", i))
			swapHooks.Store(set.live, func(s string) error {
				if s == step {
					return errSwapCrash
				}
				return nil
			})
			defer swapHooks.Delete(set.live)
			err := d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner)
			if !errors.Is(err, errSwapCrash) {
				t.Fatalf("SwapDatabase = %v, want the simulated crash", err)
			}
			swapped := slices.Index(mariaSwapSteps, step) >= slices.Index(mariaSwapSteps, "swapped")
			child, parent := mariaTableNotes(t, set.live)
			switch {
			case swapped && (child != "new-c1,new-c2" || parent != "new-p1,new-p2,new-p3"):
				t.Errorf("after crash at %s live's tables: %q / %q, want all new", step, child, parent)
			case !swapped && (child != "old-c1,old-c2" || parent != "old-p1,old-p2"):
				t.Errorf("after crash at %s live's tables: %q / %q, want all old", step, child, parent)
			}
			// The owner sees either the complete old database, or nothing
			// (locked out), or the complete new one.
			c, closeFn, err := mariaLogin(ctx, set.owner, set.pw, set.live)
			lockedOut := slices.Index(mariaSwapSteps, step) >= slices.Index(mariaSwapSteps, "accounts-locked") &&
				slices.Index(mariaSwapSteps, step) < slices.Index(mariaSwapSteps, "accounts-unlocked")
			switch {
			case lockedOut && mariaErrNo(err) != mariaErrAccountLocked:
				t.Errorf("after crash at %s: owner login = %v, want account locked", step, err)
			case !lockedOut && err != nil:
				t.Errorf("after crash at %s: owner login = %v", step, err)
			case err == nil:
				var notes, view, f string
				must(t, "read", c.QueryRowContext(ctx, mariaSwapSnapshot).Scan(&notes, &view, &f))
				if swapped && f != "new" || !swapped && (notes != "old-c1,old-c2" || f != "old" || !strings.HasPrefix(view, "old-c1")) {
					t.Errorf("after crash at %s owner sees %q / %q / %q", step, notes, view, f)
				}
			}
			if err == nil {
				closeFn()
			}

			swapHooks.Delete(set.live)
			must(t, "SwapDatabase after crash", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
			mariaCheckNew(t, d, set)
			mariaCheckRetired(t, d, set)
		})
	}
}

// TestMariaDBSwapCrashTwice crashes at every step in turn within one swap:
// each call gets one step further, and the last completes.
func TestMariaDBSwapCrashTwice(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	set := mariaSwapSetup(t, d, "swp_my_crash_all")
	var crashAt atomic.Int32
	swapHooks.Store(set.live, func(s string) error {
		if slices.Index(mariaSwapSteps, s) == int(crashAt.Load()) {
			return errSwapCrash
		}
		return nil
	})
	defer swapHooks.Delete(set.live)
	for i := range mariaSwapSteps {
		crashAt.Store(int32(i))
		if err := d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner); !errors.Is(err, errSwapCrash) {
			t.Fatalf("call %d: SwapDatabase = %v, want the simulated crash at %s", i, err, mariaSwapSteps[i])
		}
	}
	crashAt.Store(-1)
	must(t, "SwapDatabase", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	mariaCheckNew(t, d, set)
	mariaCheckRetired(t, d, set)
}

// TestMariaDBSwapFailure fails SwapDatabase (an error, not a crash) after
// each step. Before the RENAME the failure is rolled back: the customer gets
// the old database back, complete (triggers, views, events re-created) and
// open, replacement is as it was and retired is gone. After the RENAME the
// owner stays locked out of the new tables until a re-run completes.
// Either way a later call swaps.
func TestMariaDBSwapFailure(t *testing.T) {
	d := newMaria(t)
	for i, step := range mariaSwapSteps {
		t.Run(step, func(t *testing.T) {
			ctx := testCtx(t)
			set := mariaSwapSetup(t, d, fmt.Sprintf("swp_my_fail%d", i))
			objects := func(db string) []string {
				return mariaNames(t, `SELECT CONCAT('trigger ', TRIGGER_NAME, ' ', ACTION_ORDER) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
					UNION ALL SELECT CONCAT('view ', TABLE_NAME, ' ', MD5(VIEW_DEFINITION)) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?
					UNION ALL SELECT CONCAT('event ', EVENT_NAME, ' ', STATUS) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?
					UNION ALL SELECT CONCAT('routine ', ROUTINE_NAME, ' ', MD5(ROUTINE_DEFINITION)) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
					ORDER BY 1`, db, db, db, db)
			}
			liveBefore, replBefore := objects(set.live), objects(set.repl)
			boom := errors.New("boom")
			swapHooks.Store(set.live, func(s string) error {
				if s == step {
					return boom
				}
				return nil
			})
			defer swapHooks.Delete(set.live)
			if err := d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner); !errors.Is(err, boom) {
				t.Fatalf("SwapDatabase = %v, want boom", err)
			}
			idx := slices.Index(mariaSwapSteps, step)
			if idx < slices.Index(mariaSwapSteps, "swapped") {
				if got := objects(set.live); !slices.Equal(got, liveBefore) {
					t.Errorf("live's objects after rollback = %q, want %q", got, liveBefore)
				}
				if got := objects(set.repl); !slices.Equal(got, replBefore) {
					t.Errorf("replacement's objects after rollback = %q, want %q", got, replBefore)
				}
				if ok, _ := d.DatabaseExists(ctx, set.ret); ok {
					t.Error("retired still exists after rollback")
				}
				c, closeFn, err := mariaLogin(ctx, set.owner, set.pw, set.live)
				must(t, "owner login after failed swap", err)
				_, err = c.ExecContext(ctx, "INSERT INTO child VALUES (9, 1, 'ins')")
				must(t, "insert", err)
				var notes string
				must(t, "read", c.QueryRowContext(ctx, "SELECT note FROM child WHERE id = 9").Scan(&notes))
				_, err = c.ExecContext(ctx, "DELETE FROM child WHERE id = 9")
				must(t, "delete", err)
				closeFn()
				if notes != "ins|old" {
					t.Errorf("old trigger after rollback: note %q, want %q", notes, "ins|old")
				}
			} else {
				if child, _ := mariaTableNotes(t, set.live); child != "new-c1,new-c2" {
					t.Errorf("after failure at %s live's tables are %q, want new", step, child)
				}
				_, closeFn, err := mariaLogin(ctx, set.owner, set.pw, set.live)
				if idx < slices.Index(mariaSwapSteps, "accounts-unlocked") && mariaErrNo(err) != mariaErrAccountLocked {
					t.Errorf("after failure at %s: owner login = %v, want account locked", step, err)
				}
				if err == nil {
					closeFn()
				}
			}
			swapHooks.Delete(set.live)
			must(t, "SwapDatabase", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
			mariaCheckNew(t, d, set)
			mariaCheckRetired(t, d, set)
		})
	}
}

func TestMariaDBSwapRefuses(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	set := mariaSwapSetup(t, d, "swp_my_ref")
	other := "swp_my_ref_other"
	mariaCleanup(t, d, []string{"swp_my_ref_x"}, []string{other})
	must(t, "EnsureUser other", d.EnsureUser(ctx, other, "Other-pw-123"))
	admin := mariaAdmin(t)

	for _, c := range []struct {
		name                 string
		live, repl, ret, own string
		want                 error
	}{
		{"same names", set.live, set.repl, set.repl, set.owner, nil},
		{"reserved", "mysql", set.repl, set.ret, set.owner, provision.ErrReserved},
		{"bad name", set.live, "Bad", set.ret, set.owner, nil},
		{"wrong owner", set.live, set.repl, set.ret, other, provision.ErrSwapConflict},
		{"no live", "swp_my_ref_nolive", set.repl, set.ret, set.owner, provision.ErrNoSuchDatabase},
		{"admin owner", set.live, set.repl, set.ret, mariaAdminUser, provision.ErrReserved},
	} {
		err := d.SwapDatabase(ctx, c.live, c.repl, c.ret, c.own)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: SwapDatabase = %v, want %v", c.name, err, c.want)
		}
	}
	// A retired name that is taken by a database with contents.
	must(t, "EnsureDatabase x", d.EnsureDatabase(ctx, "swp_my_ref_x", set.owner))
	_, err := admin.ExecContext(ctx, "CREATE TABLE swp_my_ref_x.t (x INT)")
	must(t, "create table in x", err)
	if err := d.SwapDatabase(ctx, set.live, set.repl, "swp_my_ref_x", set.owner); !errors.Is(err, provision.ErrSwapConflict) {
		t.Errorf("existing retired: SwapDatabase = %v, want provision.ErrSwapConflict", err)
	}
	// An object of replacement with the admin as definer.
	_, err = admin.ExecContext(ctx, "CREATE DEFINER = CURRENT_USER VIEW "+mariaQuote(set.repl)+".adminview AS SELECT 1 AS x")
	must(t, "create admin view", err)
	err = d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner)
	if !errors.Is(err, provision.ErrSwapConflict) || !strings.Contains(err.Error(), "adminview") {
		t.Errorf("admin-defined view: SwapDatabase = %v, want provision.ErrSwapConflict naming it", err)
	}
	if ok, _ := d.DatabaseExists(ctx, set.ret); ok {
		t.Error("a refused swap created retired")
	}
	if child, _ := mariaTableNotes(t, set.live); child != "old-c1,old-c2" {
		t.Errorf("a refused swap changed live: %q", child)
	}
	c, closeFn, err := mariaLogin(ctx, set.owner, set.pw, set.live)
	must(t, "live still open after refusals", err)
	_ = c
	closeFn()
}
