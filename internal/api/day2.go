package api

import (
	"context"
	"fmt"
	"time"

	"github.com/cellar/cellar/internal/service"
)

type credentialsResponse struct {
	Host             string  `json:"host"`
	Port             int     `json:"port"`
	Database         string  `json:"database"`
	Username         string  `json:"username"`
	Password         *string `json:"password" doc:"Never returned here; always null. Rotate to get a new password." type:"null"` // always null here
	ConnectionString string  `json:"connection_string" doc:"Without the password."`
}

func (s *Server) getCredentials(ctx context.Context, c service.Caller, req *dbAddress) (*credentialsResponse, error) {
	creds, err := s.svc.GetCredentials(ctx, c, req.DBType, req.DBName)
	if err != nil {
		return nil, err
	}
	return &credentialsResponse{
		Host: creds.Host, Port: creds.Port, Database: creds.Database, Username: creds.Username,
		ConnectionString: creds.ConnectionString(),
	}, nil
}

type rotateRequest struct {
	dbAddress
	Body service.RotateRequest
}

func (r *rotateRequest) body() any { return &r.Body }

type rotateResponse struct {
	Success            bool      `json:"success"`
	DBName             string    `json:"db_name"`
	Username           string    `json:"username"`
	Password           string    `json:"password"`
	Host               string    `json:"host"`
	Port               int       `json:"port"`
	ConnectionString   string    `json:"connection_string"`
	CreatedAt          time.Time `json:"created_at" doc:"When this password was set"`
	SessionsTerminated int       `json:"sessions_terminated" doc:"Sessions ended because they used the old password (terminate_sessions)"`
}

// Secrets is the new password, shown once.
func (r *rotateResponse) Secrets() []string { return []string{r.Password} }

func (s *Server) rotateCredentials(ctx context.Context, c service.Caller, req *rotateRequest) (*rotateResponse, error) {
	rot, err := s.svc.RotateCredentials(ctx, c, req.DBType, req.DBName, req.Body)
	if err != nil {
		return nil, err
	}
	return &rotateResponse{
		Success: true, DBName: rot.Database, Username: rot.Username, Password: rot.Password,
		Host: rot.Host, Port: rot.Port, ConnectionString: rot.ConnectionString(),
		CreatedAt: rot.RotatedAt, SessionsTerminated: rot.SessionsEnded,
	}, nil
}

type updateDatabaseRequest struct {
	dbAddress
	Body service.UpdateDatabaseRequest
}

func (r *updateDatabaseRequest) body() any { return &r.Body }

func (s *Server) updateDatabase(ctx context.Context, c service.Caller, req *updateDatabaseRequest) (*successResponse, error) {
	if err := s.svc.UpdateDatabase(ctx, c, req.DBType, req.DBName, req.Body); err != nil {
		return nil, err
	}
	msg := "Database " + req.DBName + " updated"
	if req.Body.ConnectionLimit != nil {
		msg += fmt.Sprintf("; connection limit is now %d", *req.Body.ConnectionLimit)
	}
	return &successResponse{Success: true, Message: msg}, nil
}

type restartResponse struct {
	Success            bool   `json:"success"`
	Message            string `json:"message"`
	SessionsTerminated int    `json:"sessions_terminated"`
}

func (s *Server) restartDatabase(ctx context.Context, c service.Caller, req *dbAddress) (*restartResponse, error) {
	n, err := s.svc.RestartDatabase(ctx, c, req.DBType, req.DBName)
	if err != nil {
		return nil, err
	}
	return &restartResponse{
		Success: true, SessionsTerminated: n,
		Message: fmt.Sprintf("Terminated %d session(s) on %s; the server itself keeps running", n, req.DBName),
	}, nil
}

type infoResponse struct {
	DBName          string    `json:"db_name"`
	DBType          string    `json:"db_type" enum:"postgresql|mariadb"`
	SizeMB          float64   `json:"size_mb"`
	ConnectionCount int       `json:"connection_count"`
	ConnectionLimit *int      `json:"connection_limit" doc:"null when unlimited"`
	CreatedAt       time.Time `json:"created_at"`
	Owner           string    `json:"owner"`
}

func (s *Server) databaseInfo(ctx context.Context, c service.Caller, req *dbAddress) (*infoResponse, error) {
	info, err := s.svc.GetDatabaseInfo(ctx, c, req.DBType, req.DBName)
	if err != nil {
		return nil, err
	}
	return &infoResponse{
		DBName: info.Name, DBType: string(info.Engine), SizeMB: float64(int(info.SizeMB*100)) / 100,
		ConnectionCount: info.Connections, ConnectionLimit: info.ConnectionLimit, CreatedAt: info.CreatedAt.UTC(), Owner: info.Owner,
	}, nil
}

type historyEventJSON struct {
	Kind       string         `json:"kind" enum:"created|rotated|updated|restarted|deleted|access_rule_added|access_rule_deleted|access_rules_applied|snapshot_created|snapshot_deleted|restored|needs_attention|backup_policy_set"`
	OccurredAt time.Time      `json:"occurred_at"`
	Actor      string         `json:"actor" doc:"Prefix of the API key that made the change"`
	RequestID  string         `json:"request_id"`
	RemoteAddr string         `json:"remote_addr"`
	Details    map[string]any `json:"details"`
}

type historyEntryJSON struct {
	DBName     string             `json:"db_name"`
	DBType     string             `json:"db_type" enum:"postgresql|mariadb"`
	Username   string             `json:"username"`
	Status     string             `json:"status" enum:"active|deleting|deleted"`
	Server     string             `json:"server"`
	CustomerID string             `json:"customer_id"`
	CreatedAt  time.Time          `json:"created_at"`
	DeletedAt  *time.Time         `json:"deleted_at"`
	Events     []historyEventJSON `json:"events" doc:"The newest events (at most events_limit), oldest first"`
	// EventsCursor fetches the events before Events (history_events.go).
	EventsCursor *string `json:"events_cursor" doc:"Pass as cursor to GET /v1/databases/history/events for the events before these; null when these are all"`
}

type historyResponse struct {
	Databases  []historyEntryJSON `json:"databases"`
	NextCursor *string            `json:"next_cursor" doc:"Pass as cursor for the next page; null on the last page"`
}

type historyRequest struct{ service.HistoryQuery }

func (r *historyRequest) ExtractRaw(raw rawRequest) error {
	q := raw.Query()
	hq, err := service.ParseHistoryQuery(q.Get, q.Has)
	r.HistoryQuery = hq
	return err
}

func (s *Server) history(ctx context.Context, c service.Caller, req *historyRequest) (*historyResponse, error) {
	page, err := s.svc.History(ctx, c, req.HistoryQuery)
	if err != nil {
		return nil, err
	}
	out := &historyResponse{Databases: make([]historyEntryJSON, 0, len(page.Entries))}
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
	return out, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
