package mariadb

import (
	"slices"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/provision"
)

// The tenant-side tests of connection limits: logged in as the tenant with
// a real client, every way to lift its own limit is tried, then the limit is
// shown to hold at limit+1.

// TestTenant_MariaDB_CannotLiftConnectionLimit: the tenant holds no GRANT
// OPTION and no right to alter accounts, so every way to change its own
// MAX_USER_CONNECTIONS is refused, and session limit+1 is refused.
func TestTenant_MariaDB_CannotLiftConnectionLimit(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const user, db, pw, limit = "cust_tlim_u", "cust_tlim_db", "pw-tenant-limit", 3
	mariaCleanup(t, d, []string{db}, []string{user})
	must(t, "EnsureUser", d.EnsureUser(ctx, user, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, user))
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, db, user, limit))

	tenant, done, err := mariaLogin(ctx, user, pw, db)
	must(t, "tenant login", err)
	defer done()

	// What the tenant holds: no GRANT OPTION, no global privilege.
	rows, err := tenant.QueryContext(ctx, "SHOW GRANTS")
	must(t, "SHOW GRANTS", err)
	grants, err := scanStrings(rows)
	must(t, "SHOW GRANTS", err)
	for _, g := range grants {
		if strings.Contains(g, "GRANT OPTION") || strings.Contains(g, "ON *.*") && !strings.HasPrefix(g, "GRANT USAGE ON *.*") {
			t.Errorf("tenant holds %q", g)
		}
	}
	for _, stmt := range []string{
		"ALTER USER CURRENT_USER() WITH MAX_USER_CONNECTIONS 0",
		"ALTER USER '" + user + "'@'%' WITH MAX_USER_CONNECTIONS 1000",
		"GRANT USAGE ON *.* TO '" + user + "'@'%' WITH MAX_USER_CONNECTIONS 0",
		"GRANT ALL ON `" + db + "`.* TO '" + user + "'@'%' WITH MAX_USER_CONNECTIONS 0",
		"CREATE USER 'cust_tlim_helper'@'%' IDENTIFIED BY 'x'",
		"UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.max_user_connections', 0) WHERE User = '" + user + "'",
		"SET GLOBAL max_user_connections = 0",
		"FLUSH PRIVILEGES",
	} {
		if _, err := tenant.ExecContext(ctx, stmt); err == nil {
			t.Errorf("as the tenant, %q succeeded", stmt)
		} else {
			t.Logf("as the tenant, %q: refused (%v)", stmt, err)
		}
	}
	rows, err = admin.QueryContext(ctx, "SELECT CONCAT(Host, '=', max_user_connections) FROM mysql.user WHERE User = ?", user)
	must(t, "read max_user_connections", err)
	got, err := scanStrings(rows)
	must(t, "read max_user_connections", err)
	if want := []string{"%=3"}; !slices.Equal(got, want) {
		t.Fatalf("max_user_connections = %v after the tenant's attempts, want %v", got, want)
	}

	mariaLoginN(t, ctx, limit-1, user, pw, db)
	if _, done, err := mariaLogin(ctx, user, pw, db); err == nil {
		done()
		t.Fatalf("session %d accepted with MAX_USER_CONNECTIONS %d", limit+1, limit)
	} else if mariaErrNo(err) != mariaErrUserLimitReached {
		t.Fatalf("session %d: got %v, want error 1226 (max_user_connections)", limit+1, err)
	}

	// ConnectionLimits reports the account's limit, and 0 as Unlimited.
	settings, err := d.ConnectionLimits(ctx, "cust_tlim_")
	must(t, "ConnectionLimits", err)
	if want := []provision.LimitSetting{{Object: "account 'cust_tlim_u'@'%'", User: user, Limit: limit}}; !slices.Equal(settings, want) {
		t.Errorf("ConnectionLimits = %+v, want %+v", settings, want)
	}
	_, err = admin.ExecContext(ctx, "ALTER USER '"+user+"'@'%' WITH MAX_USER_CONNECTIONS 0")
	must(t, "admin lifts the limit", err)
	settings, err = d.ConnectionLimits(ctx, "cust_tlim_")
	must(t, "ConnectionLimits", err)
	if len(settings) != 1 || settings[0].Limit != provision.Unlimited {
		t.Errorf("ConnectionLimits after lifting = %+v, want provision.Unlimited", settings)
	}
}
