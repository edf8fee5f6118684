package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// APIKey is an API key as shown to administrators: never the secret.
type APIKey struct {
	ID          uuid.UUID
	Prefix      string
	Name        string
	CustomerID  string
	Permissions []string
	Internal    bool
	CreatedBy   string
	CreatedAt   time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
}

// NewAPIKey is a freshly created key with its secret, shown once.
type NewAPIKey struct {
	APIKey
	Key string
}

// CreateKeyRequest is the body of POST /v1/admin/keys.
type CreateKeyRequest struct {
	Name        string   `json:"name"`
	CustomerID  string   `json:"customer_id"`
	Permissions []string `json:"permissions"`
	Internal    bool     `json:"internal"`
}

// Validate checks the request.
func (r *CreateKeyRequest) Validate() error {
	var fields []cellar.FieldError
	if len(r.Name) > 100 {
		fields = append(fields, cellar.FieldError{Field: "name", Message: "must be at most 100 characters"})
	}
	if r.CustomerID == "" {
		fields = append(fields, cellar.FieldError{Field: "customer_id", Message: "is required"})
	} else if err := cellar.ValidateCustomerID(r.CustomerID); err != nil {
		fields = append(fields, cellar.FieldError{Field: "customer_id", Message: err.Error()})
	}
	if len(r.Permissions) == 0 {
		fields = append(fields, cellar.FieldError{Field: "permissions", Message: "must list at least one permission"})
	}
	for _, p := range r.Permissions {
		if _, err := cellar.ParsePermission(p); err != nil {
			fields = append(fields, cellar.FieldError{Field: "permissions", Message: err.Error()})
		}
	}
	if fields != nil {
		return cellar.Invalid(fields...)
	}
	return nil
}

// keyPrefixLen is the length of the visible part of a generated key:
// "ck_" and eight characters.
const keyPrefixLen = 11

// generateKey returns a new key "ck_xxxxxxxx_<40 chars>" (about 280 bits).
func generateKey() string {
	return "ck_" + strings.ToLower(cellar.RandomToken(8)) + "_" + cellar.RandomToken(40)
}

func hashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// prefixOf is the visible identifier of a key. Keys Cellar generated show
// their own first characters; keys supplied by an operator (the bootstrap
// key) get an identifier derived from the hash, so none of their secret is
// stored in the clear.
func prefixOf(key string, hash []byte) string {
	if len(key) > keyPrefixLen && strings.HasPrefix(key, "ck_") && key[keyPrefixLen] == '_' {
		return key[:keyPrefixLen]
	}
	return "ck_" + hex.EncodeToString(hash)[:8]
}

// CreateKey makes a new API key. Only admins may, and only within their
// reach (see cellar.Principal.MayMint): internal admin keys make any key; a
// customer's admin key makes keys of its own customer with at most its own
// permissions, never internal ones.
func (s *Service) CreateKey(ctx context.Context, c Caller, req CreateKeyRequest) (*NewAPIKey, error) {
	if err := c.Require(cellar.PermAdmin); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	perms := make([]cellar.Permission, len(req.Permissions))
	for i, p := range req.Permissions {
		perms[i] = cellar.Permission(p)
	}
	if err := c.MayMint(req.CustomerID, perms, req.Internal); err != nil {
		return nil, err
	}
	k, err := s.createKey(ctx, req, c.KeyPrefix, "")
	if err == nil {
		s.audit(ctx, c, "api_key.created", k.Prefix, map[string]any{"customer_id": k.CustomerID, "permissions": k.Permissions, "internal": k.Internal})
	}
	return k, err
}

// CreateKeyLocally makes a key from the server's command line.
func (s *Service) CreateKeyLocally(ctx context.Context, req CreateKeyRequest) (*NewAPIKey, error) {
	k, err := s.createKey(ctx, req, "cli", "")
	if err == nil {
		s.audit(ctx, Caller{Principal: cellar.Principal{KeyPrefix: "cli"}}, "api_key.created", k.Prefix,
			map[string]any{"customer_id": k.CustomerID, "permissions": k.Permissions, "internal": k.Internal})
	}
	return k, err
}

func (s *Service) createKey(ctx context.Context, req CreateKeyRequest, createdBy, key string) (*NewAPIKey, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if key == "" {
		key = generateKey()
	}
	hash := hashKey(key)
	row, err := s.store.InsertAPIKey(ctx, store.InsertAPIKeyParams{
		ID: uuid.New(), Prefix: prefixOf(key, hash), KeyHash: hash, Name: req.Name, CustomerID: req.CustomerID,
		Permissions: req.Permissions, Internal: req.Internal, CreatedBy: createdBy,
	})
	if err != nil {
		return nil, fmt.Errorf("store API key: %w", err)
	}
	return &NewAPIKey{APIKey: apiKeyFrom(row), Key: key}, nil
}

// ListKeys lists keys, revoked ones included: every key for an internal
// admin key, the customer's own non-internal keys for a customer's admin
// key.
func (s *Service) ListKeys(ctx context.Context, c Caller) ([]APIKey, error) {
	if err := c.Require(cellar.PermAdmin); err != nil {
		return nil, err
	}
	if c.IsOperator() {
		return s.ListKeysLocally(ctx)
	}
	rows, err := s.store.ListAPIKeysByCustomer(ctx, c.CustomerID)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	out := make([]APIKey, 0, len(rows))
	for _, r := range rows {
		out = append(out, apiKeyFrom(r))
	}
	return out, nil
}

// ListKeysLocally lists keys for the server's command line.
func (s *Service) ListKeysLocally(ctx context.Context) ([]APIKey, error) {
	rows, err := s.store.ListAPIKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	out := make([]APIKey, 0, len(rows))
	for _, r := range rows {
		out = append(out, apiKeyFrom(r))
	}
	return out, nil
}

