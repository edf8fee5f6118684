package service

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/billing"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// DeliverUsage sends undelivered usage events to the billing endpoint in
// seq order. A failure stops the pass (the event backs off exponentially,
// up to an hour) so the order holds while the endpoint is briefly down;
// after the configured number of failed attempts the event is
// dead-lettered instead, and delivery goes on with the next one, so one
// event the endpoint always refuses cannot block billing for ever. Nothing
// is lost while the endpoint is down: events wait in the outbox, and dead
// letters wait for an operator (ListDeadLetters, RequeueDeadLetter).
func (s *Service) DeliverUsage(ctx context.Context, now time.Time) (int, error) {
	if s.billing == nil {
		return 0, nil
	}
	if err := s.sequenceUsage(ctx); err != nil {
		return 0, err
	}
	// One pass at a time, across processes: a slow endpoint can make a
	// pass outlast the interval, and two passes would send the same events
	// twice and out of order. The lock lives on one connection for the
	// pass; a process that dies drops it with its connection. The pass's
	// queries use the same connection, so it takes one from the pool.
	conn, err := s.store.Pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	lq := store.New(conn)
	locked, err := lq.TryLockUsageDelivery(ctx)
	if err != nil || !locked {
		return 0, err
	}
	defer func() {
		if err := lq.UnlockUsageDelivery(context.WithoutCancel(ctx)); err != nil {
			// A lock that cannot be released must not go back to the pool.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	defer s.refreshDeadLetterGauge(ctx, lq)

	sent := 0
	for {
		events, err := lq.ListDeliverableUsageEvents(ctx, 200)
		if err != nil {
			return sent, err
		}
		moved := false
		for _, e := range events {
			if e.NextAttemptAt.After(now) {
				return sent, nil
			}
			if err := s.billing.Deliver(ctx, usageEventFrom(e)); err != nil {
				dead, ferr := s.recordDeliveryFailure(ctx, lq, e, now, err)
				if ferr != nil {
					return sent, ferr
				}
				if !dead {
					return sent, fmt.Errorf("deliver usage event %s: %w", e.ID, err)
				}
				moved = true
				continue
			}
			if err := lq.MarkUsageEventDelivered(ctx, e.ID); err != nil {
				return sent, err
			}
			s.metrics.billing.WithLabelValues("delivered").Inc()
			s.metrics.billingAttempts.WithLabelValues("delivered").Observe(float64(e.Attempts + 1))
			sent++
			moved = true
		}
		if len(events) < 200 || !moved {
			return sent, nil
		}
	}
}

// recordDeliveryFailure counts a failed attempt and reports whether it was
// the last one allowed, which dead-letters the event.
func (s *Service) recordDeliveryFailure(ctx context.Context, q *store.Queries, e store.UsageEvent, now time.Time, cause error) (bool, error) {
	attempts := int(e.Attempts) + 1
	// The error names the endpoint's answer, never the secret or body.
	msg := cause.Error()
	s.metrics.billing.WithLabelValues("failed").Inc()
	if attempts >= s.billing.Attempts() {
		if err := q.MarkUsageEventDeadLettered(ctx, store.MarkUsageEventDeadLetteredParams{ID: e.ID, LastError: &msg}); err != nil {
			return false, err
		}
		s.metrics.billingDeadLettered.Inc()
		s.metrics.billingAttempts.WithLabelValues("dead_lettered").Observe(float64(attempts))
		s.log.WarnContext(ctx, "usage event dead-lettered", "event", e.ID, "seq", e.Seq, "attempts", attempts, "err", msg)
		return true, nil
	}
	err := q.MarkUsageEventFailed(ctx, store.MarkUsageEventFailedParams{
		ID: e.ID, LastError: &msg, NextAttemptAt: now.Add(billing.Backoff(attempts)),
	})
	return false, err
}

// refreshDeadLetterGauge sets the gauge of events waiting in the dead
// letter queue (counted in the database, so it is right in every process).
func (s *Service) refreshDeadLetterGauge(ctx context.Context, q *store.Queries) {
	n, err := q.CountDeadLetteredUsageEvents(context.WithoutCancel(ctx))
	if err != nil {
		s.log.WarnContext(ctx, "count dead-lettered usage events", "err", err)
		return
	}
	s.metrics.billingDeadLetters.Set(float64(n))
}

// DeadLetter is a usage event set aside after failed deliveries.
type DeadLetter struct {
	Event          billing.Event
	Attempts       int
	LastError      string
	DeadLetteredAt time.Time
}

// DeadLetterPage is a page of dead letters and the cursor of the next.
type DeadLetterPage struct {
	DeadLetters []DeadLetter
	NextCursor  string
}

func deadLetterFrom(e store.UsageEvent) DeadLetter {
	d := DeadLetter{Event: usageEventFrom(e), Attempts: int(e.Attempts)}
	if e.LastError != nil {
		d.LastError = *e.LastError
	}
	if e.DeadLetteredAt != nil {
		d.DeadLetteredAt = e.DeadLetteredAt.UTC()
	}
	return d
}

// requireBillingOperator admits internal admin keys only: dead letters
// hold every customer's events.
func requireBillingOperator(c Caller) error {
	if !c.Internal {
		return cellar.Errorf(cellar.CodeForbidden, "billing dead letters are for internal keys only")
	}
	return c.Require(cellar.PermAdmin)
}

// ListDeadLetters lists dead-lettered usage events in seq order, after a
// cursor (the seq of the last one read).
func (s *Service) ListDeadLetters(ctx context.Context, c Caller, cursor string, limit int) (*DeadLetterPage, error) {
	if err := requireBillingOperator(c); err != nil {
		return nil, err
	}
	var after int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 0 {
			return nil, cellar.Invalid(cellar.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		}
		after = n
	}
	if limit < 1 || limit > 1000 {
		return nil, cellar.Invalid(cellar.FieldError{Field: "limit", Message: "must be from 1 to 1000"})
	}
	rows, err := s.store.ListDeadLetteredUsageEvents(ctx, store.ListDeadLetteredUsageEventsParams{AfterSeq: after, RowLimit: int32(limit)})
	if err != nil {
		return nil, err
	}
	page := &DeadLetterPage{DeadLetters: make([]DeadLetter, 0, len(rows))}
	for _, r := range rows {
		page.DeadLetters = append(page.DeadLetters, deadLetterFrom(r))
	}
	if len(rows) == limit {
		page.NextCursor = strconv.FormatInt(*rows[len(rows)-1].Seq, 10)
	}
	return page, nil
}

// RequeueDeadLetter puts a dead-lettered event back at the head of
// delivery (it keeps its seq) with a fresh allowance of attempts.
func (s *Service) RequeueDeadLetter(ctx context.Context, c Caller, eventID string) (*DeadLetter, error) {
	if err := requireBillingOperator(c); err != nil {
		return nil, err
	}
	id, err := uuid.Parse(eventID)
	if err != nil {
		return nil, cellar.NotFound("usage event", eventID)
	}
	row, err := s.store.RequeueUsageEvent(ctx, id)
	if store.IsNotFound(err) {
		if _, gerr := s.store.GetUsageEvent(ctx, id); gerr == nil {
			return nil, cellar.Errorf(cellar.CodeConflict, "usage event %s is not dead-lettered", id)
		} else if !store.IsNotFound(gerr) {
			return nil, gerr
		}
		return nil, cellar.NotFound("usage event", eventID)
	}
	if err != nil {
		return nil, fmt.Errorf("requeue usage event: %w", err)
	}
	s.audit(ctx, c, "usage_event.requeued", id.String(), map[string]any{"seq": row.Seq, "customer_id": row.CustomerID})
	s.refreshDeadLetterGauge(ctx, s.store.Queries)
	d := deadLetterFrom(row)
	return &d, nil
}
