package api

import (
	"context"

	"github.com/cellar/cellar/internal/service"
)

type eventsPageJSON struct {
	Events     []historyEventJSON `json:"events"`
	NextCursor *string            `json:"next_cursor" doc:"Pass as cursor for older events; null when there are none"`
}

type historyEventsRequest struct {
	Cursor string
	Limit  int
}

func (r *historyEventsRequest) ExtractRaw(raw rawRequest) error {
	q := raw.Query()
	var err error
	r.Cursor, r.Limit, err = service.ParseEventsQuery(q.Get, q.Has)
	return err
}

// historyEvents pages back through one database's events, from a history
// entry's events_cursor.
func (s *Server) historyEvents(ctx context.Context, c service.Caller, req *historyEventsRequest) (*eventsPageJSON, error) {
	page, err := s.svc.HistoryEvents(ctx, c, req.Cursor, req.Limit)
	if err != nil {
		return nil, err
	}
	out := &eventsPageJSON{Events: historyEventsJSON(page.Events)}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	return out, nil
}

func historyEventsJSON(events []service.HistoryEvent) []historyEventJSON {
	out := make([]historyEventJSON, 0, len(events))
	for _, ev := range events {
		if ev.Details == nil {
			ev.Details = map[string]any{}
		}
		out = append(out, historyEventJSON{
			Kind: ev.Kind, OccurredAt: ev.OccurredAt.UTC(), Actor: ev.Actor, RequestID: ev.RequestID,
			RemoteAddr: ev.RemoteAddr, Details: ev.Details,
		})
	}
	return out
}
