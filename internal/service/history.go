package service

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// HistoryQuery selects a page of a customer's database history.
type HistoryQuery struct {
	DBType         string // "" for both engines
	IncludeDeleted bool
	Since          *time.Time // databases alive at or after this time
	Limit          int
	Cursor         string
	CustomerID     string // internal keys only
	// EventsLimit bounds the events shown per database: the newest ones,
	// the rest reachable through HistoryEntry.EventsCursor.
	EventsLimit int
}

// Limits of a history page.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 200
	// Events per database on a history page, and per page of
	// GET /v1/databases/history/events.
	DefaultHistoryEvents = 20
	MaxHistoryEvents     = 100
)

// HistoryEntry is one database in the history, with its events in order.
type HistoryEntry struct {
	Engine     cellar.Engine
	Name       string
	Username   string
	Status     cellar.DatabaseStatus
	Server     string
	CustomerID string
	CreatedAt  time.Time
	DeletedAt  *time.Time
	// Events are the database's newest events, oldest first; EventsCursor,
	// when set, fetches the ones before them.
	Events       []HistoryEvent
	EventsCursor string
}

// HistoryEvent is one thing that happened to a database.
type HistoryEvent struct {
	Kind       string
	OccurredAt time.Time
	Actor      string
	RequestID  string
	RemoteAddr string
	Details    map[string]any
}

// HistoryPage is a page of history and the cursor of the next one ("" at
// the end).
type HistoryPage struct {
	Entries    []HistoryEntry
	NextCursor string
}

// ParseHistoryQuery reads the query parameters of GET /v1/databases/history.
func ParseHistoryQuery(get func(string) string, has func(string) bool) (HistoryQuery, error) {
	q := HistoryQuery{IncludeDeleted: true, Limit: DefaultHistoryLimit, Cursor: get("cursor"), CustomerID: get("customer_id"),
		EventsLimit: DefaultHistoryEvents}
	var fields []cellar.FieldError
	if v := get("db_type"); v != "" {
		if _, err := cellar.ParseEngine(v); err != nil {
			fields = append(fields, cellar.FieldError{Field: "db_type", Message: err.Error()})
		}
		q.DBType = v
	}
	if has("include_deleted") {
		b, err := strconv.ParseBool(get("include_deleted"))
		if err != nil {
			fields = append(fields, cellar.FieldError{Field: "include_deleted", Message: "must be true or false"})
		}
		q.IncludeDeleted = b
	}
	if has("since") {
		t, err := time.Parse(time.RFC3339, get("since"))
		if err != nil {
			fields = append(fields, cellar.FieldError{Field: "since", Message: "must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z"})
		}
		q.Since = &t
	}
	if has("limit") {
		n, err := strconv.Atoi(get("limit"))
		if err != nil || n < 1 || n > MaxHistoryLimit {
			fields = append(fields, cellar.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", MaxHistoryLimit)})
		}
		q.Limit = n
	}
	if has("events_limit") {
		n, err := strconv.Atoi(get("events_limit"))
		if err != nil || n < 1 || n > MaxHistoryEvents {
			fields = append(fields, cellar.FieldError{Field: "events_limit", Message: fmt.Sprintf("must be an integer from 1 to %d", MaxHistoryEvents)})
		}
		q.EventsLimit = n
	}
	if q.Cursor != "" {
		if _, _, err := decodeCursor(q.Cursor); err != nil {
			fields = append(fields, cellar.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		}
	}
	if fields != nil {
		return q, cellar.Invalid(fields...)
	}
	return q, nil
}

// History lists every database the customer ever had, deleted ones
// included, each with its events in order. Creates that were rolled back
// never existed for the customer (nor on any server) and are left out, so
// the history matches the servers.
func (s *Service) History(ctx context.Context, c Caller, q HistoryQuery) (*HistoryPage, error) {
	if err := c.Require(cellar.PermDatabaseRead); err != nil {
		return nil, err
	}
	customer, err := c.CustomerFor(q.CustomerID)
	if err != nil {
		return nil, err
	}
	params := store.ListDatabaseHistoryParams{
		CustomerID: customer, IncludeDeleted: q.IncludeDeleted, Since: q.Since, RowLimit: int32(q.Limit + 1),
	}
	if q.DBType != "" {
		params.Engine = &q.DBType
	}
	if q.Cursor != "" {
		at, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, cellar.Invalid(cellar.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		}
		params.AfterCreatedAt, params.AfterID = &at, &id
	}
	rows, err := s.store.ListDatabaseHistory(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list history: %w", err)
	}
	page := &HistoryPage{Entries: []HistoryEntry{}}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		last := rows[len(rows)-1].Database
		page.NextCursor = encodeCursor(last.CreatedAt, last.ID)
	}
	ids := make([]uuid.UUID, len(rows))
	byID := map[uuid.UUID]int{}
	for i, r := range rows {
		d := r.Database
		ids[i], byID[d.ID] = d.ID, i
		page.Entries = append(page.Entries, HistoryEntry{
			Engine: cellar.Engine(d.Engine), Name: d.Name, Username: d.Username, Status: d.Status,
			Server: r.ServerName, CustomerID: d.CustomerID, CreatedAt: d.CreatedAt, DeletedAt: d.DeletedAt,
			Events: []HistoryEvent{},
		})
	}
	// One more than shown per database tells whether older events exist.
	events, err := s.store.ListRecentEventsOfDatabases(ctx, store.ListRecentEventsOfDatabasesParams{
		DatabaseIds: ids, CustomerID: customer, PerDatabase: int32(q.EventsLimit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	shown := map[uuid.UUID]int{} // events of each database seen so far, oldest first
	counts := map[uuid.UUID]int{}
	for _, ev := range events {
		counts[ev.DatabaseID]++
	}
	for _, ev := range events {
		e := &page.Entries[byID[ev.DatabaseID]]
		shown[ev.DatabaseID]++
		if counts[ev.DatabaseID] > q.EventsLimit && shown[ev.DatabaseID] == 1 {
			continue // the extra, oldest one: only says that there are more
		}
		if e.EventsCursor == "" && counts[ev.DatabaseID] > q.EventsLimit {
			e.EventsCursor = encodeEventsCursor(customer, ev.DatabaseID, ev.ID)
		}
		e.Events = append(e.Events, historyEventFrom(ev.Kind, ev.OccurredAt, ev.Actor, ev.RequestID, ev.RemoteAddr, ev.Details))
	}
	return page, nil
}

// A cursor is the (created_at, id) of the last entry of a page, opaque to
// clients.
func encodeCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id.String()))
}

func decodeCursor(s string) (time.Time, uuid.UUID, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, uuid.UUID{}, err
	}
	ts, idText, ok := strings.Cut(string(raw), "|")
	if !ok {
		return time.Time{}, uuid.UUID{}, fmt.Errorf("malformed cursor")
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, uuid.UUID{}, err
	}
	id, err := uuid.Parse(idText)
	return at, id, err
}
