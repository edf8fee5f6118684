package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cellar/cellar/internal/service"
)

type credentialsResponse struct {
	Host             string  `json:"host"`
	Port             int     `json:"port"`
	Database         string  `json:"database"`
	Username         string  `json:"username"`
	Password         *string `json:"password"` // always null here
	ConnectionString string  `json:"connection_string"`
}

func (s *Server) getCredentials(w http.ResponseWriter, r *http.Request) {
	creds, err := s.svc.GetCredentials(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, credentialsResponse{
		Host: creds.Host, Port: creds.Port, Database: creds.Database, Username: creds.Username,
		ConnectionString: creds.ConnectionString(),
	})
}

type rotateResponse struct {
	Success            bool      `json:"success"`
	DBName             string    `json:"db_name"`
	Username           string    `json:"username"`
	Password           string    `json:"password"`
	Host               string    `json:"host"`
	Port               int       `json:"port"`
	ConnectionString   string    `json:"connection_string"`
	CreatedAt          time.Time `json:"created_at"`
	SessionsTerminated int       `json:"sessions_terminated"`
}

func (s *Server) rotateCredentials(w http.ResponseWriter, r *http.Request) {
	req, err := decodeOptional[service.RotateRequest](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	rot, err := s.svc.RotateCredentials(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	rememberSecret(r.Context(), rot.Password, rot.SecretPath, rot.SecretVersion)
	noStore(w)
	writeJSON(w, http.StatusOK, rotateResponse{
		Success: true, DBName: rot.Database, Username: rot.Username, Password: rot.Password,
		Host: rot.Host, Port: rot.Port, ConnectionString: rot.ConnectionString(),
		CreatedAt: rot.RotatedAt, SessionsTerminated: rot.SessionsEnded,
	})
}

func (s *Server) updateDatabase(w http.ResponseWriter, r *http.Request) {
	req, err := decode[service.UpdateDatabaseRequest](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	name := chi.URLParam(r, "db_name")
	if err := s.svc.UpdateDatabase(r.Context(), caller(r), chi.URLParam(r, "db_type"), name, req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	msg := "Database " + name + " updated"
	if req.ConnectionLimit != nil {
		msg += fmt.Sprintf("; connection limit is now %d", *req.ConnectionLimit)
	}
	writeJSON(w, http.StatusOK, successResponse{Success: true, Message: msg})
}

type restartResponse struct {
	Success            bool   `json:"success"`
	Message            string `json:"message"`
	SessionsTerminated int    `json:"sessions_terminated"`
}

func (s *Server) restartDatabase(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "db_name")
	n, err := s.svc.RestartDatabase(r.Context(), caller(r), chi.URLParam(r, "db_type"), name)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, restartResponse{
		Success: true, SessionsTerminated: n,
		Message: fmt.Sprintf("Terminated %d session(s) on %s; the server itself keeps running", n, name),
	})
}

type infoResponse struct {
	DBName          string    `json:"db_name"`
	DBType          string    `json:"db_type"`
	SizeMB          float64   `json:"size_mb"`
	ConnectionCount int       `json:"connection_count"`
	ConnectionLimit *int      `json:"connection_limit"`
	CreatedAt       time.Time `json:"created_at"`
	Owner           string    `json:"owner"`
}

func (s *Server) databaseInfo(w http.ResponseWriter, r *http.Request) {
	info, err := s.svc.GetDatabaseInfo(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, infoResponse{
		DBName: info.Name, DBType: string(info.Engine), SizeMB: float64(int(info.SizeMB*100)) / 100,
		ConnectionCount: info.Connections, ConnectionLimit: info.ConnectionLimit, CreatedAt: info.CreatedAt.UTC(), Owner: info.Owner,
	})
}

type historyEventJSON struct {
	Kind       string         `json:"kind"`
	OccurredAt time.Time      `json:"occurred_at"`
	Actor      string         `json:"actor"`
	RequestID  string         `json:"request_id"`
	RemoteAddr string         `json:"remote_addr"`
	Details    map[string]any `json:"details"`
}

type historyEntryJSON struct {
	DBName     string             `json:"db_name"`
	DBType     string             `json:"db_type"`
	Username   string             `json:"username"`
	Status     string             `json:"status"`
	Server     string             `json:"server"`
	CustomerID string             `json:"customer_id"`
	CreatedAt  time.Time          `json:"created_at"`
	DeletedAt  *time.Time         `json:"deleted_at"`
	Events     []historyEventJSON `json:"events"`
	// EventsCursor fetches the events before Events (history_events.go).
	EventsCursor *string `json:"events_cursor"`
}

type historyResponse struct {
	Databases  []historyEntryJSON `json:"databases"`
	NextCursor *string            `json:"next_cursor"`
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hq, err := service.ParseHistoryQuery(q.Get, q.Has)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	page, err := s.svc.History(r.Context(), caller(r), hq)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := historyResponse{Databases: make([]historyEntryJSON, 0, len(page.Entries))}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	for _, e := range page.Entries {
		j := historyEntryJSON{
			DBName: e.Name, DBType: string(e.Engine), Username: e.Username, Status: string(e.Status), Server: e.Server,
			CustomerID: e.CustomerID, CreatedAt: e.CreatedAt.UTC(), DeletedAt: utc(e.DeletedAt), Events: []historyEventJSON{},
		}
		j.Events = historyEventsJSON(e.Events)
		if e.EventsCursor != "" {
			j.EventsCursor = &e.EventsCursor
		}
		out.Databases = append(out.Databases, j)
	}
	writeJSON(w, http.StatusOK, out)
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
