package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cellar/cellar/internal/service"
)

type apiKeyJSON struct {
	ID          string     `json:"id"`
	Prefix      string     `json:"prefix"`
	Name        string     `json:"name"`
	CustomerID  string     `json:"customer_id"`
	Permissions []string   `json:"permissions"`
	Internal    bool       `json:"internal"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
}

func apiKeyJSONFrom(k service.APIKey) apiKeyJSON {
	return apiKeyJSON{
		ID: k.ID.String(), Prefix: k.Prefix, Name: k.Name, CustomerID: k.CustomerID, Permissions: k.Permissions,
		Internal: k.Internal, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt.UTC(), LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt,
	}
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	req, err := decode[service.CreateKeyRequest](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	k, err := s.svc.CreateKey(r.Context(), caller(r), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	markSecret(r.Context(), k.Key)
	noStore(w)
	writeJSON(w, http.StatusCreated, struct {
		apiKeyJSON
		Key string `json:"key"`
	}{apiKeyJSONFrom(k.APIKey), k.Key})
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.svc.ListKeys(r.Context(), caller(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := struct {
		Keys []apiKeyJSON `json:"keys"`
	}{Keys: make([]apiKeyJSON, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, apiKeyJSONFrom(k))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.svc.RevokeKey(r.Context(), caller(r), chi.URLParam(r, "key_id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, successResponse{Success: true, Message: "API key " + k.Prefix + " revoked"})
}

type meJSON struct {
	KeyPrefix   string   `json:"key_prefix"`
	CustomerID  string   `json:"customer_id"`
	Permissions []string `json:"permissions"`
	Internal    bool     `json:"internal"`
}

// me tells a client (the dashboard) who its key is and what it may do, so
// it offers only what will work.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p, _ := principalFrom(r.Context())
	out := meJSON{KeyPrefix: p.KeyPrefix, CustomerID: p.CustomerID, Internal: p.Internal, Permissions: []string{}}
	for _, perm := range p.Permissions {
		out.Permissions = append(out.Permissions, string(perm))
	}
	writeJSON(w, http.StatusOK, out)
}
