package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/billing"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// usageKinds maps database events to the billable usage events they cause.
// An "updated" event is billable only when it changed the connection limit.
func usageKind(event string, details map[string]any) string {
	switch event {
	case "created":
		return "database.created"
	case "deleted":
		return "database.deleted"
	case "updated":
		if _, ok := details["connection_limit"]; ok {
			return "database.resized"
		}
	case "snapshot_created":
		return "snapshot.stored"
	case "snapshot_deleted":
		return "snapshot.deleted"
	}
	return ""
}

// recordUsage writes a usage event in the caller's transaction: the outbox
// that the deliverer drains, so a change and its billing record commit or
// roll back together.
func recordUsage(ctx context.Context, q *store.Queries, db store.Database, kind string, details map[string]any, periodStart *time.Time, at time.Time) error {
	data := map[string]any{"db_name": db.Name, "db_type": db.Engine}
	for k, v := range details {
		data[k] = v
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	id := db.ID
	return q.InsertUsageEvent(ctx, store.InsertUsageEventParams{
		ID: uuid.New(), CustomerID: db.CustomerID, DatabaseID: &id, Kind: kind, Payload: raw, OccurredAt: at, PeriodStart: periodStart,
	})
}

// RecordHourlyUsage writes one usage.hourly event per active database for
// the hour that now falls in: its sampled storage and its stored backups.
// A second call for the same hour adds nothing.
func (s *Service) RecordHourlyUsage(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.store.ListDatabasesForUsage(ctx)
	if err != nil {
		return 0, err
	}
	hour := now.UTC().Truncate(time.Hour)
	for _, r := range rows {
		db := store.Database{ID: r.ID, CustomerID: r.CustomerID, Engine: r.Engine, Name: r.Name}
		err := recordUsage(ctx, s.store.Queries, db, "usage.hourly",
			map[string]any{"storage_bytes": r.StorageBytes, "backup_bytes": r.BackupBytes, "period_start": hour, "period_end": hour.Add(time.Hour)},
			&hour, now)
		if err != nil {
			return 0, err
		}
	}
	return len(rows), nil
}

// usageEventFrom is the API and wire form of a numbered event (seq is set
// on every row the queries that call this return).
func usageEventFrom(e store.UsageEvent) billing.Event {
	var seq int64
	if e.Seq != nil {
		seq = *e.Seq
	}
	ev := billing.Event{ID: e.ID.String(), Seq: seq, Type: e.Kind, CustomerID: e.CustomerID, OccurredAt: e.OccurredAt.UTC(), Data: e.Payload}
	if e.DatabaseID != nil {
		id := e.DatabaseID.String()
		ev.DatabaseID = &id
	}
	return ev
}

// UsagePage is a page of usage events and the cursor of the next.
type UsagePage struct {
	Events     []billing.Event
	NextCursor string
}

// sequenceUsage numbers the committed events that have no seq yet.
//
// Why after commit: a seq taken at INSERT (an identity) is visible to
// readers in commit order, not number order, so a reader whose cursor
// passed 11 never saw a 10 that committed later. The other sound design,
// handing out only rows below the oldest in-flight transaction
// (pg_snapshot_xmin and an xid8 per row), needs a cursor of (xid, seq),
// which breaks the numeric cursors clients already keep, orders events by
// when their transaction first wrote instead of when it committed, and
// stalls every reader behind any long transaction on the metadata server. A single sequencer keeps seq
// what clients know (a plain increasing number, old cursors stay valid)
// at the cost of one small UPDATE per read or delivery pass.
func (s *Service) sequenceUsage(ctx context.Context) error {
	const batch = 5000
	err := s.store.InTx(ctx, func(q *store.Queries) error {
		locked, err := q.TryLockUsageSequencer(ctx)
		if err != nil || !locked {
			return err
		}
		for {
			n, err := q.SequenceUsageEvents(ctx, batch)
			if err != nil || n < batch {
				return err
			}
		}
	})
	if err != nil {
		return fmt.Errorf("sequence usage events: %w", err)
	}
	return nil
}

// ListUsage lets internal keys pull usage events in order, after a cursor.
// The cursor is the seq of the last event read: events are numbered only
// once committed, and in order, so no later page holds a smaller seq.
func (s *Service) ListUsage(ctx context.Context, c Caller, cursor string, limit int, customer string) (*UsagePage, error) {
	if !c.Internal {
		return nil, cellar.Errorf(cellar.CodeForbidden, "usage events are for internal keys only")
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
	var cust *string
	if customer != "" {
		if err := cellar.ValidateCustomerID(customer); err != nil {
			return nil, cellar.Invalid(cellar.FieldError{Field: "customer_id", Message: err.Error()})
		}
		cust = &customer
	}
	if err := s.sequenceUsage(ctx); err != nil {
		return nil, err
	}
	rows, err := s.store.ListUsageEvents(ctx, store.ListUsageEventsParams{AfterSeq: after, CustomerID: cust, RowLimit: int32(limit)})
	if err != nil {
		return nil, err
	}
	page := &UsagePage{Events: make([]billing.Event, 0, len(rows))}
	for _, r := range rows {
		page.Events = append(page.Events, usageEventFrom(r))
	}
	if len(rows) == limit {
		page.NextCursor = strconv.FormatInt(*rows[len(rows)-1].Seq, 10)
	}
	return page, nil
}
