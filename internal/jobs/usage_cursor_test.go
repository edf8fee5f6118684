package jobs_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// TestUsageCursor_ConcurrentWritersOutOfOrderCommits: many writers record
// usage events in transactions that commit out of order (one holds its
// event open until the reader has moved past it; a quarter roll back),
// while a reader polls GET /v1/usage with the cursor and the billing
// endpoint receives pushes. Both see exactly the committed events, each
// once, in one increasing seq order.
func TestUsageCursor_ConcurrentWritersOutOfOrderCommits(t *testing.T) {
	secret := "billing-secret-for-tests-0123456789"
	rcv := &receiver{secret: []byte(secret), seen: map[string]int{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	e := testenv.Start(t, testenv.Options{Config: map[string]string{
		"CELLAR_BILLING_URL": srv.URL, "CELLAR_BILLING_SECRET": secret, "CELLAR_BILLING_INTERVAL": "200ms",
		// The reader polls as fast as it can; the per-key rate limit is
		// not what this test is about.
		"CELLAR_RATE_LIMIT": "0",
	}})
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, e.Services.Metadata.DSN(harness.MetadataDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	customer := "t" + strings.ToLower(cellar.RandomToken(9))
	internal := e.NewKey(t, "billing", true, cellar.PermDatabaseRead)

	var (
		mu        sync.Mutex
		committed = map[string]bool{}
		rolled    atomic.Int64
		readSoFar atomic.Int64
	)
	// record inserts n events in one transaction, waits for hold, then
	// commits or rolls back.
	record := func(n int, hold func(), commit bool) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		q := store.New(tx)
		var ids []string
		for i := 0; i < n; i++ {
			id, db := uuid.New(), uuid.New()
			err := q.InsertUsageEvent(ctx, store.InsertUsageEventParams{
				ID: id, CustomerID: customer, DatabaseID: &db, Kind: "database.created",
				Payload: []byte(`{"db_name":"cursor_test"}`), OccurredAt: time.Now(),
			})
			if err != nil {
				return err
			}
			ids = append(ids, id.String())
		}
		hold()
		if !commit {
			rolled.Add(int64(n))
			return tx.Rollback(ctx)
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		mu.Lock()
		for _, id := range ids {
			committed[id] = true
		}
		mu.Unlock()
		return nil
	}

	errs := make(chan error, 100)
	var writers sync.WaitGroup
	// The laggard takes the first position and commits only once the
	// reader has read events recorded after it: with a seq taken at
	// INSERT, the reader's cursor is then past it for good.
	laggardIn := make(chan struct{})
	writers.Add(1)
	go func() {
		defer writers.Done()
		errs <- record(1, func() {
			close(laggardIn)
			for deadline := time.Now().Add(60 * time.Second); readSoFar.Load() < 20 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
		}, true)
	}()
	<-laggardIn
	const goroutines, txPerGoroutine = 16, 20
	for g := 0; g < goroutines; g++ {
		writers.Add(1)
		go func(g int) {
			defer writers.Done()
			r := rand.New(rand.NewPCG(uint64(g), 10))
			for i := 0; i < txPerGoroutine; i++ {
				hold := time.Duration(r.IntN(20)) * time.Millisecond
				if err := record(1+r.IntN(3), func() { time.Sleep(hold) }, r.IntN(4) != 0); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	writersDone := make(chan struct{})
	go func() { writers.Wait(); close(writersDone); close(errs) }()

	// The reader: pages of 7 after the cursor, as a billing system polls.
	var read []billing.Event
	cursor, polls := "0", 0
	poll := func() int {
		polls++
		var page struct {
			Events     []billing.Event `json:"events"`
			NextCursor *string         `json:"next_cursor"`
		}
		q := url.Values{"customer_id": {customer}, "limit": {"7"}, "cursor": {cursor}}
		internal.Expect(t, http.StatusOK, "GET", "/v1/usage?"+q.Encode(), nil).Decode(t, &page)
		read = append(read, page.Events...)
		readSoFar.Store(int64(len(read)))
		switch {
		case page.NextCursor != nil:
			cursor = *page.NextCursor
		case len(page.Events) > 0:
			cursor = strconv.FormatInt(page.Events[len(page.Events)-1].Seq, 10)
		}
		return len(page.Events)
	}
	start := time.Now()
	for done := false; !done; {
		select {
		case <-writersDone:
			done = true
		default:
			if poll() == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := len(committed)
	waitFor(t, "the reader to catch up", func() bool { poll(); return len(read) >= want })
	// Poll until a poll returns nothing: anything beyond the committed
	// set would show here.
	for poll() != 0 {
		continue
	}
	t.Logf("%d events committed, %d rolled back, %d polls, all read %s after the writers started",
		want, rolled.Load(), polls, time.Since(start).Round(time.Millisecond))

	checkStream(t, "pull", read, committed)
	waitFor(t, "every committed event to be pushed", func() bool { return len(rcv.acceptedFor(customer)) >= want })
	pushed := rcv.acceptedFor(customer)
	checkStream(t, "push", pushed, committed)
	for i := range read {
		if read[i].ID != pushed[i].ID {
			t.Fatalf("pull and push differ at %d: %s/%d vs %s/%d", i, read[i].ID, read[i].Seq, pushed[i].ID, pushed[i].Seq)
		}
	}
	for id, n := range rcv.seenCopy() {
		if n != 1 {
			t.Errorf("event %s pushed %d times", id, n)
		}
	}

	// The laggard was recorded first but committed after the reader had
	// read 20 events: it is numbered (and read) after them.
	var laggard string
	if err := pool.QueryRow(ctx, "SELECT id::text FROM usage_events WHERE customer_id = $1 ORDER BY insert_order LIMIT 1", customer).Scan(&laggard); err != nil {
		t.Fatal(err)
	}
	for i, ev := range read {
		if ev.ID == laggard {
			t.Logf("the event recorded first and committed late is read at position %d (seq %d)", i, ev.Seq)
			if i < 20 {
				t.Errorf("the late commit was read at position %d, before events committed earlier", i)
			}
		}
	}

	// Every committed row is numbered; none of the rolled back exists.
	var unnumbered, rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FILTER (WHERE seq IS NULL), count(*) FROM usage_events WHERE customer_id = $1", customer).
		Scan(&unnumbered, &rows); err != nil {
		t.Fatal(err)
	}
	if unnumbered != 0 || rows != want {
		t.Fatalf("%d rows (%d without seq), want %d numbered", rows, unnumbered, want)
	}
}

// checkStream asserts events are exactly the committed ids, each once, in
// strictly increasing seq order.
func checkStream(t *testing.T, what string, events []billing.Event, committed map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	var last int64
	for i, ev := range events {
		if seen[ev.ID] {
			t.Fatalf("%s: event %s twice", what, ev.ID)
		}
		seen[ev.ID] = true
		if !committed[ev.ID] {
			t.Fatalf("%s: event %s was never committed", what, ev.ID)
		}
		if ev.Seq <= last {
			t.Fatalf("%s: event %d has seq %d after %d", what, i, ev.Seq, last)
		}
		last = ev.Seq
	}
	for id := range committed {
		if !seen[id] {
			t.Errorf("%s: committed event %s never seen", what, id)
		}
	}
	if len(events) != len(committed) {
		t.Fatalf("%s: %d events, %d committed", what, len(events), len(committed))
	}
}
