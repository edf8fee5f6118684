package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/cellar/cellar/internal/testenv"
)

type quotaBody struct {
	CustomerID     string  `json:"customer_id"`
	Used           int     `json:"used"`
	Limit          int     `json:"limit"`
	StorageUsedGB  float64 `json:"storage_used_gb"`
	StorageLimitGB float64 `json:"storage_limit_gb"`
	Engines        []struct {
		DBType string `json:"db_type"`
		Used   int    `json:"used"`
		Limit  *int   `json:"limit"`
	} `json:"engines"`
	Cost struct {
		Currency string  `json:"currency"`
		Total    float64 `json:"total"`
	} `json:"estimated_monthly_cost"`
}

// TestQuota_TwentyConcurrentCreatesStopAtTheLimit: with a limit of 5,
// twenty concurrent creates of different names make exactly five.
func TestQuota_TwentyConcurrentCreatesStopAtTheLimit(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	e.Admin().Expect(t, http.StatusOK, "PUT", "/v1/admin/quotas/"+c.CustomerID, map[string]any{"max_databases": 5, "max_postgresql": 3})

	const n = 20
	statuses := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			engine := "mariadb"
			if i%2 == 0 {
				engine = "postgresql"
			}
			r := c.Do(t, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": fmt.Sprintf("q%d", i)})
			statuses[i], bodies[i] = r.Status, string(r.Body)
		}()
	}
	wg.Wait()
	created, refused := 0, 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusForbidden:
			refused++
			if !strings.Contains(bodies[i], "quota") || !strings.Contains(bodies[i], "limit is") {
				t.Errorf("refusal does not say which limit: %s", bodies[i])
			}
		default:
			t.Errorf("status %d: %s", s, bodies[i])
		}
	}
	if created != 5 || refused != 15 {
		t.Fatalf("%d created, %d refused; want 5 and 15", created, refused)
	}
	var q quotaBody
	c.Expect(t, http.StatusOK, "GET", "/v1/quota", nil).Decode(t, &q)
	if q.Used != 5 || q.Limit != 5 || q.CustomerID != c.CustomerID || q.Cost.Total <= 0 || q.Cost.Currency == "" {
		t.Fatalf("quota: %+v", q)
	}
	for _, eq := range q.Engines {
		if eq.DBType == "postgresql" && (eq.Limit == nil || *eq.Limit != 3 || eq.Used > 3) {
			t.Errorf("postgresql quota: %+v", eq)
		}
	}
	// Deleting one frees a place.
	var l listed
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/mariadb", nil).Decode(t, &l)
	c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/mariadb/"+l.Databases[0].DBName, nil)
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "mariadb", "requested_name": "again"})
	checkProblem(t, c.Do(t, "POST", "/v1/databases", map[string]any{"db_type": "mariadb", "requested_name": "onemore"}), http.StatusForbidden, "")
}

func TestQuota_AdminOnlyAndValidated(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	checkProblem(t, c.Do(t, "PUT", "/v1/admin/quotas/"+c.CustomerID, map[string]any{"max_databases": 1000}), http.StatusForbidden, "")
	checkProblem(t, e.Admin().Do(t, "PUT", "/v1/admin/quotas/"+c.CustomerID, map[string]any{"max_databases": -1}), http.StatusUnprocessableEntity, "max_databases")
	checkProblem(t, e.Admin().Do(t, "PUT", "/v1/admin/quotas/BAD", map[string]any{}), http.StatusUnprocessableEntity, "customer_id")
	// Regular keys see their own quota; customer_id is ignored for them.
	var q quotaBody
	c.Expect(t, http.StatusOK, "GET", "/v1/quota?customer_id=someoneelse", nil).Decode(t, &q)
	if q.CustomerID != c.CustomerID || q.Limit != 100 {
		t.Fatalf("quota: %+v", q)
	}
}
