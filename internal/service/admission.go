package service

import (
	"sync"
	"time"

	"github.com/cellar/cellar/internal/cellar"
)

// admission bounds how many state-changing operations one customer runs at
// once in this process. Every change holds a lock connection and a managed
// server's attention for its whole duration; without a bound, one customer
// firing a hundred slow changes occupies every lock connection there is and
// makes everyone else's changes wait behind theirs.
//
// Excess is refused at once with 429 rate_limited and a Retry-After, rather
// than queued: a queue would keep the HTTP request, its goroutine and the
// client's timeout running for work the client can simply send again, and
// an explicit 429 is what well-behaved clients already back off on. The
// bound is per process; with several Cellar processes behind a balancer a
// customer gets at most this many per process.
type admission struct {
	max     int
	mu      sync.Mutex
	running map[string]int
}

// admissionRetryAfter is what a refused client is told to wait: about the
// time a typical change takes.
const admissionRetryAfter = time.Second

// enter admits one operation of customer, or refuses it; leave must be
// called exactly once for every admitted operation. max <= 0 admits all.
func (a *admission) enter(customer string) (leave func(), err error) {
	if a.max <= 0 {
		return func() {}, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running[customer] >= a.max {
		return nil, &cellar.Error{
			Code:       cellar.CodeRateLimited,
			Message:    "too many changes of this customer are running at once; retry after the Retry-After interval",
			RetryAfter: admissionRetryAfter,
		}
	}
	if a.running == nil {
		a.running = map[string]int{}
	}
	a.running[customer]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.running[customer]--; a.running[customer] <= 0 {
				delete(a.running, customer)
			}
		})
	}, nil
}

// admit is enter with the refusal counted in the metrics. Background work
// is not counted: its queue bounds it (see Caller.Background).
func (s *Service) admit(c Caller, customer string) (leave func(), err error) {
	if c.Background {
		return func() {}, nil
	}
	leave, err = s.admission.enter(customer)
	if err != nil {
		s.metrics.admissionRefused.Inc()
	}
	return leave, err
}
