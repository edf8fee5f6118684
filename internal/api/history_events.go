package api

import (
	"net/http"

	"github.com/cellar/cellar/internal/service"
)

type eventsPageJSON struct {
	Events     []historyEventJSON `json:"events"`
	NextCursor *string            `json:"next_cursor"`
}

// historyEvents pages back through one database's events, from a history
// entry's events_cursor.
func (s *Server) historyEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cursor, limit, err := service.ParseEventsQuery(q.Get, q.Has)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	page, err := s.svc.HistoryEvents(r.Context(), caller(r), cursor, limit)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := eventsPageJSON{Events: historyEventsJSON(page.Events)}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
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
