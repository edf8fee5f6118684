package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/testenv"
)

// TestMetadataPool_OneCustomersSlowChangesLeaveOthersReadsServed: customer
// A fires 100 concurrent creates, each made slow (a failpoint pauses it for
// 500 ms while it holds its database's lock), and retries each 429 after
// its Retry-After; meanwhile customer B keeps listing its databases and
// reading one's live info. Every read of B succeeds; the request pool never
// fills (no change holds a request connection, not even while waiting for
// its lock); no more of A's changes hold a lock connection at once than
// the per-customer bound. B's read latency is logged, not asserted.
func TestMetadataPool_OneCustomersSlowChangesLeaveOthersReadsServed(t *testing.T) {
	const (
		changes      = 100
		requestConns = 40 // the default
		perCustomer  = 4
	)
	e := testenv.Start(t, testenv.Options{Config: map[string]string{
		"CELLAR_FAILPOINTS":             "create.after_intent=sleep:500ms",
		"CELLAR_METADATA_CONNS":         strconv.Itoa(requestConns),
		"CELLAR_METADATA_LOCK_CONNS":    "8",
		"CELLAR_MAX_CONCURRENT_CHANGES": strconv.Itoa(perCustomer),
		"CELLAR_QUOTA_MAX_DATABASES":    "200",
		// The per-key request rate limit is off: this test is about the
		// metadata pool, and B's readers send far more than a client would.
		"CELLAR_RATE_LIMIT": "0",
	}})
	a, b := e.NewCustomer(t), e.NewCustomer(t)
	var bdb limitDB
	b.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "mariadb", "requested_name": "reader"}).Decode(t, &bdb)
	// The contract of the 429 itself is checked once through the
	// validating client, below; the load uses a plain client so that the
	// latency measured is the server's.
	hc := &http.Client{Timeout: 2 * time.Minute}
	send := func(key, method, path string, body any) (*http.Response, time.Duration, error) {
		var rd *bytes.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, e.BaseURL+path, rd)
		req.Header.Set("X-API-Key", key)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, time.Since(start), err
	}

	// Sample both pools' occupancy from /metrics (which uses neither).
	done := make(chan struct{})
	var peakReq, peakLocks, maxReq float64
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			peakReq = max(peakReq, scrape(t, e.BaseURL, `cellar_metadata_pool_acquired_connections{pool="requests"}`))
			peakLocks = max(peakLocks, scrape(t, e.BaseURL, `cellar_metadata_pool_acquired_connections{pool="locks"}`))
			maxReq = scrape(t, e.BaseURL, `cellar_metadata_pool_max_connections{pool="requests"}`)
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	// B's reads before the load, for comparison.
	paths := []string{"/v1/databases/mariadb", bdb.path("/info")}
	idle := map[string][]time.Duration{}
	for i := 0; i < 100; i++ {
		p := paths[i%2]
		resp, d, err := send(b.Key, "GET", p, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("B's read %s before the load: %v %v", p, err, resp)
		}
		idle[p] = append(idle[p], d)
	}

	// B reads for as long as A's load runs.
	var readsMu sync.Mutex
	var latencies []time.Duration
	loaded := map[string][]time.Duration{}
	var readFailures atomic.Int64
	var readers sync.WaitGroup
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func(r int) {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				resp, d, err := send(b.Key, "GET", paths[(i+r)%2], nil)
				if err != nil || resp.StatusCode != http.StatusOK {
					readFailures.Add(1)
					t.Errorf("B's read %s: %v %v", paths[(i+r)%2], err, resp)
					continue
				}
				readsMu.Lock()
				latencies = append(latencies, d)
				loaded[paths[(i+r)%2]] = append(loaded[paths[(i+r)%2]], d)
				readsMu.Unlock()
			}
		}(r)
	}

	// A: 100 concurrent slow creates, each retried after a 429.
	var refused atomic.Int64
	var load sync.WaitGroup
	start := time.Now()
	for i := 0; i < changes; i++ {
		load.Add(1)
		go func(i int) {
			defer load.Done()
			body := map[string]any{"db_type": "mariadb", "requested_name": fmt.Sprintf("load%03d", i)}
			for attempt := 0; attempt < 500; attempt++ {
				resp, _, err := send(a.Key, "POST", "/v1/databases", body)
				if err != nil {
					t.Errorf("A's create %d: %v", i, err)
					return
				}
				switch resp.StatusCode {
				case http.StatusCreated:
					return
				case http.StatusTooManyRequests:
					refused.Add(1)
					secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
					if err != nil || secs < 1 {
						t.Errorf("A's create %d: 429 with Retry-After %q", i, resp.Header.Get("Retry-After"))
						return
					}
					time.Sleep(time.Duration(secs)*time.Second + rand.N(time.Second))
				default:
					t.Errorf("A's create %d: status %d", i, resp.StatusCode)
					return
				}
			}
			t.Errorf("A's create %d: still refused after 500 attempts", i)
		}(i)
		time.Sleep(2 * time.Millisecond)
	}
	load.Wait()
	loadTime := time.Since(start)
	close(done)
	readers.Wait()
	sampler.Wait()

	// One more 429, through the validating client: problem+json, documented.
	// (A's bound is free again now, so hold it with slow creates first.)
	var hold sync.WaitGroup
	for i := 0; i < perCustomer; i++ {
		hold.Add(1)
		go func(i int) {
			defer hold.Done()
			send(a.Key, "POST", "/v1/databases", map[string]any{"db_type": "mariadb", "requested_name": fmt.Sprintf("hold%d", i)})
		}(i)
	}
	time.Sleep(200 * time.Millisecond)
	r := a.Do(t, "POST", "/v1/databases", map[string]any{"db_type": "mariadb", "requested_name": "over"})
	hold.Wait()
	if r.Status == http.StatusTooManyRequests {
		if r.Header.Get("Retry-After") == "" || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("429: headers %v", r.Header)
		}
	} else {
		t.Logf("the contract check of a 429 did not meet a full bound (status %d)", r.Status)
	}

	t.Logf("A: %d slow creates done in %s, %d refusals (429) retried", changes, loadTime.Round(time.Millisecond), refused.Load())
	t.Logf("B, all reads under load: %s", percentiles(latencies))
	for _, p := range paths {
		t.Logf("B, GET %s: idle %s; under load %s", p, percentiles(idle[p]), percentiles(loaded[p]))
	}
	t.Logf("request pool: peak %v of %v connections in use; lock pool: peak %v in use", peakReq, maxReq, peakLocks)

	if readFailures.Load() > 0 {
		t.Errorf("%d of B's reads failed", readFailures.Load())
	}
	if len(latencies) == 0 {
		t.Error("B made no read during A's load")
	}
	if maxReq != requestConns || peakReq >= maxReq {
		t.Errorf("request pool: peak %v in use of %v: it filled up", peakReq, maxReq)
	}
	if peakLocks > perCustomer {
		t.Errorf("lock pool: peak %v in use, more than A's bound of %d changes at once", peakLocks, perCustomer)
	}
	if refused.Load() == 0 {
		t.Error("no change of A was refused: the per-customer bound did not apply")
	}
	var list struct {
		Databases []any `json:"databases"`
	}
	a.Expect(t, http.StatusOK, "GET", "/v1/databases/mariadb", nil).Decode(t, &list)
	t.Logf("A has %d databases", len(list.Databases))
}

// percentiles summarises latencies as count, p50, p99 and max.
func percentiles(l []time.Duration) string {
	if len(l) == 0 {
		return "no samples"
	}
	l = slices.Clone(l)
	slices.Sort(l)
	at := func(p float64) time.Duration {
		return l[min(len(l)-1, int(p*float64(len(l))))].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", len(l), at(0.50), at(0.99), at(1))
}
