package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/testenv"
)

type historyEventsPage struct {
	Events []struct {
		Kind    string         `json:"kind"`
		Details map[string]any `json:"details"`
	} `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

type boundedHistory struct {
	Databases []struct {
		DBName string `json:"db_name"`
		Events []struct {
			Kind string `json:"kind"`
		} `json:"events"`
		EventsCursor *string `json:"events_cursor"`
	} `json:"databases"`
}

// A busy database does not make a history page unbounded: each entry shows
// its newest events (20 by default, events_limit at most 100), and
// events_cursor pages back through the rest, in order, nothing missed or
// repeated, for its own customer only.
func TestHistory_EventsPerDatabaseBoundedAndPaged(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "postgresql", "busy")
	const updates = 29 // 30 events with "created"
	for i := range updates {
		c.Expect(t, http.StatusOK, "PATCH", path(db, ""), map[string]any{"description": "v" + string(rune('a'+i%26))})
	}
	want := "created" + strings.Repeat(",updated", updates)

	// Default: the newest 20, with a cursor for the older ones.
	var h boundedHistory
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/history", nil).Decode(t, &h)
	if len(h.Databases) != 1 || len(h.Databases[0].Events) != 20 || h.Databases[0].EventsCursor == nil {
		t.Fatalf("default history page: %d databases, %d events, cursor %v", len(h.Databases), len(h.Databases[0].Events), h.Databases[0].EventsCursor)
	}

	// A small events_limit, then walk back 7 at a time.
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/history?events_limit=5", nil).Decode(t, &h)
	var kinds []string
	for _, ev := range h.Databases[0].Events {
		kinds = append(kinds, ev.Kind)
	}
	cursor := h.Databases[0].EventsCursor
	pages := 0
	for cursor != nil && pages < 20 {
		pages++
		var p historyEventsPage
		c.Expect(t, http.StatusOK, "GET", "/v1/databases/history/events?limit=7&cursor="+url.QueryEscape(*cursor), nil).Decode(t, &p)
		if len(p.Events) == 0 || len(p.Events) > 7 {
			t.Fatalf("page of %d events", len(p.Events))
		}
		older := make([]string, 0, len(p.Events)+len(kinds))
		for _, ev := range p.Events {
			older = append(older, ev.Kind)
		}
		kinds = append(older, kinds...)
		cursor = p.NextCursor
	}
	if got := strings.Join(kinds, ","); got != want || pages != 4 {
		t.Fatalf("walked %d pages: %s\nwant %s", pages, got, want)
	}

	// Everything at once when it fits.
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/history?events_limit=100", nil).Decode(t, &h)
	if len(h.Databases[0].Events) != updates+1 || h.Databases[0].EventsCursor != nil {
		t.Fatalf("events_limit=100: %d events, cursor %v", len(h.Databases[0].Events), h.Databases[0].EventsCursor)
	}

	// A cursor is only its customer's.
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/history?events_limit=1", nil).Decode(t, &h)
	other := e.NewCustomer(t)
	checkProblem(t, other.Do(t, "GET", "/v1/databases/history/events?cursor="+url.QueryEscape(*h.Databases[0].EventsCursor), nil),
		http.StatusUnprocessableEntity, "cursor")

	for _, bad := range []string{"events_limit=0", "events_limit=101", "events_limit=x"} {
		checkProblem(t, c.Do(t, "GET", "/v1/databases/history?"+bad, nil), http.StatusUnprocessableEntity, "events_limit")
	}
	for _, bad := range []string{"", "cursor=nope", "cursor=" + url.QueryEscape(*h.Databases[0].EventsCursor) + "&limit=0"} {
		field := "cursor"
		if strings.Contains(bad, "limit") {
			field = "limit"
		}
		checkProblem(t, c.Do(t, "GET", "/v1/databases/history/events?"+bad, nil), http.StatusUnprocessableEntity, field)
	}
}
