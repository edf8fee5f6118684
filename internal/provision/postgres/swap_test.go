package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/provision"
)

// pgSwapSet is one live/replacement/retired trio with its owner.
type pgSwapSet struct {
	live, repl, ret, owner, pw string
	liveOID, replOID           uint32
}

// pgSwapContent fills db, as its owner, with the test schema: a parent
// table with a serial key, a child with a foreign key to it, a sequence, a
// view and a function, all tagged with which ("old" or "new").
func pgSwapContent(t *testing.T, set pgSwapSet, db, which string, seqStart int) {
	t.Helper()
	ctx := testCtx(t)
	c, err := pgLogin(ctx, set.owner, set.pw, db)
	must(t, "login to fill "+db, err)
	defer c.Close(ctx)
	stmts := []string{
		"CREATE TABLE parent (id serial PRIMARY KEY, name text NOT NULL)",
		"CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent(id), note text)",
		"CREATE SEQUENCE s START " + fmt.Sprint(seqStart),
		"SELECT nextval('s')",
		"INSERT INTO parent (name) VALUES ('" + which + "-p1'), ('" + which + "-p2')",
		"INSERT INTO child VALUES (1, 1, '" + which + "-c1'), (2, 2, '" + which + "-c2')",
		"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT '" + which + "'::text $$",
	}
	if which == "old" {
		stmts = append(stmts, "CREATE VIEW v AS SELECT c.note, p.name FROM child c JOIN parent p ON p.id = c.parent_id")
	} else {
		stmts = append(stmts, "INSERT INTO parent (name) VALUES ('new-p3')",
			"CREATE VIEW v AS SELECT c.note || '+view' AS note, upper(p.name) AS name FROM child c JOIN parent p ON p.id = c.parent_id")
	}
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			t.Fatalf("fill %s: %s: %v", db, s, err)
		}
	}
}

// pgSwapSetup creates owner, live (connection limit 7) and replacement
// with different contents, and registers clean-up.
func pgSwapSetup(t *testing.T, d *Driver, prefix string) pgSwapSet {
	t.Helper()
	ctx := testCtx(t)
	set := pgSwapSet{live: prefix + "_live", repl: prefix + "_repl", ret: prefix + "_ret", owner: prefix + "_u", pw: "Swap-pw 1 'q'"}
	pgCleanup(t, d, []string{set.live, set.repl, set.ret}, []string{set.owner})
	must(t, "EnsureUser", d.EnsureUser(ctx, set.owner, set.pw))
	must(t, "EnsureDatabase live", d.EnsureDatabase(ctx, set.live, set.owner))
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, set.live, set.owner, 7))
	must(t, "EnsureDatabase replacement", d.EnsureDatabase(ctx, set.repl, set.owner))
	pgSwapContent(t, set, set.live, "old", 10)
	pgSwapContent(t, set, set.repl, "new", 500)
	set.liveOID, set.replOID = pgOID(t, set.live), pgOID(t, set.repl)
	return set
}

