package api_test

// Tenant code that runs while a snapshot is restored must gain nothing:
// each test plants a PostgreSQL object that tries to make its owner a
// superuser (RESET ROLE, then ALTER ROLE ... SUPERUSER) at one of the
// points where a restore evaluates tenant code, snapshots, restores in
// place and to a new name through the API, and checks from outside that
// no role gained anything, no role was created or left behind, and the
// data is intact.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/testenv"
)

// pgEscalator is the attacker's function: when it runs in a session whose
// session user differs from the current user (as under pg_restore --role),
// it tries RESET ROLE and ALTER ROLE owner SUPERUSER, and records in
// esc_log where it ran, as whom, and what happened. esc_imm wraps it as
// IMMUTABLE for index and generated-column expressions (volatility is per
// function, so the inner one may still write).
func pgEscalator(owner string) []string {
	return []string{
		`CREATE TABLE esc_log (at text, sess text, cur text, outcome text)`,
		`CREATE FUNCTION esc(at text) RETURNS boolean LANGUAGE plpgsql AS $f$
		DECLARE o text := 'no attempt';
		BEGIN
		  IF session_user::text <> current_user::text OR at LIKE 'always%' THEN
		    BEGIN
		      RESET ROLE;
		      EXECUTE format('ALTER ROLE %I SUPERUSER CREATEROLE CREATEDB', '` + owner + `');
		      o := 'escalated';
		    EXCEPTION WHEN OTHERS THEN o := 'refused: ' || SQLERRM;
		    END;
		  END IF;
		  BEGIN
		    INSERT INTO public.esc_log VALUES (at, session_user, current_user, o);
		  EXCEPTION WHEN OTHERS THEN NULL;
		  END;
		  RETURN true;
		END $f$`,
		`CREATE FUNCTION esc_imm(at text, x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
		BEGIN PERFORM public.esc(at); RETURN x; END $f$`,
	}
}

type pgRoleState struct {
	owner      string // the owner's attributes
	members    []string
	memberOf   []string
	superusers []string
}

func pgRoles(t *testing.T, admin *pgx.Conn, owner string) pgRoleState {
	t.Helper()
	ctx := context.Background()
	var st pgRoleState
	must(t, admin.QueryRow(ctx, `SELECT format('super=%s createrole=%s createdb=%s repl=%s bypassrls=%s', rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls)
		FROM pg_roles WHERE rolname = $1`, owner).Scan(&st.owner))
	list := func(q string) []string {
		rows, err := admin.Query(ctx, q, owner)
		must(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		must(t, err)
		slices.Sort(out)
		return out
	}
	st.members = list(`SELECT pg_get_userbyid(member) FROM pg_auth_members WHERE roleid = (SELECT oid FROM pg_roles WHERE rolname = $1)`)
	st.memberOf = list(`SELECT pg_get_userbyid(roleid) FROM pg_auth_members WHERE member = (SELECT oid FROM pg_roles WHERE rolname = $1)`)
	st.superusers = list(`SELECT rolname FROM pg_roles WHERE rolsuper AND $1 <> ''`)
	return st
}

// pgEscalationScenario runs the scenario for one planted object: setup runs
// as the owner after the escalator exists; tables lists queries whose
// results must survive the restore; ran lists the esc_log "at" labels that
// must show the attacker's code ran during the restore (and was refused).
func pgEscalationScenario(t *testing.T, setup, tables, ran []string) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "postgresql", "evil")
	s := openSession(t, "postgresql", db).(pgSession)
	ctx := context.Background()
	for _, q := range append(pgEscalator(db.Username), setup...) {
		if _, err := s.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", firstLine(q), err)
		}
	}
	// Planting it did not escalate (the owner is its own session user).
	must(t, execOn(ctx, s, `TRUNCATE esc_log`))
	want := pgQueryAll(t, s.Conn, tables)
	s.Close()

	admin := e.PG(t)
	before := pgRoles(t, admin, db.Username)
	if strings.Contains(before.owner, "super=true") {
		t.Fatal("the owner is a superuser before the restore")
	}
	snap := takeSnapshot(t, c, db, "with an escalator")

	restoreOK(t, c, db, map[string]any{"snapshot_id": snap.SnapshotID})
	check := func(where string, target created, before pgRoleState) {
		t.Helper()
		after := pgRoles(t, admin, target.Username)
		if after.owner != before.owner {
			t.Errorf("%s: owner attributes changed: %s -> %s", where, before.owner, after.owner)
		}
		if !slices.Equal(after.members, before.members) || !slices.Equal(after.memberOf, before.memberOf) {
			t.Errorf("%s: memberships of the owner changed: %+v -> %+v", where, before, after)
		}
		if !slices.Equal(after.superusers, before.superusers) {
			t.Errorf("%s: superusers changed: %v -> %v", where, before.superusers, after.superusers)
		}
		var leftover []string
		rows, err := admin.Query(ctx, `SELECT rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid
			WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1)`, target.Username)
		must(t, err)
		leftover, err = pgx.CollectRows(rows, pgx.RowTo[string])
		must(t, err)
		if len(leftover) > 0 {
			t.Errorf("%s: roles left with membership in the owner: %v", where, leftover)
		}
		ts := openSession(t, "postgresql", target).(pgSession)
		defer ts.Close()
		if got := pgQueryAll(t, ts.Conn, tables); !slices.Equal(got, want) {
			t.Errorf("%s: data differs after the restore:\n got %v\nwant %v", where, got, want)
		}
		log := pgQueryAll(t, ts.Conn, []string{`SELECT DISTINCT at || ' as ' || sess || '/' || cur || ': ' || outcome FROM esc_log ORDER BY 1`})
		t.Logf("%s: tenant code ran: %v", where, log)
		for _, l := range log {
			if strings.Contains(l, "escalated") {
				t.Errorf("%s: the tenant's code escalated: %s", where, l)
			}
		}
		for _, at := range ran {
			if !slices.ContainsFunc(log, func(l string) bool { return strings.HasPrefix(l, at+" ") }) {
				t.Errorf("%s: the planted code at %q did not run during the restore (the test proves nothing): %v", where, at, log)
			}
		}
	}
	check("in place", db, before)

	var out created
	restoreOK(t, c, db, map[string]any{"snapshot_id": snap.SnapshotID, "target_db_name": "evil_copy"}).Decode(t, &out)
	out.DBType = "postgresql"
	if out.Username == "" {
		out.Username = out.DBName
	}
	fresh := before
	fresh.members, fresh.memberOf = nil, nil // a new owner's own
	check("to a new name", out, fresh)
}

