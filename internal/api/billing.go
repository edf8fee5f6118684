package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

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

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, r, s.log, cellar.Invalid(cellar.FieldError{Field: "limit", Message: "must be from 1 to 1000"}))
			return
		}
		limit = n
	}
	page, err := s.svc.ListDeadLetters(r.Context(), caller(r), q.Get("cursor"), limit)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := struct {
		DeadLetters []deadLetterJSON `json:"dead_letters"`
		NextCursor  *string          `json:"next_cursor"`
	}{DeadLetters: make([]deadLetterJSON, 0, len(page.DeadLetters))}
	for _, d := range page.DeadLetters {
		out.DeadLetters = append(out.DeadLetters, deadLetterJSONFrom(d))
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) requeueDeadLetter(w http.ResponseWriter, r *http.Request) {
	d, err := s.svc.RequeueDeadLetter(r.Context(), caller(r), chi.URLParam(r, "event_id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, deadLetterJSONFrom(*d))
}
