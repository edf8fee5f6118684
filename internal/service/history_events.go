package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// A history page shows each database's newest events only (so a database
// with a long life cannot make a page unbounded); the older ones are paged
// through GET /v1/databases/history/events with the entry's events_cursor,
// walking back in time, each page in order (oldest first).

// EventsPage is a page of one database's events, oldest first, and the
// cursor of the page before it ("" when there is none).
type EventsPage struct {
	Events     []HistoryEvent
	NextCursor string
}

// ParseEventsQuery reads the query of GET /v1/databases/history/events.
func ParseEventsQuery(get func(string) string, has func(string) bool) (cursor string, limit int, err error) {
	var fields []cellar.FieldError
	cursor, limit = get("cursor"), DefaultHistoryEvents
	if cursor == "" {
		fields = append(fields, cellar.FieldError{Field: "cursor", Message: "is required: the events_cursor of a history entry"})
	} else if _, _, _, err := decodeEventsCursor(cursor); err != nil {
		fields = append(fields, cellar.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
	}
	if has("limit") {
		n, err := strconv.Atoi(get("limit"))
		if err != nil || n < 1 || n > MaxHistoryEvents {
			fields = append(fields, cellar.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", MaxHistoryEvents)})
		}
		limit = n
	}
	if fields != nil {
		return "", 0, cellar.Invalid(fields...)
	}
	return cursor, limit, nil
}

// HistoryEvents returns the events of one database that come before the
// cursor, at most limit of them.
func (s *Service) HistoryEvents(ctx context.Context, c Caller, cursor string, limit int) (*EventsPage, error) {
	if err := c.Require(cellar.PermDatabaseRead); err != nil {
		return nil, err
	}
	customer, dbID, before, err := decodeEventsCursor(cursor)
	if err != nil {
		return nil, cellar.Invalid(cellar.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
	}
	// A cursor names its customer; only that customer (or an internal key)
	// may follow it. Read the same as a malformed cursor, so that a cursor
	// says nothing about another customer.
	if customer != c.CustomerID && !c.Internal {
		return nil, cellar.Invalid(cellar.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
	}
	rows, err := s.store.ListDatabaseEventsBefore(ctx, store.ListDatabaseEventsBeforeParams{
		CustomerID: customer, DatabaseID: dbID, BeforeID: before, RowLimit: int32(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	page := &EventsPage{Events: []HistoryEvent{}}
	if len(rows) > limit {
		rows = rows[:limit]
		page.NextCursor = encodeEventsCursor(customer, dbID, rows[len(rows)-1].ID)
	}
	slices.Reverse(rows) // newest first from the query; a page reads oldest first
	for _, ev := range rows {
		page.Events = append(page.Events, historyEventFrom(ev.Kind, ev.OccurredAt, ev.Actor, ev.RequestID, ev.RemoteAddr, ev.Details))
	}
	return page, nil
}

func historyEventFrom(kind string, at time.Time, actor, requestID, remoteAddr string, raw []byte) HistoryEvent {
	var details map[string]any
	_ = json.Unmarshal(raw, &details)
	return HistoryEvent{Kind: kind, OccurredAt: at, Actor: actor, RequestID: requestID, RemoteAddr: remoteAddr, Details: details}
}

// An events cursor is (customer, database id, id of the oldest event shown
// so far), opaque to clients.
func encodeEventsCursor(customer string, db uuid.UUID, before int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("ev|" + customer + "|" + db.String() + "|" + strconv.FormatInt(before, 10)))
}

func decodeEventsCursor(s string) (string, uuid.UUID, int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", uuid.UUID{}, 0, err
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 || parts[0] != "ev" || cellar.ValidateCustomerID(parts[1]) != nil {
		return "", uuid.UUID{}, 0, fmt.Errorf("malformed events cursor")
	}
	db, err := uuid.Parse(parts[2])
	if err != nil {
		return "", uuid.UUID{}, 0, err
	}
	before, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || before < 1 {
		return "", uuid.UUID{}, 0, fmt.Errorf("malformed events cursor")
	}
	return parts[1], db, before, nil
}