// restoreBody is a restore as the API shows it.
type restoreBody struct {
	RestoreID    string  `json:"restore_id"`
	DBName       string  `json:"db_name"`
	TargetDBName string  `json:"target_db_name"`
	Status       string  `json:"status"`
	Error        *string `json:"error"`
}

// restoreAndWait queues a restore through the API (202) and polls it until
// it has finished; it returns the 202 answer and the final restore.
func restoreAndWait(t *testing.T, c *testenv.Client, db created, body map[string]any) (*testenv.Response, restoreBody) {
	t.Helper()
	r := c.Expect(t, http.StatusAccepted, "POST", path(db, "/restore"), body)
	var q restoreBody
	r.Decode(t, &q)
	if q.Status != "pending" || q.RestoreID == "" || r.Header.Get("Location") != path(db, "/restores/"+q.RestoreID) {
		t.Fatalf("queued restore: %s (Location %q)", r.Body, r.Header.Get("Location"))
	}
	return r, waitRestore(t, c, db, q.RestoreID, 10*time.Minute)
}

func waitRestore(t *testing.T, c *testenv.Client, db created, id string, limit time.Duration) restoreBody {
	t.Helper()
	var q restoreBody
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c.Expect(t, http.StatusOK, "GET", path(db, "/restores/"+id), nil).Decode(t, &q)
		if q.Status == "completed" || q.Status == "failed" {
			return q
		}
	}
	t.Fatalf("restore %s did not finish: %+v", id, q)
	return q
}

// restoreOK restores through the API, waits, and fails the test unless the
// restore completed. It returns the 202 answer.
func restoreOK(t *testing.T, c *testenv.Client, db created, body map[string]any) *testenv.Response {
	t.Helper()
	r, q := restoreAndWait(t, c, db, body)
	if q.Status != "completed" {
		t.Fatalf("restore %s: %s (%v)", q.RestoreID, q.Status, ptr(q.Error))
	}
	return r
}

func ptr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func pgQueryAll(t *testing.T, c *pgx.Conn, queries []string) []string {
	t.Helper()
	var out []string
	for _, q := range queries {
		rows, err := c.Query(context.Background(), q)
		must(t, err)
		for rows.Next() {
			vals, err := rows.Values()
			must(t, err)
			out = append(out, fmt.Sprint(vals...))
		}
		must(t, rows.Err())
	}
	return out
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i > 0 {
		return q[:i]
	}
	return q
}

// The reproduction from the issue: a table whose CHECK constraint escalates.
func TestRestore_PostgreSQL_CheckConstraintCannotEscalate(t *testing.T) {
	pgEscalationScenario(t, []string{
		`CREATE TABLE accounts (id int PRIMARY KEY, balance int CHECK (esc('check')))`,
		`INSERT INTO accounts SELECT g, g * 10 FROM generate_series(1, 50) g`,
	}, []string{`SELECT id, balance FROM accounts ORDER BY id`}, []string{"check"})
}

