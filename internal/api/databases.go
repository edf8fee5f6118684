package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cellar/cellar/internal/service"
)

type createDatabaseResponse struct {
	Success           bool    `json:"success"`
	DBType            string  `json:"db_type"`
	DBName            string  `json:"db_name"`
	Username          string  `json:"username"`
	Password          *string `json:"password"`
	Host              string  `json:"host"`
	Port              int     `json:"port"`
	ConnectionString  string  `json:"connection_string"`
	Message           string  `json:"message"`
	PasswordGenerated bool    `json:"password_generated"`
	Idempotent        bool    `json:"idempotent"`
}

func (s *Server) createDatabase(w http.ResponseWriter, r *http.Request) {
	req, err := decode[service.CreateDatabaseRequest](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	res, err := s.svc.CreateDatabase(r.Context(), caller(r), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := createDatabaseResponse{
		Success:          true,
		DBType:           string(res.Engine),
		DBName:           res.Database,
		Username:         res.Username,
		Host:             res.Host,
		Port:             res.Port,
		ConnectionString: res.ConnectionString(),
		Idempotent:       res.Idempotent,
	}
	status := http.StatusCreated
	if res.Idempotent {
		status = http.StatusOK
		out.Message = fmt.Sprintf("Database %s already exists; its password is not shown again (rotate it to get a new one)", res.Database)
	} else {
		rememberSecret(r.Context(), res.Password, res.SecretPath, res.SecretVersion)
		out.Password = &res.Password
		out.PasswordGenerated = true
		out.Message = fmt.Sprintf("Database %s created; store the password now, it will not be shown again", res.Database)
	}
	noStore(w)
	writeJSON(w, status, out)
}

type successResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

func (s *Server) deleteDatabaseByBody(w http.ResponseWriter, r *http.Request) {
	req, err := decode[service.DeleteDatabaseRequest](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.deleteDatabase(w, r, req)
}

func (s *Server) deleteDatabaseByPath(w http.ResponseWriter, r *http.Request) {
	req := service.DeleteDatabaseRequest{DBType: chi.URLParam(r, "db_type"), DBName: chi.URLParam(r, "db_name")}
	if q := r.URL.Query(); q.Has("username") {
		u := q.Get("username")
		req.Username = &u
	}
	s.deleteDatabase(w, r, req)
}

func (s *Server) deleteDatabase(w http.ResponseWriter, r *http.Request, req service.DeleteDatabaseRequest) {
	if err := s.svc.DeleteDatabase(r.Context(), caller(r), req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, successResponse{
		Success: true,
		Message: fmt.Sprintf("Database %s, its user and its stored credentials were deleted", req.DBName),
	})
}

type databaseJSON struct {
	DBName          string    `json:"db_name"`
	DBType          string    `json:"db_type"`
	Username        string    `json:"username"`
	Status          string    `json:"status"`
	StatusReason    *string   `json:"status_reason,omitempty"`
	Host            string    `json:"host"`
	Port            int       `json:"port"`
	Server          string    `json:"server"`
	CustomerID      string    `json:"customer_id"`
	Description     *string   `json:"description"`
	ConnectionLimit *int32    `json:"connection_limit"`
	CreatedAt       time.Time `json:"created_at"`
}

type listDatabasesResponse struct {
	DBType    string         `json:"db_type"`
	Databases []databaseJSON `json:"databases"`
}

func (s *Server) listDatabases(w http.ResponseWriter, r *http.Request) {
	dbType := chi.URLParam(r, "db_type")
	dbs, err := s.svc.ListDatabases(r.Context(), caller(r), dbType, r.URL.Query().Get("customer_id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := listDatabasesResponse{DBType: dbType, Databases: make([]databaseJSON, 0, len(dbs))}
	for _, d := range dbs {
		out.Databases = append(out.Databases, databaseJSON{
			DBName: d.Name, DBType: string(d.Engine), Username: d.Username, Status: string(d.Status), StatusReason: d.StatusReason,
			Host: d.Host, Port: d.Port, Server: d.Server, CustomerID: d.CustomerID,
			Description: d.Description, ConnectionLimit: d.ConnectionLimit, CreatedAt: d.CreatedAt.UTC(),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

type engineJSON struct {
	DBType       string   `json:"db_type"`
	Name         string   `json:"name"`
	Version      *string  `json:"version"`
	Versions     []string `json:"versions"`
	Servers      int      `json:"servers"`
	Available    bool     `json:"available"`
	Capabilities []string `json:"capabilities"`
}

func (s *Server) listEngines(w http.ResponseWriter, r *http.Request) {
	engines, err := s.svc.ListEngines(r.Context(), caller(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := struct {
		Engines []engineJSON `json:"engines"`
	}{Engines: make([]engineJSON, 0, len(engines))}
	for _, e := range engines {
		j := engineJSON{DBType: string(e.Engine), Name: e.Engine.DisplayName(), Versions: e.Versions,
			Servers: e.Servers, Available: e.Available, Capabilities: e.Capabilities}
		if e.Version != "" {
			v := e.Version
			j.Version = &v
		}
		out.Engines = append(out.Engines, j)
	}
	writeJSON(w, http.StatusOK, out)
}
