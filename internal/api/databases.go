package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

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

	status int
}

// StatusCode is 201 for a creation, 200 for a repeated create.
func (r *createDatabaseResponse) StatusCode() int { return r.status }

// Secrets is the password, shown once.
func (r *createDatabaseResponse) Secrets() []string {
	if r.Password == nil {
		return nil
	}
	return []string{*r.Password}
}

func (s *Server) createDatabase(ctx context.Context, c service.Caller, req *service.CreateDatabaseRequest) (*createDatabaseResponse, error) {
	res, err := s.svc.CreateDatabase(ctx, c, *req)
	if err != nil {
		return nil, err
	}
	out := &createDatabaseResponse{
		Success:          true,
		DBType:           string(res.Engine),
		DBName:           res.Database,
		Username:         res.Username,
		Host:             res.Host,
		Port:             res.Port,
		ConnectionString: res.ConnectionString(),
		Idempotent:       res.Idempotent,
		status:           http.StatusCreated,
	}
	if res.Idempotent {
		out.status = http.StatusOK
		out.Message = fmt.Sprintf("Database %s already exists; its password is not shown again (rotate it to get a new one)", res.Database)
	} else {
		out.Password = &res.Password
		out.PasswordGenerated = true
		out.Message = fmt.Sprintf("Database %s created; store the password now, it will not be shown again", res.Database)
	}
	return out, nil
}

type successResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

func (s *Server) deleteDatabaseByBody(ctx context.Context, c service.Caller, req *service.DeleteDatabaseRequest) (*successResponse, error) {
	return s.deleteDatabase(ctx, c, *req)
}

// deleteByPathRequest is DELETE /v1/databases/{db_type}/{db_name}[?username=].
type deleteByPathRequest struct {
	dbAddress
	Username *string
}

func (r *deleteByPathRequest) ExtractRaw(raw rawRequest) error {
	r.extract(raw)
	if q := raw.Query(); q.Has("username") {
		u := q.Get("username")
		r.Username = &u
	}
	return nil
}

func (s *Server) deleteDatabaseByPath(ctx context.Context, c service.Caller, req *deleteByPathRequest) (*successResponse, error) {
	return s.deleteDatabase(ctx, c, service.DeleteDatabaseRequest{DBType: req.DBType, DBName: req.DBName, Username: req.Username})
}

func (s *Server) deleteDatabase(ctx context.Context, c service.Caller, req service.DeleteDatabaseRequest) (*successResponse, error) {
	if err := s.svc.DeleteDatabase(ctx, c, req); err != nil {
		return nil, err
	}
	return &successResponse{
		Success: true,
		Message: fmt.Sprintf("Database %s, its user and its stored credentials were deleted", req.DBName),
	}, nil
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

type listDatabasesRequest struct {
	DBType     string
	CustomerID string
}

func (r *listDatabasesRequest) ExtractRaw(raw rawRequest) error {
	r.DBType, r.CustomerID = raw.Path("db_type"), raw.Query().Get("customer_id")
	return nil
}

type listDatabasesResponse struct {
	DBType    string         `json:"db_type"`
	Databases []databaseJSON `json:"databases"`
}

func (s *Server) listDatabases(ctx context.Context, c service.Caller, req *listDatabasesRequest) (*listDatabasesResponse, error) {
	dbs, err := s.svc.ListDatabases(ctx, c, req.DBType, req.CustomerID)
	if err != nil {
		return nil, err
	}
	out := &listDatabasesResponse{DBType: req.DBType, Databases: make([]databaseJSON, 0, len(dbs))}
	for _, d := range dbs {
		out.Databases = append(out.Databases, databaseJSON{
			DBName: d.Name, DBType: string(d.Engine), Username: d.Username, Status: d.Status, StatusReason: d.StatusReason,
			Host: d.Host, Port: d.Port, Server: d.Server, CustomerID: d.CustomerID,
			Description: d.Description, ConnectionLimit: d.ConnectionLimit, CreatedAt: d.CreatedAt.UTC(),
		})
	}
	return out, nil
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

type engineListResponse struct {
	Engines []engineJSON `json:"engines"`
}

// noRequest is the request of an endpoint that reads nothing but its caller.
type noRequest struct{}

func (s *Server) listEngines(ctx context.Context, c service.Caller, _ *noRequest) (*engineListResponse, error) {
	engines, err := s.svc.ListEngines(ctx, c)
	if err != nil {
		return nil, err
	}
	out := &engineListResponse{Engines: make([]engineJSON, 0, len(engines))}
	for _, e := range engines {
		j := engineJSON{DBType: string(e.Engine), Name: e.Engine.DisplayName(), Versions: e.Versions,
			Servers: e.Servers, Available: e.Available, Capabilities: e.Capabilities}
		if e.Version != "" {
			v := e.Version
			j.Version = &v
		}
		out.Engines = append(out.Engines, j)
	}
	return out, nil
}