// RevokeKey revokes a key by id or prefix. A customer's admin key reaches
// only its customer's non-internal keys; any other key is not found.
func (s *Service) RevokeKey(ctx context.Context, c Caller, idOrPrefix string) (*APIKey, error) {
	if err := c.Require(cellar.PermAdmin); err != nil {
		return nil, err
	}
	var keys []store.ApiKey
	var err error
	if c.IsOperator() {
		keys, err = s.store.ListAPIKeys(ctx)
	} else {
		keys, err = s.store.ListAPIKeysByCustomer(ctx, c.CustomerID)
	}
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	k, err := s.revokeOneOf(ctx, keys, idOrPrefix)
	if err == nil {
		s.audit(ctx, c, "api_key.revoked", k.Prefix, map[string]any{"customer_id": k.CustomerID})
	}
	return k, err
}

// RevokeKeyLocally revokes a key from the server's command line.
func (s *Service) RevokeKeyLocally(ctx context.Context, idOrPrefix string) (*APIKey, error) {
	keys, err := s.store.ListAPIKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return s.revokeOneOf(ctx, keys, idOrPrefix)
}

// revokeOneOf revokes the key of keys named by id or prefix.
func (s *Service) revokeOneOf(ctx context.Context, keys []store.ApiKey, idOrPrefix string) (*APIKey, error) {
	for _, k := range keys {
		if k.ID.String() != idOrPrefix && k.Prefix != idOrPrefix {
			continue
		}
		row, err := s.store.RevokeAPIKey(ctx, k.ID)
		if store.IsNotFound(err) {
			return nil, cellar.Errorf(cellar.CodeConflict, "API key %s is already revoked", k.Prefix)
		}
		if err != nil {
			return nil, fmt.Errorf("revoke API key: %w", err)
		}
		key := apiKeyFrom(row)
		return &key, nil
	}
	return nil, cellar.NotFound("API key", idOrPrefix)
}

// Authenticate resolves an API key to its principal. Unknown and revoked
// keys are both unauthorized.
func (s *Service) Authenticate(ctx context.Context, key string) (cellar.Principal, error) {
	if key == "" {
		return cellar.Principal{}, cellar.Errorf(cellar.CodeUnauthorized, "missing X-API-Key header")
	}
	if len(key) > 200 {
		return cellar.Principal{}, cellar.Errorf(cellar.CodeUnauthorized, "invalid API key")
	}
	row, err := s.store.GetActiveAPIKeyByHash(ctx, hashKey(key))
	if store.IsNotFound(err) {
		return cellar.Principal{}, cellar.Errorf(cellar.CodeUnauthorized, "invalid or revoked API key")
	}
	if err != nil {
		return cellar.Principal{}, fmt.Errorf("look up API key: %w", err)
	}
	if row.LastUsedAt == nil || time.Since(*row.LastUsedAt) > time.Minute {
		// Recording use is bookkeeping: it must not slow or fail the request.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.store.TouchAPIKey(ctx, row.ID)
		}()
	}
	perms := make([]cellar.Permission, 0, len(row.Permissions))
	for _, p := range row.Permissions {
		perms = append(perms, cellar.Permission(p))
	}
	return cellar.Principal{
		KeyID: row.ID.String(), KeyPrefix: row.Prefix, CustomerID: row.CustomerID,
		Permissions: perms, Internal: row.Internal,
	}, nil
}

// BootstrapCustomer is the customer id of the first admin key.
const BootstrapCustomer = "admin"

// EnsureBootstrapKey makes sure an admin key exists. With a configured key
// it is created if missing (so a fixed key in a deployment always works).
// Without one, a key is generated only when no admin key exists at all; the
// returned string is then the new key, to be shown once.
func (s *Service) EnsureBootstrapKey(ctx context.Context, configured string) (generated string, err error) {
	req := CreateKeyRequest{
		Name: "bootstrap admin", CustomerID: BootstrapCustomer, Internal: true,
		Permissions: []string{
			string(cellar.PermDatabaseCreate), string(cellar.PermDatabaseRead), string(cellar.PermDatabaseUpdate),
			string(cellar.PermDatabaseDelete), string(cellar.PermAdmin),
		},
	}
	if configured != "" {
		_, err := s.store.GetAPIKeyByHash(ctx, hashKey(configured))
		if err == nil {
			return "", nil // present (possibly revoked on purpose: leave it so)
		}
		if !store.IsNotFound(err) {
			return "", err
		}
		_, err = s.createKey(ctx, req, "bootstrap", configured)
		return "", err
	}
	n, err := s.store.CountActiveAdminKeys(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	k, err := s.createKey(ctx, req, "bootstrap", "")
	if err != nil {
		return "", err
	}
	return k.Key, nil
}

func apiKeyFrom(r store.ApiKey) APIKey {
	return APIKey{
		ID: r.ID, Prefix: r.Prefix, Name: r.Name, CustomerID: r.CustomerID, Permissions: r.Permissions,
		Internal: r.Internal, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt,
	}
}

// audit records a state change that is not about one database. A failure
// to record is logged, not returned: the change itself has happened.
func (s *Service) audit(ctx context.Context, c Caller, action, resource string, details map[string]any) {
	raw, _ := json.Marshal(details)
	err := s.store.InsertAuditEntry(ctx, store.InsertAuditEntryParams{
		Actor: c.KeyPrefix, Action: action, Resource: resource, RequestID: c.RequestID, RemoteAddr: c.RemoteAddr, Details: raw,
	})
	if err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "resource", resource, "err", err)
	}
}
