package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/testenv"
)

type keyBody struct {
	ID          string   `json:"id"`
	Prefix      string   `json:"prefix"`
	CustomerID  string   `json:"customer_id"`
	Permissions []string `json:"permissions"`
	Internal    bool     `json:"internal"`
	Key         string   `json:"key"`
}

// Only internal admin keys may mint internal keys, admin keys of another
// customer, or keys of another customer at all; a customer's admin key
// mints keys of its own customer with at most its own permissions.
func TestCreateKey_WhoMayMintWhat(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	own := "t" + strings.ToLower(cellar.RandomToken(9))
	other := "t" + strings.ToLower(cellar.RandomToken(9))
	read, create, del, admin := cellar.PermDatabaseRead, cellar.PermDatabaseCreate, cellar.PermDatabaseDelete, cellar.PermAdmin

	callers := map[string]*testenv.Client{
		"internal admin":     e.Admin(),
		"internal non-admin": e.NewKey(t, "ops", true, read, create),
		"customer admin":     e.NewKey(t, own, false, admin, read, create),
		"customer non-admin": e.NewKey(t, own, false, read, create),
	}
	type mint struct {
		customer string
		perms    []cellar.Permission
		internal bool
	}
	requests := map[string]mint{
		"own customer, held permissions":           {own, []cellar.Permission{read}, false},
		"own customer, admin (held)":               {own, []cellar.Permission{admin, read}, false},
		"own customer, permission not held":        {own, []cellar.Permission{read, del}, false},
		"own customer, internal":                   {own, []cellar.Permission{read}, true},
		"own customer, internal admin":             {own, []cellar.Permission{admin}, true},
		"other customer":                           {other, []cellar.Permission{read}, false},
		"other customer, admin":                    {other, []cellar.Permission{admin}, false},
		"other customer, internal admin":           {other, []cellar.Permission{admin, read, create, del}, true},
		"bootstrap customer (admin), internal":     {"admin", []cellar.Permission{admin}, true},
		"bootstrap customer (admin), not internal": {"admin", []cellar.Permission{read}, false},
	}
	allowed := func(caller, req string) bool {
		switch caller {
		case "internal admin":
			return true
		case "customer admin":
			return req == "own customer, held permissions" || req == "own customer, admin (held)"
		}
		return false
	}
	for cname, c := range callers {
		for rname, m := range requests {
			t.Run(cname+"/"+rname, func(t *testing.T) {
				perms := make([]string, len(m.perms))
				for i, p := range m.perms {
					perms[i] = string(p)
				}
				body := map[string]any{"name": "matrix", "customer_id": m.customer, "permissions": perms, "internal": m.internal}
				r := c.Do(t, "POST", "/v1/admin/keys", body)
				if !allowed(cname, rname) {
					checkProblem(t, r, http.StatusForbidden, "")
					return
				}
				if r.Status != http.StatusCreated {
					t.Fatalf("status %d, want 201: %s", r.Status, r.Body)
				}
				var k keyBody
				r.Decode(t, &k)
				if k.CustomerID != m.customer || k.Internal != m.internal || len(k.Permissions) != len(perms) {
					t.Fatalf("minted %+v for %+v", k, m)
				}
				// The minted key is what it says, no more.
				me := e.Client(k.Key, m.customer).Expect(t, http.StatusOK, "GET", "/v1/me", nil).Map(t)
				if me["internal"] != m.internal || me["customer_id"] != m.customer {
					t.Fatalf("minted key is %v", me)
				}
			})
		}
	}
}

// A customer's admin key sees and revokes only its own customer's keys,
// and cannot lift its own quota; it cannot turn a key it minted into a
// way out either (an admin key it mints has the same limits).
func TestCustomerAdminKey_ReachesOnlyItsOwnCustomer(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	own := "t" + strings.ToLower(cellar.RandomToken(9))
	cadmin := e.NewKey(t, own, false, cellar.PermAdmin, cellar.PermDatabaseRead)
	mine := e.NewKey(t, own, false, cellar.PermDatabaseRead)
	theirs := e.NewCustomer(t)

	var list struct {
		Keys []keyBody `json:"keys"`
	}
	cadmin.Expect(t, http.StatusOK, "GET", "/v1/admin/keys", nil).Decode(t, &list)
	for _, k := range list.Keys {
		if k.CustomerID != own || k.Internal {
			t.Errorf("a customer admin key lists %s of %s (internal %v)", k.Prefix, k.CustomerID, k.Internal)
		}
	}
	if len(list.Keys) != 2 {
		t.Errorf("listed %d keys, want its customer's 2", len(list.Keys))
	}

	// Another customer's key, and an internal key, are not found.
	ops := e.NewKey(t, own, true, cellar.PermDatabaseRead) // internal, though of the same customer id
	for _, c := range []*testenv.Client{theirs, ops} {
		var me struct {
			KeyPrefix string `json:"key_prefix"`
		}
		c.Expect(t, http.StatusOK, "GET", "/v1/me", nil).Decode(t, &me)
		checkProblem(t, cadmin.Do(t, "DELETE", "/v1/admin/keys/"+me.KeyPrefix, nil), http.StatusNotFound, "")
		c.Expect(t, http.StatusOK, "GET", "/v1/me", nil)
	}

	// Its own customer's key it may revoke.
	var meKey struct {
		KeyPrefix string `json:"key_prefix"`
	}
	mine.Expect(t, http.StatusOK, "GET", "/v1/me", nil).Decode(t, &meKey)
	cadmin.Expect(t, http.StatusOK, "DELETE", "/v1/admin/keys/"+meKey.KeyPrefix, nil)
	checkProblem(t, mine.Do(t, "GET", "/v1/me", nil), http.StatusUnauthorized, "")

	// Quotas are the operators' to set.
	checkProblem(t, cadmin.Do(t, "PUT", "/v1/admin/quotas/"+own, map[string]any{"max_databases": 100000}), http.StatusForbidden, "")
	checkProblem(t, cadmin.Do(t, "PUT", "/v1/admin/quotas/"+theirs.CustomerID, map[string]any{"max_databases": 0}), http.StatusForbidden, "")
	e.Admin().Expect(t, http.StatusOK, "PUT", "/v1/admin/quotas/"+own, map[string]any{"max_databases": 5})
}
