package api

import (
	"context"
	"strconv"
	"time"

	"github.com/cellar/cellar/internal/billing"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/service"
)

// deadLetterJSON is a usage event set aside after failed deliveries;
// dead_lettered_at is null once it is re-queued.
type deadLetterJSON struct {
	Event          billing.Event `json:"event"`
	Attempts       int           `json:"attempts"`
	LastError      string        `json:"last_error"`
	DeadLetteredAt *time.Time    `json:"dead_lettered_at"`
}

func deadLetterJSONFrom(d service.DeadLetter) deadLetterJSON {
	out := deadLetterJSON{Event: d.Event, Attempts: d.Attempts, LastError: d.LastError}
	if !d.DeadLetteredAt.IsZero() {
		at := d.DeadLetteredAt
		out.DeadLetteredAt = &at
	}
	return out
}

// pageRequest is a cursor and a limit from the query.
type pageRequest struct {
	Cursor string
	Limit  int
}

func (r *pageRequest) ExtractRaw(raw rawRequest) error {
	q := raw.Query()
	r.Cursor, r.Limit = q.Get("cursor"), 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return cellar.Invalid(cellar.FieldError{Field: "limit", Message: "must be from 1 to 1000"})
		}
		r.Limit = n
	}
	return nil
}

type deadLetterPageResponse struct {
	DeadLetters []deadLetterJSON `json:"dead_letters"`
	NextCursor  *string          `json:"next_cursor"`
}

func (s *Server) listDeadLetters(ctx context.Context, c service.Caller, req *pageRequest) (*deadLetterPageResponse, error) {
	page, err := s.svc.ListDeadLetters(ctx, c, req.Cursor, req.Limit)
	if err != nil {
		return nil, err
	}
	out := &deadLetterPageResponse{DeadLetters: make([]deadLetterJSON, 0, len(page.DeadLetters))}
	for _, d := range page.DeadLetters {
		out.DeadLetters = append(out.DeadLetters, deadLetterJSONFrom(d))
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	return out, nil
}

// eventRequest addresses one usage event.
type eventRequest struct{ EventID string }

func (r *eventRequest) ExtractRaw(raw rawRequest) error {
	r.EventID = raw.Path("event_id")
	return nil
}

func (s *Server) requeueDeadLetter(ctx context.Context, c service.Caller, req *eventRequest) (*deadLetterJSON, error) {
	d, err := s.svc.RequeueDeadLetter(ctx, c, req.EventID)
	if err != nil {
		return nil, err
	}
	out := deadLetterJSONFrom(*d)
	return &out, nil
}
