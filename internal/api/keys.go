package api

import (
	"context"
	"time"

	"github.com/cellar/cellar/internal/service"
)

type apiKeyJSON struct {
	ID          string     `json:"id" format:"uuid"`
	Prefix      string     `json:"prefix" doc:"Visible identifier of the key"`
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

// newAPIKeyResponse is a created key with its secret, shown once.
type newAPIKeyResponse struct {
	apiKeyJSON
	Key string `json:"key" doc:"The secret key, shown once"`
}

// Secrets is the key itself.
func (r *newAPIKeyResponse) Secrets() []string { return []string{r.Key} }

func (s *Server) createKey(ctx context.Context, c service.Caller, req *service.CreateKeyRequest) (*newAPIKeyResponse, error) {
	k, err := s.svc.CreateKey(ctx, c, *req)
	if err != nil {
		return nil, err
	}
	return &newAPIKeyResponse{apiKeyJSONFrom(k.APIKey), k.Key}, nil
}

type apiKeyListResponse struct {
	Keys []apiKeyJSON `json:"keys"`
}

func (s *Server) listKeys(ctx context.Context, c service.Caller, _ *noRequest) (*apiKeyListResponse, error) {
	keys, err := s.svc.ListKeys(ctx, c)
	if err != nil {
		return nil, err
	}
	out := &apiKeyListResponse{Keys: make([]apiKeyJSON, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, apiKeyJSONFrom(k))
	}
	return out, nil
}

// keyRequest addresses one API key, by id or prefix.
type keyRequest struct{ KeyID string }

func (r *keyRequest) ExtractRaw(raw rawRequest) error {
	r.KeyID = raw.Path("key_id")
	return nil
}

func (s *Server) revokeKey(ctx context.Context, c service.Caller, req *keyRequest) (*successResponse, error) {
	k, err := s.svc.RevokeKey(ctx, c, req.KeyID)
	if err != nil {
		return nil, err
	}
	return &successResponse{Success: true, Message: "API key " + k.Prefix + " revoked"}, nil
}

type meJSON struct {
	KeyPrefix   string   `json:"key_prefix"`
	CustomerID  string   `json:"customer_id"`
	Permissions []string `json:"permissions"`
	Internal    bool     `json:"internal"`
}

// me tells a client (the dashboard) who its key is and what it may do, so
// it offers only what will work.
func (s *Server) me(_ context.Context, c service.Caller, _ *noRequest) (*meJSON, error) {
	p := c.Principal
	out := &meJSON{KeyPrefix: p.KeyPrefix, CustomerID: p.CustomerID, Internal: p.Internal, Permissions: []string{}}
	for _, perm := range p.Permissions {
		out.Permissions = append(out.Permissions, string(perm))
	}
	return out, nil
}
