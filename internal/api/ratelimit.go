package api

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/cellar/cellar/internal/cellar"
)

// RateLimit configures the per-key rate limit: a token bucket per API key
// holding Burst requests, refilled at Rate per second. Rate 0 turns it off.
type RateLimit struct {
	Rate  float64
	Burst int
}

// maxRateBuckets bounds the limiter's memory. Buckets exist only for keys
// that authenticated, so this is reached only with that many keys busy at
// once.
const maxRateBuckets = 10_000

// keyLimiter is a token bucket per API key. Keyed by the authenticated key,
// never by address: customers behind one NAT do not share a budget, and one
// key cannot escape its budget by changing address. A bucket idle for as
// long as it takes to refill is full again, so forgetting it changes
// nothing; such buckets are swept, which keeps memory bounded by the keys
// active in that window (and by maxRateBuckets).
type keyLimiter struct {
	rate    rate.Limit
	burst   int
	idle    time.Duration
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newKeyLimiter returns a limiter, or nil when limiting is off.
func newKeyLimiter(rl RateLimit, now func() time.Time) *keyLimiter {
	if rl.Rate <= 0 {
		return nil
	}
	if rl.Burst < 1 {
		rl.Burst = 1
	}
	idle := time.Duration(float64(rl.Burst) / rl.Rate * float64(time.Second))
	if idle < time.Minute {
		idle = time.Minute // sweep at most once a minute
	}
	return &keyLimiter{rate: rate.Limit(rl.Rate), burst: rl.Burst, idle: idle, maxKeys: maxRateBuckets, now: now,
		buckets: map[string]*bucket{}, lastSweep: now()}
}

// allow takes a token from key's bucket. When there is none it says how
// long until there will be one.
func (l *keyLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys || now.Sub(l.lastSweep) >= l.idle {
			l.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	return false, max(time.Duration(missing/float64(l.rate)*float64(time.Second)), time.Millisecond)
}

// sweep forgets idle buckets. If that is not enough (more than maxKeys keys
// busy at once), it forgets arbitrary ones down to three quarters: those
// keys get a fresh bucket, a bounded over-allowance that beats unbounded
// memory.
func (l *keyLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= l.idle {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxKeys*3/4 {
			break
		}
		delete(l.buckets, k)
	}
}

// size is the number of buckets held, for tests.
func (l *keyLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// rateLimit answers 429 with Retry-After when the authenticated key has
// used up its bucket. It runs after authenticate (it needs the key) and
// before idempotent, so a refused request claims no Idempotency-Key.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := principalFrom(r.Context())
		if ok, wait := s.limiter.allow(p.KeyID); !ok {
			s.rateLimited.Inc()
			writeError(w, r, s.log, &cellar.Error{Code: cellar.CodeRateLimited, RetryAfter: wait,
				Message: fmt.Sprintf("this API key may send %g requests per second, in bursts of up to %d; retry after the number of seconds in Retry-After",
					float64(s.limiter.rate), s.limiter.burst)})
			return
		}
		next.ServeHTTP(w, r)
	})
}
