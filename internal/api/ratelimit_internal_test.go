package api

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand: nothing here waits.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestKeyLimiter_BucketPerKey_RetryAfterWhenEmpty(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newKeyLimiter(RateLimit{Rate: 2, Burst: 3}, clock.now)
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("4th request: ok %v, retry after %s; want refused, retry after at most 1/rate", ok, wait)
	}
	// Another key has its own bucket.
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("key b is limited by key a's use")
	}
	// After the announced wait, a token is there again.
	clock.t = clock.t.Add(wait)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("refused after waiting the announced Retry-After")
	}
	if ok, _ := l.allow("a"); ok {
		t.Fatal("one wait gave more than one token")
	}
}

func TestKeyLimiter_Off_WhenRateIsZero(t *testing.T) {
	if newKeyLimiter(RateLimit{Rate: 0, Burst: 10}, time.Now) != nil {
		t.Fatal("rate 0 should turn limiting off")
	}
}

func TestKeyLimiter_MemoryBounded_IdleBucketsForgotten(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newKeyLimiter(RateLimit{Rate: 10, Burst: 20}, clock.now)
	l.maxKeys = 100

	// Many keys at once: never more than maxKeys buckets.
	most := 0
	for i := range 10_000 {
		l.allow(fmt.Sprintf("key-%d", i))
		most = max(most, l.size())
	}
	if most > l.maxKeys {
		t.Fatalf("held %d buckets, bound is %d", most, l.maxKeys)
	}
	t.Logf("10000 keys through a limiter bounded to %d: at most %d buckets held", l.maxKeys, most)

	// Buckets idle long enough to be full again are forgotten at the next sweep.
	clock.t = clock.t.Add(l.idle)
	l.allow("fresh")
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after every other key went idle, want 1", n)
	}

	// Forgetting an idle bucket changes nothing: it was full anyway.
	for range 20 {
		l.allow("busy")
	}
	if ok, _ := l.allow("busy"); ok {
		t.Fatal("burst exceeded")
	}
	clock.t = clock.t.Add(l.idle)
	l.allow("other") // sweeps "busy"
	for i := range 20 {
		if ok, _ := l.allow("busy"); !ok {
			t.Fatalf("after idling, request %d of a full burst refused", i+1)
		}
	}
}

// BenchmarkKeyLimiter_Allow measures the limiter's cost per request, over
// 1000 active keys.
func BenchmarkKeyLimiter_Allow(b *testing.B) {
	l := newKeyLimiter(RateLimit{Rate: 1e6, Burst: 1e6}, time.Now)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.allow(keys[i%len(keys)])
	}
}
