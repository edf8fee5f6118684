package postgres

import (
	"context"
	"testing"
)

// TestPostgresEnsureDatabaseClosesSharedDatabases: on a server where PUBLIC
// may still connect to "postgres" and template1 (every stock installation),
// EnsureDatabase revokes that, so a tenant's role reaches neither. A
// tenant session in template1 would make every CREATE DATABASE fail.
func TestPostgresEnsureDatabaseClosesSharedDatabases(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	// Undo the harness's hardening: a stock server.
	_, err := admin.Exec(ctx, "GRANT CONNECT, TEMPORARY ON DATABASE postgres, template1 TO PUBLIC")
	must(t, "open shared databases", err)

	const name = "cust_shared_pg_x"
	const pw = "shared-databases-password"
	pgCleanup(t, d, []string{name}, []string{name})
	must(t, "EnsureUser", d.EnsureUser(ctx, name, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, name, name))

	for _, db := range pgSharedDatabases {
		if c, err := pgLogin(ctx, name, pw, db); err == nil {
			c.Close(context.Background())
			t.Errorf("the tenant's role connected to %s", db)
		}
		var n int
		must(t, "read acl", admin.QueryRow(ctx, `
			SELECT count(*) FROM pg_database d, aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
			WHERE d.datname = $1 AND a.grantee = 0`, db).Scan(&n))
		if n != 0 {
			t.Errorf("PUBLIC still holds %d privileges on %s", n, db)
		}
	}
	// Its own database still works.
	c, err := pgLogin(ctx, name, pw, name)
	must(t, "login to own database", err)
	c.Close(ctx)
}

// TestPostgresTemplateFlagHidesNothing: a tenant may mark its own database
// IS_TEMPLATE (the owner's right in PostgreSQL). The database must still be
// listed and sampled (metrics, usage and the reconciler's drift check go by
// these), and DropDatabase must still drop it, even while the tenant keeps
// a session open to set the flag again.
func TestPostgresTemplateFlagHidesNothing(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const name = "cust_tmpl_pg_x"
	const pw = "template-flag-password"
	pgCleanup(t, d, nil, []string{name})
	must(t, "EnsureUser", d.EnsureUser(ctx, name, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, name, name))
	tenant, err := pgLogin(ctx, name, pw, name)
	must(t, "login", err)
	defer tenant.Close(context.Background())
	_, err = tenant.Exec(ctx, "ALTER DATABASE "+name+" IS_TEMPLATE true")
	must(t, "tenant sets IS_TEMPLATE", err)

	dbs, err := d.ListDatabases(ctx, "cust_tmpl_")
	must(t, "ListDatabases", err)
	if len(dbs) != 1 || dbs[0] != name {
		t.Errorf("ListDatabases = %v, want [%s]", dbs, name)
	}
	s, err := d.Sample(ctx, "cust_tmpl_")
	must(t, "Sample", err)
	if _, ok := s.Databases[name]; !ok {
		t.Errorf("Sample leaves out the tenant's template-flagged database")
	}

	must(t, "DropDatabase", d.DropDatabase(ctx, name))
	if ok, err := d.DatabaseExists(ctx, name); err != nil || ok {
		t.Fatalf("after DropDatabase: exists = %t (%v)", ok, err)
	}
}