func TestRestore_PostgreSQL_DomainCheckCannotEscalate(t *testing.T) {
	pgEscalationScenario(t, []string{
		`CREATE DOMAIN money_amount AS int CHECK (esc('domain'))`,
		`CREATE TABLE payments (id int PRIMARY KEY, amount money_amount)`,
		`INSERT INTO payments SELECT g, g FROM generate_series(1, 20) g`,
	}, []string{`SELECT id, amount FROM payments ORDER BY id`}, []string{"domain"})
}

// A DEFAULT is not evaluated by COPY (every column is given); a generated
// column is, so both are planted.
func TestRestore_PostgreSQL_ColumnDefaultCannotEscalate(t *testing.T) {
	pgEscalationScenario(t, []string{
		`CREATE TABLE items (id int PRIMARY KEY, flag boolean DEFAULT esc('default'),
			twice int GENERATED ALWAYS AS (esc_imm('generated', id) * 2) STORED)`,
		`INSERT INTO items (id) SELECT g FROM generate_series(1, 20) g`,
	}, []string{`SELECT id, flag, twice FROM items ORDER BY id`}, []string{"generated"})
}

func TestRestore_PostgreSQL_IndexExpressionCannotEscalate(t *testing.T) {
	pgEscalationScenario(t, []string{
		`CREATE TABLE docs (id int PRIMARY KEY, n int)`,
		`INSERT INTO docs SELECT g, g FROM generate_series(1, 20) g`,
		`CREATE INDEX docs_esc ON docs ((esc_imm('index', n)))`,
	}, []string{`SELECT id, n FROM docs ORDER BY id`}, []string{"index"})
}

// Triggers are created after the data is loaded, so one fires during a
// restore only when restore-time code writes: here the materialized view's
// refresh writes to a table whose trigger escalates.
func TestRestore_PostgreSQL_TriggerCannotEscalate(t *testing.T) {
	pgEscalationScenario(t, []string{
		`CREATE TABLE audit (n int)`,
		`CREATE FUNCTION audit_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
		BEGIN PERFORM public.esc('trigger'); RETURN NEW; END $f$`,
		`CREATE TRIGGER audit_esc BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION audit_trg()`,
		`CREATE FUNCTION touch() RETURNS int LANGUAGE plpgsql AS $f$
		BEGIN INSERT INTO public.audit VALUES (1); RETURN 1; END $f$`,
		`CREATE MATERIALIZED VIEW touched AS SELECT touch() AS t`,
		`TRUNCATE audit`,
	}, []string{`SELECT t FROM touched`}, []string{"trigger"})
}

func TestRestore_PostgreSQL_MaterializedViewRefreshCannotEscalate(t *testing.T) {
	pgEscalationScenario(t, []string{
		`CREATE TABLE base (n int)`,
		`INSERT INTO base SELECT g FROM generate_series(1, 10) g`,
		`CREATE MATERIALIZED VIEW summary AS SELECT sum(n) AS s, esc('matview') AS e FROM base`,
	}, []string{`SELECT s, e FROM summary`}, []string{"matview"})
}

// A view is not evaluated by the load itself; one read by a materialized
// view's refresh is, so both are planted.
func TestRestore_PostgreSQL_ViewCannotEscalate(t *testing.T) {
	pgEscalationScenario(t, []string{
		`CREATE TABLE base (n int)`,
		`INSERT INTO base SELECT g FROM generate_series(1, 10) g`,
		`CREATE VIEW v AS SELECT n, esc('view') AS e FROM base`,
		`CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS c FROM v WHERE e`,
	}, []string{`SELECT c FROM mv`, `SELECT n FROM base ORDER BY n`}, []string{"view"})
}

// A tenant cannot create an event trigger at all (it needs a superuser), so
// none can be in its snapshot; the attempt is refused and the restore
// brings none.
func TestRestore_PostgreSQL_EventTriggerAttemptGainsNothing(t *testing.T) {
	e := testenv.Need(t, env)
	pgEscalationScenario(t, []string{
		`CREATE FUNCTION evt() RETURNS event_trigger LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.esc('always event'); END $f$`,
		`DO $$ BEGIN CREATE EVENT TRIGGER esc_evt ON ddl_command_end EXECUTE FUNCTION evt();
		   EXCEPTION WHEN insufficient_privilege THEN NULL; END $$`,
		`CREATE TABLE t (n int)`,
	}, []string{`SELECT count(*) FROM t`}, nil)
	var n int
	must(t, e.PG(t).QueryRow(context.Background(), `SELECT count(*) FROM pg_event_trigger WHERE evtname = 'esc_evt'`).Scan(&n))
	if n != 0 {
		t.Fatal("an event trigger exists")
	}
}
