package service

import (
	"errors"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
)

// TestAdmission_BoundsEachCustomerApart: the third concurrent change of a
// customer with a bound of two is refused with rate_limited and a
// Retry-After; another customer is not affected; leaving frees a place, and
// a second leave of the same change frees nothing more.
func TestAdmission_BoundsEachCustomerApart(t *testing.T) {
	a := &admission{max: 2}
	l1, err := a.enter("c1")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := a.enter("c1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.enter("c1")
	var ce *cellar.Error
	if !errors.As(err, &ce) || ce.Code != cellar.CodeRateLimited || ce.RetryAfter <= 0 {
		t.Fatalf("third change = %v, want rate_limited with RetryAfter", err)
	}
	lo, err := a.enter("c2")
	if err != nil {
		t.Fatalf("another customer refused: %v", err)
	}
	lo()
	l1()
	l1() // idempotent
	l3, err := a.enter("c1")
	if err != nil {
		t.Fatalf("after one left: %v", err)
	}
	if _, err := a.enter("c1"); err == nil {
		t.Fatal("a double leave freed two places")
	}
	l2()
	l3()
	if len(a.running) != 0 {
		t.Errorf("running = %v after everyone left", a.running)
	}
	unbounded := &admission{}
	for i := 0; i < 100; i++ {
		if _, err := unbounded.enter("c1"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAdmit_BackgroundWorkIsNeverRefused: a queued restore runs through the
// same preamble as a request; with its customer at the bound it must still
// run (it is bounded by its queue), or it would be recorded as failed.
func TestAdmit_BackgroundWorkIsNeverRefused(t *testing.T) {
	s := &Service{admission: admission{max: 1}, metrics: newMetrics(nil, false)}
	leave, err := s.admit(Caller{}, "c1")
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	if _, err := s.admit(Caller{}, "c1"); cellar.ErrorCode(err) != cellar.CodeRateLimited {
		t.Fatalf("second request = %v, want rate_limited", err)
	}
	bg, err := s.admit(Caller{Background: true}, "c1")
	if err != nil {
		t.Fatalf("background work refused: %v", err)
	}
	bg()
}
