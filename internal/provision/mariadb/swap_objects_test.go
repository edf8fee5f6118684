package mariadb

// The MariaDB swap's handling of the objects RENAME TABLE does not move:
// the schema rewrite of their definitions, a round trip, and a swap
// blocked by a lock.

import (
	"strings"
	"testing"
	"time"
)

func TestMariaRewriteSchema(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"select `r`.`t`.`a` AS `a` from `r`.`t`", "select `l`.`t`.`a` AS `a` from `l`.`t`"},
		{`CREATE TRIGGER r.trg BEFORE INSERT ON r.t FOR EACH ROW SET @x = "r".f()`, `CREATE TRIGGER l.trg BEFORE INSERT ON l.t FOR EACH ROW SET @x = "l".f()`},
		{"nextval(`r`.`s`)", "nextval(`l`.`s`)"},
		// Not a qualifier naming r: a longer name, a column of table r, a
		// quoted name without a dot.
		{"SELECT xr.a, r_x.b, t.r.c, `r` FROM `xr`.t", "SELECT xr.a, r_x.b, t.r.c, `r` FROM `xr`.t"},
		{"r.t", "l.t"},
		{"(r.t)", "(l.t)"},
	} {
		if got := string(mariaRewriteSchema([]byte(c.in), "r", "l")); got != c.want {
			t.Errorf("rewrite %q = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestMariaDBSwapRoundTrip swaps in objects created under unusual session
// settings and checks that each one's SHOW CREATE text, byte for byte (with
// the schema renamed), and its saved settings are the same in live after
// the swap as they were in replacement, and that they work.
func TestMariaDBSwapRoundTrip(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	set := mariaSwapSetup(t, d, "swp_my_rt")
	run := func(db string, stmts ...string) {
		t.Helper()
		c, closeFn, err := mariaLogin(ctx, set.owner, set.pw, db)
		must(t, "login", err)
		defer closeFn()
		for _, s := range stmts {
			if _, err := c.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	r := set.repl
	run(set.live, "SET sql_mode = 'ORACLE'",
		"CREATE PACKAGE old_pk AS FUNCTION f1 RETURN INT; END",
		"CREATE PACKAGE BODY old_pk AS FUNCTION f1 RETURN INT AS BEGIN RETURN 1; END; END")
	run(r,
		"SET sql_mode = 'ORACLE'",
		"CREATE PACKAGE pk AS FUNCTION f1 RETURN INT; END",
		"CREATE PACKAGE BODY pk AS FUNCTION f1 RETURN INT AS BEGIN RETURN 7; END; END",
		"SET sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES'",
		`CREATE PROCEDURE "p_ansi"() SELECT COUNT(*) FROM "`+r+`"."child"`,
		"SET sql_mode = DEFAULT",
		// latin1 client: the literal is the single byte E9, é in latin1.
		"SET NAMES latin1",
		"CREATE TRIGGER trg_l1 BEFORE INSERT ON tick FOR EACH ROW SET NEW.note = CONCAT(NEW.note, '\xe9')",
		"SET NAMES utf8mb4",
		"CREATE TRIGGER "+r+".trg_q AFTER INSERT ON "+r+".parent FOR EACH ROW INSERT INTO "+r+".tick (note) VALUES (NEW.name)",
		"SET time_zone = '+05:00'",
		"CREATE EVENT ev_tz ON SCHEDULE AT '2037-06-01 12:00:00' ON COMPLETION PRESERVE DISABLE DO DELETE FROM tick",
		"SET time_zone = DEFAULT",
		"CREATE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW v_opts AS SELECT id, name FROM parent WHERE id < 100 WITH CHECK OPTION",
	)
	s := &mariaSwap{m: d, live: set.live, replacement: set.repl, retired: set.ret, owner: set.owner}
	defs := func(db, side string) map[string]mariaObject {
		t.Helper()
		listed, err := s.listObjects(ctx, db)
		must(t, "listObjects", err)
		objs, err := s.fetchDefinitions(ctx, db, side, listed)
		must(t, "fetchDefinitions", err)
		out := map[string]mariaObject{}
		for _, o := range objs {
			out[o.kind+" "+o.subject+" "+o.name] = o
		}
		return out
	}
	before := defs(set.repl, "replacement")

	must(t, "SwapDatabase", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	after := defs(set.live, "replacement")
	if len(after) != len(before) {
		t.Errorf("live has %d objects after the swap, replacement had %d", len(after), len(before))
	}
	for k, b := range before {
		a, ok := after[k]
		if !ok {
			t.Errorf("%s missing in live", k)
			continue
		}
		want := string(mariaRewriteSchema(b.def, set.repl, set.live))
		if string(a.def) != want {
			t.Errorf("%s: definition\n got %q\nwant %q", k, a.def, want)
		}
		if a.sqlMode != b.sqlMode || a.csClient != b.csClient || a.collConn != b.collConn || a.timeZone != b.timeZone || a.ord != b.ord {
			t.Errorf("%s: settings %q/%q/%q/%q/%d, were %q/%q/%q/%q/%d", k, a.sqlMode, a.csClient, a.collConn, a.timeZone, a.ord,
				b.sqlMode, b.csClient, b.collConn, b.timeZone, b.ord)
		}
	}
	if _, ok := after["routine PACKAGE old_pk"]; ok {
		t.Error("live's old package survived the swap")
	}

	// They work.
	c, closeFn, err := mariaLogin(ctx, set.owner, set.pw, set.live)
	must(t, "login", err)
	defer closeFn()
	_, err = c.ExecContext(ctx, "INSERT INTO parent (name) VALUES ('rt')")
	must(t, "insert parent (trg_q)", err)
	var note string
	must(t, "read tick", c.QueryRowContext(ctx, "SELECT note FROM tick ORDER BY id DESC LIMIT 1").Scan(&note))
	if note != "rté" {
		t.Errorf("note from trg_q + trg_l1 = %q, want %q", note, "rté")
	}
	var n int
	_, err = c.ExecContext(ctx, "SET sql_mode = 'ORACLE'")
	must(t, "oracle mode", err)
	must(t, "package function", c.QueryRowContext(ctx, "SELECT pk.f1()").Scan(&n))
	if n != 7 {
		t.Errorf("pk.f1() = %d, want 7", n)
	}
	_, err = c.ExecContext(ctx, "SET sql_mode = DEFAULT")
	must(t, "default mode", err)
	must(t, "p_ansi", c.QueryRowContext(ctx, "CALL p_ansi()").Scan(&n))
	if n != 2 {
		t.Errorf("p_ansi() = %d, want 2 (live's child rows)", n)
	}
	if _, err := c.ExecContext(ctx, "INSERT INTO v_opts (id, name) VALUES (500, 'x')"); mariaErrNo(err) != 1369 {
		t.Errorf("insert through v_opts outside its CHECK OPTION: %v, want error 1369", err)
	}
}

// TestMariaDBSwapBlockedByLock runs a swap while an admin transaction (like
// a backup's) holds a metadata lock on a table of live: the swap gives up
// after its lock wait, rolls back completely and unlocks the owner; once
// the transaction ends, a retry swaps.
func TestMariaDBSwapBlockedByLock(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	set := mariaSwapSetup(t, d, "swp_my_mdl")
	blocker, err := mariaAdmin(t).Conn(ctx)
	must(t, "admin conn", err)
	defer blocker.Close()
	_, err = blocker.ExecContext(ctx, "START TRANSACTION")
	must(t, "begin", err)
	var n int
	must(t, "read live", blocker.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+mariaQuote(set.live)+".child").Scan(&n))

	start := time.Now()
	err = d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner)
	if mariaErrNo(err) != mariaErrLockWaitTimeout {
		t.Fatalf("SwapDatabase = %v, want a lock wait timeout", err)
	}
	t.Logf("gave up after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if ok, _ := d.DatabaseExists(ctx, set.ret); ok {
		t.Error("retired still exists after rollback")
	}
	c, closeFn, err := mariaLogin(ctx, set.owner, set.pw, set.live)
	must(t, "owner login after failed swap", err)
	var notes, view, f string
	must(t, "read", c.QueryRowContext(ctx, mariaSwapSnapshot).Scan(&notes, &view, &f))
	closeFn()
	if notes != "old-c1,old-c2" || f != "old" || !strings.HasPrefix(view, "old-c1/old-p1") {
		t.Errorf("after failed swap owner sees %q / %q / %q, want the old database", notes, view, f)
	}

	_, err = blocker.ExecContext(ctx, "COMMIT")
	must(t, "commit", err)
	must(t, "SwapDatabase", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	mariaCheckNew(t, d, set)
	mariaCheckRetired(t, d, set)
}
