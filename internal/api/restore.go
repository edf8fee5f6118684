package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cellar/cellar/internal/service"
)

// restoreJSON is a restore as the API shows it. The credentials fields are
// only in the 202 answer of a restore to a new database.
type restoreJSON struct {
	RestoreID        string     `json:"restore_id"`
	DBType           string     `json:"db_type"`
	DBName           string     `json:"db_name"`
	TargetDBName     string     `json:"target_db_name"`
	SnapshotID       string     `json:"snapshot_id"`
	Status           string     `json:"status"`
	Error            *string    `json:"error"`
	CreatedAt        time.Time  `json:"created_at"`
	StartedAt        *time.Time `json:"started_at"`
	FinishedAt       *time.Time `json:"finished_at"`
	Message          string     `json:"message,omitempty"`
	Username         *string    `json:"username,omitempty"`
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

// restore queues a restore and answers 202 with it; Location is where to
// poll it.
func (s *Server) restore(w http.ResponseWriter, r *http.Request) {
	req, err := decode[service.RestoreRequest](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	j, err := s.svc.Restore(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := restoreJSONFrom(j)
	out.Message = "Restore of snapshot " + j.SnapshotID + " into " + j.Target + " queued; poll " + restorePath(j) + " until it is completed or failed. Sessions on the database are ended at the swap."
	if n := j.New; n != nil {
		cs := n.ConnectionString()
		out.Username, out.Password, out.Host, out.Port, out.ConnectionString = &n.Username, &n.Password, &n.Host, &n.Port, &cs
		out.Message = "New database " + j.Target + " created; the snapshot is being restored into it: poll " + restorePath(j) +
			". Store the password now, it will not be shown again; a restore that fails deletes the new database."
		rememberSecret(r.Context(), n.Password, n.SecretPath, n.SecretVersion)
		noStore(w)
	}
	w.Header().Set("Location", restorePath(j))
	writeJSON(w, http.StatusAccepted, out)
}

func (s *Server) getRestore(w http.ResponseWriter, r *http.Request) {
	j, err := s.svc.GetRestore(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"), chi.URLParam(r, "restore_id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, restoreJSONFrom(j))
}