// pgOID returns a database's oid, or 0 if it does not exist.
func pgOID(t *testing.T, db string) uint32 {
	t.Helper()
	var oid uint32
	err := pgAdmin(t).QueryRow(testCtx(t), "SELECT oid FROM pg_database WHERE datname = $1", db).Scan(&oid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	must(t, "read oid", err)
	return oid
}

// pgSwapSnapshot reads, in one statement, what a tenant sees: the child
// notes, the view, the function and the sequence's next value.
const pgSwapSnapshot = `SELECT (SELECT string_agg(note, ',' ORDER BY id) FROM child),
	(SELECT string_agg(note || '/' || name, ',' ORDER BY note) FROM v), f()`

// pgCheckNew checks that live, for its owner, is exactly the new database
// and fully usable.
func pgCheckNew(t *testing.T, d *Driver, set pgSwapSet) {
	t.Helper()
	ctx := testCtx(t)
	if got := pgOID(t, set.live); got != set.replOID {
		t.Fatalf("live has oid %d, want replacement's %d", got, set.replOID)
	}
	c, err := pgLogin(ctx, set.owner, set.pw, set.live)
	must(t, "owner login to live after swap", err)
	defer c.Close(ctx)
	var notes, view, f string
	must(t, "read live", c.QueryRow(ctx, pgSwapSnapshot).Scan(&notes, &view, &f))
	if notes != "new-c1,new-c2" || view != "new-c1+view/NEW-P1,new-c2+view/NEW-P2" || f != "new" {
		t.Errorf("live after swap: notes %q, view %q, f() %q; want the new contents", notes, view, f)
	}
	// The serial and the explicit sequence continue from replacement's.
	var id, next int
	must(t, "insert", c.QueryRow(ctx, "INSERT INTO parent (name) VALUES ('tenant') RETURNING id").Scan(&id))
	if id != 4 {
		t.Errorf("new parent id = %d, want 4 (replacement's serial)", id)
	}
	must(t, "nextval", c.QueryRow(ctx, "SELECT nextval('s')").Scan(&next))
	if next != 501 {
		t.Errorf("nextval(s) = %d, want 501", next)
	}
	if _, err := c.Exec(ctx, "INSERT INTO child VALUES (9, 4, 'ok')"); err != nil {
		t.Errorf("insert child: %v", err)
	}
	// The foreign key is enforced.
	if _, err := c.Exec(ctx, "INSERT INTO child VALUES (10, 99, 'orphan')"); sqlState(err) != "23503" {
		t.Errorf("insert orphan child: %v, want foreign key violation 23503", err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE tenant_made (x int)"); err != nil {
		t.Errorf("owner cannot create a table in the new live: %v", err)
	}
	if _, err := c.Exec(ctx, "CREATE TEMP TABLE tmp (x int)"); err != nil {
		t.Errorf("owner cannot create a temporary table (TEMPORARY privilege): %v", err)
	}

	info, err := d.DatabaseInfo(ctx, set.live, set.owner)
	must(t, "DatabaseInfo", err)
	if info.Owner != set.owner || info.ConnectionLimit != 7 {
		t.Errorf("live: owner %q, limit %d; want %q, 7", info.Owner, info.ConnectionLimit, set.owner)
	}
	admin := pgAdmin(t)
	var allow bool
	var acl string
	must(t, "read pg_database", admin.QueryRow(ctx,
		"SELECT datallowconn, datacl::text FROM pg_database WHERE datname = $1", set.live).Scan(&allow, &acl))
	if want := "{" + set.owner + "=CTc/" + set.owner + "}"; !allow || acl != want {
		t.Errorf("live: datallowconn %v, datacl %s; want true, %s", allow, acl, want)
	}
	if ok, err := d.DatabaseExists(ctx, set.repl); err != nil || ok {
		t.Errorf("replacement still exists (%v, %v)", ok, err)
	}
}

// pgCheckRetired checks that retired holds the old contents (opening it
// to connections for the check).
func pgCheckRetired(t *testing.T, set pgSwapSet) {
	t.Helper()
	ctx := testCtx(t)
	if got := pgOID(t, set.ret); got != set.liveOID {
		t.Fatalf("retired has oid %d, want old live's %d", got, set.liveOID)
	}
	admin := pgAdmin(t)
	var allow bool
	must(t, "read retired", admin.QueryRow(ctx, "SELECT datallowconn FROM pg_database WHERE datname = $1", set.ret).Scan(&allow))
	if allow {
		t.Error("retired accepts connections; want ALLOW_CONNECTIONS false")
	}
	_, err := admin.Exec(ctx, "ALTER DATABASE "+pgQuote(set.ret)+" ALLOW_CONNECTIONS true")
	must(t, "open retired", err)
	defer admin.Exec(context.Background(), "ALTER DATABASE "+pgQuote(set.ret)+" ALLOW_CONNECTIONS false")
	c, err := pgLogin(ctx, set.owner, set.pw, set.ret)
	must(t, "login to retired", err)
	defer c.Close(ctx)
	var notes, view, f string
	must(t, "read retired", c.QueryRow(ctx, pgSwapSnapshot).Scan(&notes, &view, &f))
	if notes != "old-c1,old-c2" || view != "old-c1/old-p1,old-c2/old-p2" || f != "old" {
		t.Errorf("retired: notes %q, view %q, f() %q; want the old contents", notes, view, f)
	}
}

func TestPostgresSwapDatabase(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	set := pgSwapSetup(t, d, "swp_pg_main")

	// An open session on live, inside a transaction, and one on replacement.
	sess, err := pgLogin(ctx, set.owner, set.pw, set.live)
	must(t, "open session on live", err)
	defer sess.Close(context.Background())
	_, err = sess.Exec(ctx, "BEGIN; SELECT * FROM child FOR UPDATE")
	must(t, "begin on live", err)
	sessRepl, err := pgLogin(ctx, set.owner, set.pw, set.repl)
	must(t, "open session on replacement", err)
	defer sessRepl.Close(context.Background())

	// Meanwhile a tenant keeps reconnecting and reading: every answer must be
	// all old or all new, never a mix.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seenOld, seenNew, mixed atomic.Int32
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
			c, err := pgLogin(cctx, set.owner, set.pw, set.live)
			if err == nil {
				var notes, view, f string
				if err := c.QueryRow(cctx, pgSwapSnapshot).Scan(&notes, &view, &f); err == nil {
					switch {
					case notes == "old-c1,old-c2" && strings.HasPrefix(view, "old-c1/old-p1") && f == "old":
						seenOld.Add(1)
					case strings.HasPrefix(notes, "new-c1,new-c2") && strings.HasPrefix(view, "new-c1+view") && f == "new":
						seenNew.Add(1)
					default:
						mixed.Add(1)
						t.Errorf("tenant saw a mix: notes %q, view %q, f() %q", notes, view, f)
					}
				}
				c.Close(cctx)
			}
			cancel()
		}
	}()
	time.Sleep(100 * time.Millisecond)

	must(t, "SwapDatabase", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("tenant reads during the swap: %d old, %d new, %d mixed", seenOld.Load(), seenNew.Load(), mixed.Load())
	if seenNew.Load() == 0 {
		t.Error("tenant never saw the new contents after the swap")
	}

	if _, err := sess.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("session on live survived the swap")
	}
	if _, err := sessRepl.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("session on replacement survived the swap")
	}
	pgCheckNew(t, d, set)
	pgCheckRetired(t, set)

	// Idempotent: again, and again after the caller dropped retired.
	must(t, "SwapDatabase again", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	if pgOID(t, set.live) != set.replOID || pgOID(t, set.ret) != set.liveOID {
		t.Error("second SwapDatabase changed something")
	}
	must(t, "DropDatabase retired", d.DropDatabase(ctx, set.ret))
	must(t, "SwapDatabase after retired dropped", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	if pgOID(t, set.live) != set.replOID {
		t.Error("SwapDatabase after drop of retired changed live")
	}
}

// TestPostgresSwapCrash stops SwapDatabase after each step as a crash
// would, checks that live is then entirely old or entirely new, and that a
// second call completes the swap.
func TestPostgresSwapCrash(t *testing.T) {
	d := newPG(t)
	for i, step := range []string{"closed", "sessions-ended", "swapped"} {
		t.Run(step, func(t *testing.T) {
			ctx := testCtx(t)
			set := pgSwapSetup(t, d, fmt.Sprintf("swp_pg_crash%d", i))
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
			// Live is one database or the other, never something between.
			switch got := pgOID(t, set.live); {
			case step == "swapped" && got != set.replOID:
				t.Errorf("after crash at %s live is oid %d, want the new %d", step, got, set.replOID)
			case step != "swapped" && (got != set.liveOID || pgOID(t, set.repl) != set.replOID):
				t.Errorf("after crash at %s live is oid %d, want the old %d", step, got, set.liveOID)
			}
			// SwapProgress tells a caller what it may do: undo before the
			// commit (only once live is open again), complete after.
			want := map[string]provision.SwapProgress{"closed": provision.SwapPartial, "sessions-ended": provision.SwapPartial, "swapped": provision.SwapDone}[step]
			if got, err := d.SwapProgress(ctx, set.live, set.repl, set.ret); err != nil || got != want {
				t.Errorf("SwapProgress after crash at %s = %v, %v; want %v", step, got, err, want)
			}
			swapHooks.Delete(set.live)
			must(t, "SwapDatabase after crash", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
			pgCheckNew(t, d, set)
			pgCheckRetired(t, set)
		})
	}
}

// TestPostgresSwapFailureReopens checks that a failure before the renaming
// transaction gives the customer the old database back, open, and that a
// later call swaps.
func TestPostgresSwapFailureReopens(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	set := pgSwapSetup(t, d, "swp_pg_fail")
	boom := errors.New("boom")
	swapHooks.Store(set.live, func(s string) error {
		if s == "sessions-ended" {
			return boom
		}
		return nil
	})
	defer swapHooks.Delete(set.live)
	if err := d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner); !errors.Is(err, boom) {
		t.Fatalf("SwapDatabase = %v, want boom", err)
	}
	c, err := pgLogin(ctx, set.owner, set.pw, set.live)
	must(t, "owner login after failed swap", err)
	var notes, view, f string
	must(t, "read live", c.QueryRow(ctx, pgSwapSnapshot).Scan(&notes, &view, &f))
	c.Close(ctx)
	if notes != "old-c1,old-c2" || f != "old" || pgOID(t, set.live) != set.liveOID {
		t.Errorf("after failed swap live has %q / %q, want the old contents", notes, f)
	}
	c, err = pgLogin(ctx, set.owner, set.pw, set.repl)
	must(t, "replacement reopened", err)
	c.Close(ctx)
	if got, err := d.SwapProgress(ctx, set.live, set.repl, set.ret); err != nil || got != provision.SwapNotStarted {
		t.Errorf("SwapProgress after a failed swap = %v, %v; want provision.SwapNotStarted", got, err)
	}

	swapHooks.Delete(set.live)
	must(t, "SwapDatabase", d.SwapDatabase(ctx, set.live, set.repl, set.ret, set.owner))
	pgCheckNew(t, d, set)
}

func TestPostgresSwapRefuses(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	set := pgSwapSetup(t, d, "swp_pg_ref")
	other := "swp_pg_ref_other"
	pgCleanup(t, d, []string{"swp_pg_ref_x"}, []string{other})
	must(t, "EnsureUser other", d.EnsureUser(ctx, other, "Other-pw-123"))

	for _, c := range []struct {
		name                 string
		live, repl, ret, own string
		want                 error
	}{
		{"same names", set.live, set.live, set.ret, set.owner, nil},
		{"reserved", "postgres", set.repl, set.ret, set.owner, provision.ErrReserved},
		{"bad name", set.live, "Bad", set.ret, set.owner, nil},
		{"wrong owner", set.live, set.repl, set.ret, other, provision.ErrSwapConflict},
		{"no live", "swp_pg_ref_nolive", set.repl, set.ret, set.owner, provision.ErrNoSuchDatabase},
		{"superuser owner", set.live, set.repl, set.ret, "postgres", provision.ErrReserved},
	} {
		err := d.SwapDatabase(ctx, c.live, c.repl, c.ret, c.own)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: SwapDatabase = %v, want %v", c.name, err, c.want)
		}
	}
	// A retired name that is taken.
	must(t, "EnsureDatabase x", d.EnsureDatabase(ctx, "swp_pg_ref_x", set.owner))
	if err := d.SwapDatabase(ctx, set.live, set.repl, "swp_pg_ref_x", set.owner); !errors.Is(err, provision.ErrSwapConflict) {
		t.Errorf("existing retired: SwapDatabase = %v, want provision.ErrSwapConflict", err)
	}
	if pgOID(t, set.live) != set.liveOID || pgOID(t, set.repl) != set.replOID {
		t.Error("a refused swap changed the databases")
	}
	c, err := pgLogin(ctx, set.owner, set.pw, set.live)
	must(t, "live still open after refusals", err)
	c.Close(ctx)
}
