package jobs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cellar/cellar/internal/billing"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/harness"
	"github.com/cellar/cellar/internal/store"
	"github.com/cellar/cellar/internal/testenv"
)

type deadLetter struct {
	Event          billing.Event `json:"event"`
	Attempts       int           `json:"attempts"`
	LastError      string        `json:"last_error"`
	DeadLetteredAt *time.Time    `json:"dead_lettered_at"`
}

// TestBilling_DeadLetterAfterMaxAttemptsThenRequeue: the billing endpoint
// refuses one event and accepts the rest. After CELLAR_BILLING_MAX_ATTEMPTS
// refusals the event is dead-lettered, the events after it are delivered,
// operators see it through the API and /metrics, and once the endpoint is
// fixed a re-queue delivers it.
func TestBilling_DeadLetterAfterMaxAttemptsThenRequeue(t *testing.T) {
	const maxAttempts = 3
	secret := "billing-secret-for-tests-0123456789"
	rcv := &receiver{secret: []byte(secret), seen: map[string]int{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	e := testenv.Start(t, testenv.Options{Config: map[string]string{
		"CELLAR_BILLING_URL": srv.URL, "CELLAR_BILLING_SECRET": secret, "CELLAR_BILLING_INTERVAL": "200ms",
		"CELLAR_BILLING_MAX_ATTEMPTS": "3",
	}})
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, e.Services.Metadata.DSN(harness.MetadataDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	customer := "t" + strings.ToLower(cellar.RandomToken(9))

	// The refused event comes first, so it is at the head of delivery.
	bad := uuid.New()
	rcv.setRefuse(bad.String(), true)
	good := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	for _, id := range append([]uuid.UUID{bad}, good...) {
		db := uuid.New()
		if err := store.New(pool).InsertUsageEvent(ctx, store.InsertUsageEventParams{
			ID: id, CustomerID: customer, DatabaseID: &db, Kind: "database.created",
			Payload: []byte(`{"db_name":"dead_letter_test"}`), OccurredAt: time.Now(),
		}); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	waitFor(t, "the events after the refused one to be delivered", func() bool { return len(rcv.acceptedFor(customer)) == len(good) })
	t.Logf("refused event dead-lettered and the next %d delivered after %s", len(good), time.Since(start).Round(time.Millisecond))
	for i, ev := range rcv.acceptedFor(customer) {
		if ev.ID != good[i].String() {
			t.Fatalf("delivery %d is %s, want %s", i, ev.ID, good[i])
		}
	}
	if n := rcv.refusedCount(bad.String()); n != maxAttempts {
		t.Fatalf("the refused event was tried %d times, want %d", n, maxAttempts)
	}

	// Visible to operators: internal admin keys only.
	admin := e.Admin()
	var page struct {
		DeadLetters []deadLetter `json:"dead_letters"`
		NextCursor  *string      `json:"next_cursor"`
	}
	admin.Expect(t, http.StatusOK, "GET", "/v1/admin/billing/dead-letters", nil).Decode(t, &page)
	if len(page.DeadLetters) != 1 {
		t.Fatalf("dead letters: %+v", page.DeadLetters)
	}
	d := page.DeadLetters[0]
	if d.Event.ID != bad.String() || d.Event.CustomerID != customer || d.Attempts != maxAttempts ||
		d.DeadLetteredAt == nil || !strings.Contains(d.LastError, "500") {
		t.Fatalf("dead letter: %+v", d)
	}
	if strings.Contains(d.LastError, srv.URL) {
		t.Errorf("last_error shows the endpoint URL: %q", d.LastError)
	}
	e.NewKey(t, "billing", true, cellar.PermDatabaseRead).Expect(t, http.StatusForbidden, "GET", "/v1/admin/billing/dead-letters", nil)
	e.NewKey(t, customer, false, cellar.PermAdmin).Expect(t, http.StatusForbidden, "GET", "/v1/admin/billing/dead-letters", nil)
	e.NewCustomer(t).Expect(t, http.StatusForbidden, "POST", "/v1/admin/billing/dead-letters/"+bad.String()+"/requeue", nil)

	// And in /metrics.
	metrics := func() string { return string(e.Client("", "").Expect(t, http.StatusOK, "GET", "/metrics", nil).Body) }
	prom := metrics()
	for _, want := range []string{
		"cellar_billing_dead_lettered_total 1",
		"cellar_billing_dead_letters 1",
		`cellar_billing_delivery_attempts_count{outcome="dead_lettered"} 1`,
		`cellar_billing_delivery_attempts_sum{outcome="dead_lettered"} 3`,
	} {
		if !strings.Contains(prom, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Re-queue is refused for what is not a dead letter.
	admin.Expect(t, http.StatusConflict, "POST", "/v1/admin/billing/dead-letters/"+good[0].String()+"/requeue", nil)
	admin.Expect(t, http.StatusNotFound, "POST", "/v1/admin/billing/dead-letters/"+uuid.NewString()+"/requeue", nil)
	admin.Expect(t, http.StatusNotFound, "POST", "/v1/admin/billing/dead-letters/not-a-uuid/requeue", nil)

	// The receiver is fixed; a re-queue delivers the event, once.
	rcv.setRefuse(bad.String(), false)
	var requeued deadLetter
	admin.Expect(t, http.StatusOK, "POST", "/v1/admin/billing/dead-letters/"+bad.String()+"/requeue", nil).Decode(t, &requeued)
	if requeued.Event.ID != bad.String() || requeued.Attempts != 0 || requeued.DeadLetteredAt != nil {
		t.Fatalf("re-queued: %+v", requeued)
	}
	waitFor(t, "the re-queued event to be delivered", func() bool { return len(rcv.acceptedFor(customer)) == len(good)+1 })
	if got := rcv.acceptedFor(customer)[len(good)]; got.ID != bad.String() || got.Seq != d.Event.Seq {
		t.Fatalf("last delivery %s/%d, want the re-queued %s/%d", got.ID, got.Seq, bad, d.Event.Seq)
	}
	for id, n := range rcv.seenCopy() {
		if n != 1 {
			t.Errorf("event %s accepted %d times", id, n)
		}
	}
	admin.Expect(t, http.StatusOK, "GET", "/v1/admin/billing/dead-letters", nil).Decode(t, &page)
	if len(page.DeadLetters) != 0 {
		t.Fatalf("dead letters after the re-queue: %+v", page.DeadLetters)
	}
	admin.Expect(t, http.StatusConflict, "POST", "/v1/admin/billing/dead-letters/"+bad.String()+"/requeue", nil)
	waitFor(t, "the dead letter gauge to drop", func() bool { return strings.Contains(metrics(), "cellar_billing_dead_letters 0") })
	var delivered *time.Time
	if err := pool.QueryRow(ctx, "SELECT delivered_at FROM usage_events WHERE id = $1", bad).Scan(&delivered); err != nil || delivered == nil {
		t.Fatalf("delivered_at of the re-queued event: %v, %v", delivered, err)
	}
}

// TestBilling_SlowEndpointOverlappingPassesDeliverOnce: the endpoint takes
// longer to answer than the delivery interval, so passes overlap (two
// workers per process, and a second Cellar process). Each event still
// arrives once, in seq order.
func TestBilling_SlowEndpointOverlappingPassesDeliverOnce(t *testing.T) {
	secret := "billing-secret-for-tests-0123456789"
	rcv := &receiver{secret: []byte(secret), seen: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		rcv.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := map[string]string{"CELLAR_BILLING_URL": srv.URL, "CELLAR_BILLING_SECRET": secret, "CELLAR_BILLING_INTERVAL": "100ms"}
	e := testenv.Start(t, testenv.Options{Config: cfg})
	_, stop, err := e.StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, e.Services.Metadata.DSN(harness.MetadataDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	customer := "t" + strings.ToLower(cellar.RandomToken(9))
	const n = 12
	for i := 0; i < n; i++ {
		db := uuid.New()
		if err := store.New(pool).InsertUsageEvent(ctx, store.InsertUsageEventParams{
			ID: uuid.New(), CustomerID: customer, DatabaseID: &db, Kind: "database.created",
			Payload: []byte(`{"db_name":"slow_endpoint"}`), OccurredAt: time.Now(),
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every event to be delivered", func() bool { return len(rcv.acceptedFor(customer)) == n })
	time.Sleep(time.Second) // passes still running would show duplicates now
	var last int64
	for i, ev := range rcv.acceptedFor(customer) {
		if ev.Seq <= last {
			t.Errorf("delivery %d has seq %d after %d", i, ev.Seq, last)
		}
		last = ev.Seq
	}
	dups := 0
	for _, c := range rcv.seenCopy() {
		if c != 1 {
			dups++
		}
	}
	if dups > 0 {
		t.Fatalf("%d events were delivered more than once", dups)
	}
}
