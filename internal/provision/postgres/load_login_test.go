package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/provision"
)

func execOn(ctx context.Context, c *pgx.Conn, q string) error {
	_, err := c.Exec(ctx, q)
	return err
}

// TestPostgresLoadLogin_WorksWhateverTheAllowlist_GainsNothing_LeavesNothing:
// a load login gets in from an address the owner's allowlist refuses, has
// no attribute of its own, cannot become more than the owner after RESET
// ROLE, and DropLoadLogin gives what tenant code made as it to the owner
// and removes it.
func TestPostgresLoadLogin_WorksWhateverTheAllowlist_GainsNothing_LeavesNothing(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const owner, db, pw = "cust_ll_u", "cust_ll", "pw-ll-owner"
	const login = provision.PGLoadLoginPrefix + "test01"
	pgCleanup(t, d, []string{db}, []string{login, owner})
	must(t, "EnsureUser", d.EnsureUser(ctx, owner, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, owner))
	pgHBASetup(t, d)
	_, err := d.ApplyAccess(ctx, provision.AccessPolicy{Closed: true, Databases: map[string]provision.DatabaseAccess{db: {Owner: owner, Sources: pfx("127.0.0.2/32")}}}, nil)
	must(t, "ApplyAccess", err)
	if c, err := pgLoginFrom(ctx, "127.0.0.3", owner, pw, db); !pgHBARejects(err) {
		if c != nil {
			c.Close(ctx)
		}
		t.Fatalf("the owner from 127.0.0.3: %v, want refused", err)
	}

	if err := d.EnsureLoadLogin(ctx, "cust_not_a_load_login", owner, "pw-load-1"); err == nil {
		t.Error("EnsureLoadLogin accepted a name without the prefix")
	}
	if err := d.EnsureLoadLogin(ctx, login, "postgres", "pw-load-1"); err == nil {
		t.Error("EnsureLoadLogin accepted a superuser as owner")
	}
	must(t, "EnsureLoadLogin", d.EnsureLoadLogin(ctx, login, owner, "pw-load-1"))
	must(t, "EnsureLoadLogin again", d.EnsureLoadLogin(ctx, login, owner, "pw-load-2"))
	c, err := pgLoginFrom(ctx, "127.0.0.3", login, "pw-load-2", db)
	must(t, "load login from 127.0.0.3", err)
	defer c.Close(ctx)
	var super, createrole, createdb bool
	must(t, "attributes", c.QueryRow(ctx, "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = session_user").Scan(&super, &createrole, &createdb))
	if super || createrole || createdb {
		t.Fatalf("load login attributes: super %v createrole %v createdb %v", super, createrole, createdb)
	}
	// What tenant code could do in a restore's session: act as owner,
	// RESET ROLE, try to escalate, create something as the login.
	must(t, "SET ROLE owner", execOn(ctx, c, "SET ROLE "+owner))
	must(t, "CREATE TABLE as owner", execOn(ctx, c, "CREATE TABLE mine (x int)"))
	must(t, "RESET ROLE", execOn(ctx, c, "RESET ROLE"))
	// In DO blocks: TestPostgresNoSecretsInLog checks that no failing
	// statement starting with ALTER/CREATE ROLE reaches the server log.
	if err := execOn(ctx, c, "DO $$ BEGIN EXECUTE 'ALTER ROLE "+owner+" SUPERUSER'; END $$"); err == nil {
		t.Fatal("the load login made the owner a superuser")
	}
	if err := execOn(ctx, c, "DO $$ BEGIN EXECUTE 'CREATE ROLE cust_ll_evil'; END $$"); err == nil {
		t.Fatal("the load login created a role")
	}
	must(t, "CREATE TABLE as login", execOn(ctx, c, "CREATE TABLE left_by_login (x int)"))
	c.Close(ctx)

	must(t, "DropLoadLogin", d.DropLoadLogin(ctx, login, owner, "pw-load-3", db, "cust_ll_no_such_db"))
	must(t, "DropLoadLogin again", d.DropLoadLogin(ctx, login, owner, "pw-load-4", db))
	if ok, err := d.UserExists(ctx, login); err != nil || ok {
		t.Fatalf("load login still exists (%v)", err)
	}
	oc, err := pgLoginFrom(ctx, "127.0.0.2", owner, pw, db)
	must(t, "owner login", err)
	defer oc.Close(ctx)
	var owners string
	must(t, "owners", oc.QueryRow(ctx, `SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class WHERE relname IN ('mine', 'left_by_login')`).Scan(&owners))
	if owners != owner {
		t.Errorf("tables are owned by %q, want %q", owners, owner)
	}
	var n int
	must(t, "superusers", admin.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1 AND rolsuper", owner).Scan(&n))
	if n != 0 {
		t.Error("the owner is a superuser")
	}
	if err := d.DropLoadLogin(ctx, owner, owner, "x", db); err == nil || !strings.Contains(err.Error(), provision.PGLoadLoginPrefix) {
		t.Errorf("DropLoadLogin of a tenant role: %v, want refused", err)
	}
}
