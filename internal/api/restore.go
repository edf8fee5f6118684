package api

import (
	"context"
	"net/http"
	"time"

	"github.com/cellar/cellar/internal/service"
)

// restoreJSON is a restore as the API shows it. The credentials fields are
// only in the 202 answer of a restore to a new database.
type restoreJSON struct {
	RestoreID        string     `json:"restore_id"`
	DBType           string     `json:"db_type" enum:"postgresql|mariadb"`
	DBName           string     `json:"db_name" doc:"The database the restore was requested on"`
	TargetDBName     string     `json:"target_db_name" doc:"Where the snapshot is restored: db_name, or the new database"`
	SnapshotID       string     `json:"snapshot_id"`
	Status           string     `json:"status" enum:"pending|running|completed|failed"`
	Error            *string    `json:"error" doc:"Why it failed, and what became of the database"`
	CreatedAt        time.Time  `json:"created_at"`
	StartedAt        *time.Time `json:"started_at"`
	FinishedAt       *time.Time `json:"finished_at"`
	Message          string     `json:"message,omitempty" doc:"Only in the 202 answer"`
	Username         *string    `json:"username,omitempty" doc:"Only in the 202 answer for target_db_name: the new database's credentials, shown once"`
	Password         *string    `json:"password,omitempty"`
	Host             *string    `json:"host,omitempty"`
	Port             *int       `json:"port,omitempty"`
	ConnectionString *string    `json:"connection_string,omitempty"`
}

func restoreJSONFrom(j *service.RestoreJob) restoreJSON {
	return restoreJSON{
		RestoreID: j.ID.String(), DBType: string(j.Engine), DBName: j.Database, TargetDBName: j.Target,
		SnapshotID: j.SnapshotID, Status: string(j.Status), Error: j.Error, CreatedAt: j.CreatedAt.UTC(),
		StartedAt: utc(j.StartedAt), FinishedAt: utc(j.FinishedAt),
	}
}

func restorePath(j *service.RestoreJob) string {
	return "/v1/databases/" + string(j.Engine) + "/" + j.Database + "/restores/" + j.ID.String()
}

type restoreRequest struct {
	dbAddress
	Body service.RestoreRequest
}

func (r *restoreRequest) body() any { return &r.Body }

// restoreResponse is the 202 answer: the restore, where to poll it, and
// for a restore to a new database that database's credentials, shown once.
type restoreResponse struct {
	restoreJSON
	location string
}

// SetHeaders sets Location, where to poll the restore.
func (r *restoreResponse) SetHeaders(h http.Header) { h.Set("Location", r.location) }

// Secrets is the new database's password, if there is one.
func (r *restoreResponse) Secrets() []string {
	if r.Password == nil {
		return nil
	}
	return []string{*r.Password}
}

// restore queues a restore and answers 202 with it.
func (s *Server) restore(ctx context.Context, c service.Caller, req *restoreRequest) (*restoreResponse, error) {
	j, err := s.svc.Restore(ctx, c, req.DBType, req.DBName, req.Body)
	if err != nil {
		return nil, err
	}
	out := restoreJSONFrom(j)
	out.Message = "Restore of snapshot " + j.SnapshotID + " into " + j.Target + " queued; poll " + restorePath(j) + " until it is completed or failed. Sessions on the database are ended at the swap."
	if n := j.New; n != nil {
		cs := n.ConnectionString()
		out.Username, out.Password, out.Host, out.Port, out.ConnectionString = &n.Username, &n.Password, &n.Host, &n.Port, &cs
		out.Message = "New database " + j.Target + " created; the snapshot is being restored into it: poll " + restorePath(j) +
			". Store the password now, it will not be shown again; a restore that fails deletes the new database."
	}
	return &restoreResponse{restoreJSON: out, location: restorePath(j)}, nil
}

// restoreIDRequest addresses one restore of a database.
type restoreIDRequest struct {
	dbAddress
	RestoreID string
}

func (r *restoreIDRequest) ExtractRaw(raw rawRequest) error {
	r.extract(raw)
	r.RestoreID = raw.Path("restore_id")
	return nil
}

func (s *Server) getRestore(ctx context.Context, c service.Caller, req *restoreIDRequest) (*restoreJSON, error) {
	j, err := s.svc.GetRestore(ctx, c, req.DBType, req.DBName, req.RestoreID)
	if err != nil {
		return nil, err
	}
	out := restoreJSONFrom(j)
	return &out, nil
}
