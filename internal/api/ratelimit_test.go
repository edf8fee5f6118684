package api_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/testenv"
)

// With a tight limit, a key that used up its burst gets 429 problem+json
// with Retry-After, keyed by the key: another key from the same address is
// served, and a refused request claims no Idempotency-Key.
func TestRateLimit_PerKey_429WithRetryAfter(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	// One token per 1000 s: nothing refills while the test runs, however slow.
	addr, stop, err := e.StartServer(map[string]string{"CELLAR_RATE_LIMIT": "0.001", "CELLAR_RATE_BURST": "3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	a := e.NewCustomer(t).WithBaseURL("http://" + addr)
	b := e.NewCustomer(t).WithBaseURL("http://" + addr)

	for range 3 {
		a.Expect(t, http.StatusOK, "GET", "/v1/me", nil)
	}
	r := a.Do(t, "GET", "/v1/me", nil)
	checkProblem(t, r, http.StatusTooManyRequests, "")
	var p problemBody
	r.Decode(t, &p)
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if p.Type != "/problems/rate-limited" || err != nil || secs < 1 {
		t.Fatalf("429 without a usable Retry-After (%q) or type: %s", r.Header.Get("Retry-After"), r.Body)
	}
	t.Logf("Retry-After: %d s", secs)

	// Keyed by the API key, not the address.
	b.Expect(t, http.StatusOK, "GET", "/v1/me", nil)

	// Refused before the idempotency layer: the key is not taken.
	idem := "ratelimited-" + cellar.RandomToken(8)
	checkProblem(t, a.Do(t, "POST", "/v1/databases", map[string]any{"db_type": "postgresql"},
		testenv.Header{Name: "Idempotency-Key", Value: idem}), http.StatusTooManyRequests, "")
	var n int
	must(t, e.Metadata(t).QueryRow(context.Background(), "SELECT count(*) FROM idempotency_keys WHERE idem_key = $1", idem).Scan(&n))
	if n != 0 {
		t.Fatal("a rate-limited request claimed its Idempotency-Key")
	}

	// The limit is per server process: the shared test server is not affected.
	e.Client(a.Key, a.CustomerID).Expect(t, http.StatusOK, "GET", "/v1/me", nil)
}
