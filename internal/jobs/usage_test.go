package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/billing"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/testenv"
)

// TestMetrics_MoveWithRealLoad: with a collector every second, a client's
// queries and writes show in the database's metrics, and the server totals
// reach /metrics.
func TestMetrics_MoveWithRealLoad(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Config: map[string]string{"CELLAR_METRICS_INTERVAL": "1s"}})
	c := e.NewCustomer(t)
	var db struct {
		DBName           string `json:"db_name"`
		ConnectionString string `json:"connection_string"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "postgresql", "requested_name": "busy"}).Decode(t, &db)
	path := "/v1/databases/postgresql/" + db.DBName + "/metrics"
	type sample struct {
		StorageGB         *float64 `json:"storage_gb"`
		ActiveConnections *int     `json:"active_connections"`
		MaxConnections    *int     `json:"max_connections"`
		TotalQueries      *int64   `json:"total_queries"`
		QueriesPerSec     *float64 `json:"queries_per_sec"`
		CacheHitRatio     *float64 `json:"cache_hit_ratio"`
		CPUPercent        *float64 `json:"cpu_percent"`
		MemoryPercent     *float64 `json:"memory_percent"`
		MeasuredAt        *string  `json:"measured_at"`
	}
	var before sample
	waitFor(t, "a first sample", func() bool {
		c.Expect(t, http.StatusOK, "GET", path, nil).Decode(t, &before)
		return before.MeasuredAt != nil
	})

	conn, err := pgx.Connect(context.Background(), db.ConnectionString)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE TABLE load AS SELECT g, md5(g::text) AS v FROM generate_series(1, 100000) g"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		if _, err := conn.Exec(context.Background(), "SELECT count(*) FROM load WHERE g % 7 = $1", i%7); err != nil {
			t.Fatal(err)
		}
	}
	var after sample
	waitFor(t, "the load to show", func() bool {
		c.Expect(t, http.StatusOK, "GET", path, nil).Decode(t, &after)
		return after.TotalQueries != nil && *after.TotalQueries >= *before.TotalQueries+60 &&
			*after.StorageGB > *before.StorageGB && *after.ActiveConnections >= 1
	})
	if *after.MaxConnections != 100 || after.CacheHitRatio == nil || *after.CacheHitRatio < 0 || *after.CacheHitRatio > 100 {
		t.Errorf("sample: %+v", after)
	}
	if after.CPUPercent == nil || after.MemoryPercent == nil {
		t.Errorf("process figures of a local server are missing: %+v", after)
	}
	waitFor(t, "a queries-per-second figure", func() bool {
		var s sample
		c.Expect(t, http.StatusOK, "GET", path, nil).Decode(t, &s)
		return s.QueriesPerSec != nil
	})
	var series struct {
		Samples []sample `json:"samples"`
	}
	c.Expect(t, http.StatusOK, "GET", path+"?since="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), nil).Decode(t, &series)
	if len(series.Samples) < 2 {
		t.Fatalf("series has %d samples", len(series.Samples))
	}
	prom := e.Client("", "").Expect(t, http.StatusOK, "GET", "/metrics", nil).Body
	for _, want := range []string{`cellar_server_storage_bytes{server="pg-1"}`, `cellar_server_connections{server="pg-1"}`, `cellar_metrics_collection_duration_seconds_count{server="mariadb-1"}`} {
		if !strings.Contains(string(prom), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(prom), db.DBName) {
		t.Error("/metrics has a per-database label though CELLAR_METRICS_PER_DATABASE is off")
	}
}

// TestBilling_EveryEventExactlyOnceAfterAnOutage: the billing endpoint is
// down while billable changes happen and while Cellar restarts; when it
// comes back it receives every event, each once, in order, signed.
func TestBilling_EveryEventExactlyOnceAfterAnOutage(t *testing.T) {
	secret := "billing-secret-for-tests-0123456789"
	rcv := &receiver{secret: []byte(secret), seen: map[string]int{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	cfg := map[string]string{"CELLAR_BILLING_URL": srv.URL, "CELLAR_BILLING_SECRET": secret, "CELLAR_BILLING_INTERVAL": "200ms"}
	e := testenv.Start(t, testenv.Options{Config: cfg})
	c := e.NewCustomer(t)

	rcv.setDown(true)
	var names []string
	for _, engine := range []string{"postgresql", "mariadb"} {
		var db struct {
			DBName string `json:"db_name"`
		}
		c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "billed"}).Decode(t, &db)
		names = append(names, engine+"/"+db.DBName)
	}
	c.Expect(t, http.StatusOK, "PATCH", "/v1/databases/"+names[0], map[string]any{"connection_limit": 50})
	c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/"+names[1], nil)

	// Everything is recorded, nothing acknowledged yet.
	internal := e.NewKey(t, "billing", true, cellar.PermDatabaseRead)
	want := usageOf(t, internal, c.CustomerID)
	kinds := map[string]int{}
	for _, ev := range want {
		kinds[ev.Type]++
	}
	if kinds["database.created"] != 2 || kinds["database.deleted"] != 1 || kinds["database.resized"] != 1 {
		t.Fatalf("usage events: %v", kinds)
	}
	time.Sleep(time.Second) // deliveries are being attempted and refused
	if n := rcv.accepted(); n != 0 {
		t.Fatalf("%d events accepted while the endpoint was down", n)
	}

	// Cellar restarts while the endpoint is still down: nothing is lost.
	addr, stop, err := e.StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_ = addr

	rcv.setDown(false)
	waitFor(t, "every event to be delivered", func() bool {
		got := rcv.acceptedFor(c.CustomerID)
		return len(got) == len(want)
	})
	got := rcv.acceptedFor(c.CustomerID)
	for i, ev := range want {
		if got[i].ID != ev.ID || got[i].Seq != ev.Seq {
			t.Fatalf("delivery %d is %s/%d, want %s/%d (in order)", i, got[i].ID, got[i].Seq, ev.ID, ev.Seq)
		}
	}
	for id, n := range rcv.seenCopy() {
		if n != 1 {
			t.Errorf("event %s accepted %d times", id, n)
		}
	}
	if rcv.badSignatures() != 0 {
		t.Errorf("%d deliveries had a bad signature", rcv.badSignatures())
	}

	// The receiver's check really rejects a forged delivery.
	body := []byte(`{"id":"forged","seq":1,"type":"database.created","customer_id":"x","database_id":null,"occurred_at":"2026-01-01T00:00:00Z","data":{}}`)
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(string(body)))
	req.Header.Set(billing.SignatureHeader, billing.Sign([]byte("not-the-secret"), time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || rcv.seenCopy()["forged"] != 0 {
		t.Fatalf("forged delivery answered %d", resp.StatusCode)
	}
	// Pulling needs an internal key.
	c.Expect(t, http.StatusForbidden, "GET", "/v1/usage", nil)
}

func usageOf(t *testing.T, c *testenv.Client, customer string) []billing.Event {
	t.Helper()
	var page struct {
		Events []billing.Event `json:"events"`
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/usage?limit=1000&customer_id="+customer, nil).Decode(t, &page)
	var out []billing.Event
	for _, ev := range page.Events {
		if ev.Type != "usage.hourly" {
			out = append(out, ev)
		}
	}
	return out
}

// receiver is an honest billing endpoint: it checks signatures, refuses
// while "down" (or, for the event ids in refuse, always), and counts what
// it accepted by event id.
type receiver struct {
	secret  []byte
	mu      sync.Mutex
	down    bool
	seen    map[string]int
	events  []billing.Event
	bad     int
	refuse  map[string]bool
	refused map[string]int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := billing.Verify(r.secret, req.Header.Get(billing.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		r.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev billing.Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != req.Header.Get(billing.EventIDHeader) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.refuse[ev.ID] {
		if r.refused == nil {
			r.refused = map[string]int{}
		}
		r.refused[ev.ID]++
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	r.seen[ev.ID]++
	if r.seen[ev.ID] == 1 {
		r.events = append(r.events, ev)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setDown(d bool) { r.mu.Lock(); r.down = d; r.mu.Unlock() }

func (r *receiver) setRefuse(id string, refuse bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse == nil {
		r.refuse = map[string]bool{}
	}
	r.refuse[id] = refuse
}

func (r *receiver) refusedCount(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused[id]
}

func (r *receiver) accepted() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.events) }

func (r *receiver) badSignatures() int { r.mu.Lock(); defer r.mu.Unlock(); return r.bad }

func (r *receiver) seenCopy() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.seen {
		out[k] = v
	}
	return out
}

func (r *receiver) acceptedFor(customer string) []billing.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []billing.Event
	for _, ev := range r.events {
		if ev.CustomerID == customer && ev.Type != "usage.hourly" {
			out = append(out, ev)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
