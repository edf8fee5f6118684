package api_test

import (
	"net/http"
	"testing"

	"github.com/cellar/cellar/internal/testenv"
)

// Enforcement from real client addresses is proven in internal/e2e, with
// clients in network namespaces; these tests cover the API's contract.

type ruleBody struct {
	RuleID      string  `json:"rule_id"`
	DBName      string  `json:"db_name"`
	DBType      string  `json:"db_type"`
	IPAddress   string  `json:"ip_address"`
	Port        int     `json:"port"`
	Description *string `json:"description"`
}

func TestFirewall_AddListDelete(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			db := createDB(t, c, engine, "walled")
			var r ruleBody
			c.Expect(t, http.StatusCreated, "POST", path(db, "/firewall"), map[string]any{"ip_address": "192.0.2.100", "description": "Office VPN"}).Decode(t, &r)
			if r.IPAddress != "192.0.2.100/32" || r.DBName != db.DBName || r.DBType != engine || r.Port != db.Port || r.Description == nil || *r.Description != "Office VPN" {
				t.Fatalf("rule: %+v", r)
			}
			c.Expect(t, http.StatusCreated, "POST", path(db, "/firewall"), map[string]any{"ip_address": "10.0.0.0/24"})
			var l struct {
				Rules []ruleBody `json:"rules"`
				Total int        `json:"total"`
			}
			c.Expect(t, http.StatusOK, "GET", path(db, "/firewall"), nil).Decode(t, &l)
			if l.Total != 2 || len(l.Rules) != 2 || l.Rules[0].RuleID != r.RuleID {
				t.Fatalf("list: %+v", l)
			}
			// Loopback always works, whatever the rules say.
			s := openSession(t, engine, db)
			s.Close()

			c.Expect(t, http.StatusOK, "DELETE", path(db, "/firewall/"+r.RuleID), nil)
			checkProblem(t, c.Do(t, "DELETE", path(db, "/firewall/"+r.RuleID), nil), http.StatusNotFound, "")
			c.Expect(t, http.StatusOK, "GET", path(db, "/firewall"), nil).Decode(t, &l)
			if l.Total != 1 {
				t.Fatalf("after delete: %+v", l)
			}
		})
	}
}

func TestFirewall_BadRulesGetClearErrors(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	pg := createDB(t, c, "postgresql", "rules")
	my := createDB(t, c, "mariadb", "rules")
	for _, tc := range []struct {
		db     created
		body   any
		status int
		field  string
	}{
		{pg, map[string]any{"ip_address": "not-an-ip"}, 422, "ip_address"},
		{pg, map[string]any{"ip_address": ""}, 422, "ip_address"},
		{pg, map[string]any{}, 422, "ip_address"},
		{pg, map[string]any{"ip_address": "10.0.0.1/24"}, 422, "ip_address"},
		{pg, map[string]any{"ip_address": "10.0.0.0/33"}, 422, "ip_address"},
		{pg, map[string]any{"ip_address": "300.1.1.1"}, 422, "ip_address"},
		{pg, map[string]any{"ip_address": "2001:db8::1/64"}, 422, "ip_address"},
		{pg, map[string]any{"ip_address": "::ffff:10.0.0.1"}, 422, "ip_address"},
		{pg, map[string]any{"ip_address": "fe80::1%eth0"}, 422, "ip_address"},
		{pg, map[string]any{"ip_address": 10}, 422, "ip_address"},
		{pg, map[string]any{"ip_address": "10.1.1.1", "port": 22}, 422, "port"},
		{my, map[string]any{"ip_address": "2001:db8::/64"}, 422, "ip_address"},
	} {
		checkProblem(t, c.Do(t, "POST", path(tc.db, "/firewall"), tc.body), tc.status, tc.field)
	}
	// IPv6: a /64 on PostgreSQL, a single address on MariaDB.
	c.Expect(t, http.StatusCreated, "POST", path(pg, "/firewall"), map[string]any{"ip_address": "2001:db8::/64"})
	c.Expect(t, http.StatusCreated, "POST", path(my, "/firewall"), map[string]any{"ip_address": "2001:db8::7"})
	// Duplicates, including the same network written differently.
	checkProblem(t, c.Do(t, "POST", path(pg, "/firewall"), map[string]any{"ip_address": "2001:0db8:0::/64"}), http.StatusConflict, "")
	// The limit (3 in this test environment).
	c.Expect(t, http.StatusCreated, "POST", path(pg, "/firewall"), map[string]any{"ip_address": "192.0.2.1"})
	c.Expect(t, http.StatusCreated, "POST", path(pg, "/firewall"), map[string]any{"ip_address": "192.0.2.2"})
	checkProblem(t, c.Do(t, "POST", path(pg, "/firewall"), map[string]any{"ip_address": "192.0.2.3"}), http.StatusConflict, "")
	// Rule ids.
	checkProblem(t, c.Do(t, "DELETE", path(pg, "/firewall/not-a-uuid"), nil), http.StatusUnprocessableEntity, "rule_id")
	checkProblem(t, c.Do(t, "DELETE", path(pg, "/firewall/6f9619ff-8b86-d011-b42d-00c04fc964ff"), nil), http.StatusNotFound, "")
	// Another customer sees none of it.
	intruder := e.NewCustomer(t)
	checkProblem(t, intruder.Do(t, "GET", path(pg, "/firewall"), nil), http.StatusNotFound, "")
	checkProblem(t, intruder.Do(t, "POST", path(pg, "/firewall"), map[string]any{"ip_address": "203.0.113.9"}), http.StatusNotFound, "")
	var l struct {
		Rules []ruleBody `json:"rules"`
	}
	c.Expect(t, http.StatusOK, "GET", path(pg, "/firewall"), nil).Decode(t, &l)
	checkProblem(t, intruder.Do(t, "DELETE", path(pg, "/firewall/"+l.Rules[0].RuleID), nil), http.StatusNotFound, "")
}
