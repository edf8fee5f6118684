// Package secrets keeps database credentials in HashiCorp Vault's KV v2
// engine. Cellar's metadata stores only the path and version of a secret,
// never its value.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/cellar/cellar/internal/depfault"
)

// ErrNotFound is returned when a secret path holds no live version.
var ErrNotFound = errors.New("secret not found")

// Vault is a KV v2 secret store under one mount and path prefix.
type Vault struct {
	client *vault.Client
	kv     *vault.KVv2
	prefix string
}

// Config says how to reach Vault and where Cellar's secrets live.
type Config struct {
	Addr   string // e.g. http://127.0.0.1:8200
	Token  string
	Mount  string // KV v2 mount, e.g. "secret"
	Prefix string // path prefix under the mount, e.g. "cellar"
}

// Open creates a client. It does not contact Vault; use Ping for that.
func Open(cfg Config) (*Vault, error) {
	vc := vault.DefaultConfig()
	vc.Address = cfg.Addr
	vc.MaxRetries = 2
	client, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	client.SetToken(cfg.Token)
	return &Vault{client: client, kv: client.KVv2(cfg.Mount), prefix: strings.Trim(cfg.Prefix, "/")}, nil
}

// Path joins the prefix and the given segments into a secret path.
func (v *Vault) Path(segments ...string) string {
	return strings.Join(append([]string{v.prefix}, segments...), "/")
}

// Put writes data as a new version of the secret at path and returns the
// version number.
func (v *Vault) Put(ctx context.Context, path string, data map[string]any) (int, error) {
	s, err := v.kv.Put(ctx, path, data)
	if err != nil {
		return 0, fmt.Errorf("vault write %s: %w", path, redact(err))
	}
	return s.VersionMetadata.Version, nil
}

// Get reads the latest version of the secret at path.
func (v *Vault) Get(ctx context.Context, path string) (map[string]any, int, error) {
	s, err := v.kv.Get(ctx, path)
	if err != nil {
		if errors.Is(err, vault.ErrSecretNotFound) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("vault read %s: %w", path, redact(err))
	}
	return s.Data, s.VersionMetadata.Version, nil
}

// GetVersion reads one version of the secret at path.
func (v *Vault) GetVersion(ctx context.Context, path string, version int) (map[string]any, error) {
	s, err := v.kv.GetVersion(ctx, path, version)
	if err != nil {
		if errors.Is(err, vault.ErrSecretNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("vault read %s v%d: %w", path, version, redact(err))
	}
	return s.Data, nil
}

// Destroy permanently removes every version of the secret at path. It is
// idempotent: destroying an absent secret succeeds.
func (v *Vault) Destroy(ctx context.Context, path string) error {
	if err := v.kv.DeleteMetadata(ctx, path); err != nil {
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("vault destroy %s: %w", path, redact(err))
	}
	return nil
}

// Exists reports whether path holds a live secret version.
func (v *Vault) Exists(ctx context.Context, path string) (bool, error) {
	_, _, err := v.Get(ctx, path)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Ping checks that Vault is reachable, initialised and unsealed.
func (v *Vault) Ping(ctx context.Context) error {
	h, err := v.client.Sys().HealthWithContext(ctx)
	if err != nil {
		return fmt.Errorf("vault health: %w", redact(err))
	}
	if !h.Initialized || h.Sealed {
		return fmt.Errorf("vault is not ready (initialized=%t sealed=%t)", h.Initialized, h.Sealed)
	}
	return nil
}

// redact keeps Vault's error classification but drops response bodies,
// which could echo request data. It is the one place where Vault's errors
// are classified: an outage (no connection, a timeout, or Vault answering
// that it is sealed, a standby or behind a failing gateway) becomes an
// unavailable error that names the secret store.
func redact(err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		clean := fmt.Errorf("vault answered %d %s", re.StatusCode, strings.Join(re.Errors, "; "))
		switch re.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return depfault.Unavailable(Dependency, clean)
		}
		return clean
	}
	if depfault.Network(err) {
		return depfault.Unavailable(Dependency, err)
	}
	return err
}

// Dependency names Vault in errors shown to clients.
const Dependency = "the secret store (Vault)"
