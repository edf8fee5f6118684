package provisiontest

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/provision"
)

// CheckValidatesBeforeSQL calls every method that takes a name with bad
// names on d, a driver that has no connection at all: a method that built
// or sent SQL before validating would panic on the nil pool.
func CheckValidatesBeforeSQL(t *testing.T, d provision.Driver) {
	t.Helper()
	ctx := context.Background()
	bad := []string{"", "Bad", "a-b", "a'b", "a`b", "a;b", "a b", strings.Repeat("a", 64), "ü"}
	{
		for _, name := range bad {
			calls := map[string]error{
				"EnsureUser":          d.EnsureUser(ctx, name, "pw"),
				"EnsureDatabase/name": d.EnsureDatabase(ctx, name, "owner"),
				"EnsureDatabase/own":  d.EnsureDatabase(ctx, "db", name),
				"DropDatabase":        d.DropDatabase(ctx, name),
				"DropUser":            d.DropUser(ctx, name),
			}
			_, calls["DatabaseExists"] = d.DatabaseExists(ctx, name)
			_, calls["UserExists"] = d.UserExists(ctx, name)
			calls["SetConnectionLimit/name"] = d.SetConnectionLimit(ctx, name, "owner", 10)
			calls["SetConnectionLimit/own"] = d.SetConnectionLimit(ctx, "db", name, 10)
			_, calls["UserSessions"] = d.UserSessions(ctx, name)
			_, calls["EndSessions"] = d.EndSessions(ctx, name, []int64{1, 2})
			_, calls["EndDatabaseSessions/name"] = d.EndDatabaseSessions(ctx, name, "owner")
			_, calls["EndDatabaseSessions/own"] = d.EndDatabaseSessions(ctx, "db", name)
			_, calls["DatabaseInfo/name"] = d.DatabaseInfo(ctx, name, "owner")
			_, calls["DatabaseInfo/own"] = d.DatabaseInfo(ctx, "db", name)
			_, calls["ApplyAccess/name"] = d.ApplyAccess(ctx, provision.AccessPolicy{Databases: map[string]provision.DatabaseAccess{name: {Owner: "owner"}}}, nil)
			_, calls["ApplyAccess/own"] = d.ApplyAccess(ctx, provision.AccessPolicy{Databases: map[string]provision.DatabaseAccess{"db": {Owner: name}}}, nil)
			if name != "" { // the empty prefix is valid: list everything
				_, calls["ListDatabases"] = d.ListDatabases(ctx, name)
				_, calls["ListUsers"] = d.ListUsers(ctx, name)
			}
			for method, err := range calls {
				if err == nil || !strings.Contains(err.Error(), "invalid identifier") {
					t.Errorf("%s %s(%q) = %v, want invalid identifier error", d.Engine(), method, name, err)
				}
			}
		}
		// Bad connection limits are rejected before SQL too.
		for _, limit := range []int{0, -2, -1000, math.MinInt, math.MaxInt32 + 1, math.MaxInt} {
			err := d.SetConnectionLimit(ctx, "cust_ok", "cust_ok", limit)
			if err == nil || !strings.Contains(err.Error(), "invalid connection limit") {
				t.Errorf("%s SetConnectionLimit(limit %d) = %v, want invalid connection limit", d.Engine(), limit, err)
			}
		}
		// Bad passwords are rejected before SQL too, and never echoed.
		for _, pw := range []string{"", "pässwörd-secret"} {
			err := d.EnsureUser(ctx, "cust_ok", pw)
			if err == nil || (pw != "" && strings.Contains(err.Error(), pw)) {
				t.Errorf("%s EnsureUser(bad password) = %v", d.Engine(), err)
			}
		}
	}
}
