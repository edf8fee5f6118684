package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/provision"
)

// The tenant-side tests of connection limits: logged in as the tenant with
// a real client, every way to lift its own limit is tried, then the limit is
// shown to hold at limit+1.

// TestTenant_PostgreSQL_CannotLiftConnectionLimit: the owner can still run
// ALTER DATABASE own CONNECTION LIMIT -1 (an owner's right PostgreSQL does
// not let anyone revoke), but ALTER ROLE on itself is refused, and with the
// database-level limit lifted the role limit still refuses session limit+1.
func TestTenant_PostgreSQL_CannotLiftConnectionLimit(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const user, db, pw, limit = "cust_tlim_u", "cust_tlim_db", "pw-tenant-limit", 3
	pgCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, db, user, limit))

	tenant, err := pgLogin(ctx, user, pw, db)
	must(t, "tenant login", err)
	defer tenant.Close(context.Background())

	// Lifting the database's limit succeeds for its owner...
	if _, err := tenant.Exec(ctx, "ALTER DATABASE "+db+" CONNECTION LIMIT -1"); err != nil {
		t.Logf("ALTER DATABASE … CONNECTION LIMIT -1 as the owner: %v", err)
	}
	// ...but no statement can touch the role's limit or attributes.
	for _, stmt := range []string{
		"ALTER ROLE " + user + " CONNECTION LIMIT -1",
		"ALTER ROLE " + user + " CONNECTION LIMIT 1000",
		"ALTER ROLE CURRENT_USER CONNECTION LIMIT -1",
		"ALTER USER " + user + " WITH CONNECTION LIMIT -1",
		"ALTER ROLE " + user + " CREATEROLE",
		"ALTER ROLE " + user + " SUPERUSER",
		"CREATE ROLE cust_tlim_helper LOGIN CONNECTION LIMIT -1",
		"UPDATE pg_catalog.pg_authid SET rolconnlimit = -1 WHERE rolname = '" + user + "'",
	} {
		if _, err := tenant.Exec(ctx, stmt); err == nil {
			t.Errorf("as the tenant, %q succeeded", stmt)
		} else if st := sqlState(err); st != "42501" {
			t.Errorf("as the tenant, %q: got %v, want SQLSTATE 42501 (insufficient privilege)", stmt, err)
		}
	}
	var roleLimit int
	must(t, "read rolconnlimit", admin.QueryRow(ctx, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", user).Scan(&roleLimit))
	if roleLimit != limit {
		t.Fatalf("rolconnlimit = %d after the tenant's attempts, want %d", roleLimit, limit)
	}

	// The tenant's session is one of limit; open the rest, then one more.
	pgLoginN(t, ctx, limit-1, user, pw, db)
	c, err := pgLogin(ctx, user, pw, db)
	if err == nil {
		c.Close(ctx)
		t.Fatalf("session %d accepted with a role CONNECTION LIMIT of %d (database limit lifted by the tenant)", limit+1, limit)
	}
	if sqlState(err) != "53300" || !strings.Contains(err.Error(), "too many connections for role") {
		t.Fatalf("session %d: got %v, want SQLSTATE 53300 too many connections for role", limit+1, err)
	}
	// The reported limit is the binding one, not the lifted one.
	info, err := d.DatabaseInfo(ctx, db, user)
	must(t, "DatabaseInfo", err)
	if info.ConnectionLimit != limit {
		t.Errorf("DatabaseInfo.ConnectionLimit = %d with the database limit lifted, want the role's %d", info.ConnectionLimit, limit)
	}
	// ConnectionLimits shows the lifted database limit, for the reconciler.
	got, err := d.ConnectionLimits(ctx, "cust_tlim_")
	must(t, "ConnectionLimits", err)
	want := []provision.LimitSetting{
		{Object: `role "cust_tlim_u"`, User: user, Limit: limit},
		{Object: `database "cust_tlim_db"`, User: user, Database: db, Limit: provision.Unlimited},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ConnectionLimits = %+v, want %+v", got, want)
	}
	// SetConnectionLimit puts the database's limit back.
	must(t, "SetConnectionLimit again", d.SetConnectionLimit(ctx, db, user, limit))
	var dbLimit int
	must(t, "read datconnlimit", admin.QueryRow(ctx, "SELECT datconnlimit FROM pg_database WHERE datname = $1", db).Scan(&dbLimit))
	if dbLimit != limit {
		t.Errorf("datconnlimit = %d after SetConnectionLimit, want %d", dbLimit, limit)
	}
}
