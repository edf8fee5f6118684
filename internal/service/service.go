// Package service holds Cellar's business rules: naming, placement,
// idempotency, the ordered steps of every multi-step change and the
// reconciler that finishes them after a crash. It knows nothing of HTTP.
package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellar/cellar/internal/backup"
	"github.com/cellar/cellar/internal/billing"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/failpoint"
	"github.com/cellar/cellar/internal/firewall"
	"github.com/cellar/cellar/internal/secrets"
	"github.com/cellar/cellar/internal/snapstore"
	"github.com/cellar/cellar/internal/store"
	"github.com/cellar/cellar/internal/supervise"
)

// Caller is who asks for a change and from where, for authorization and the
// audit trail.
type Caller struct {
	cellar.Principal
	RequestID  string
	RemoteAddr string
	// Background marks work done by Cellar's own jobs (a queued restore)
	// rather than by a request: it is bounded by its queue's workers, so
	// the per-customer bound on concurrent changes does not refuse it.
	Background bool
}

// Service implements Cellar's operations.
type Service struct {
	store   *store.Store
	vault   Secrets
	fleet   *Fleet
	log     *slog.Logger
	metrics *metrics
	fail    failpoint.Set
	names   keyedMutex
	// admission bounds each customer's concurrent changes.
	admission admission
	now       func() time.Time
	// defaultConnectionLimit is set on every new database.
	defaultConnectionLimit int
	access                 AccessConfig
	jobs                   JobQueue
	snapshots              snapstore.Store
	tools                  backup.Tools
	quota                  QuotaDefaults
	retentionKeep          int
	prices                 Prices
	billing                *billing.Client
	perDatabaseMetrics     bool
	// supervised reports the processes a supervisor keeps alive (nil
	// when none, i.e. outside embedded mode).
	supervised func() []supervise.Status
	// ops holds each operation kind's settle steps (operationKinds).
	ops opRegistry
}

// Secrets is what the service needs of the secret store (Vault's KV v2,
// secrets.Vault): customers' credentials live only there. It is the seam
// where a test can watch or break the secret store without a Vault; the
// fleet (managed servers' admin credentials) still takes the concrete
// client.
type Secrets interface {
	// Path joins segments under the store's mount and prefix.
	Path(segments ...string) string
	// Put writes a new version and returns its number.
	Put(ctx context.Context, path string, data map[string]any) (int, error)
	// Get reads the current version and its number.
	Get(ctx context.Context, path string) (map[string]any, int, error)
	// GetVersion reads one version.
	GetVersion(ctx context.Context, path string, version int) (map[string]any, error)
	// Destroy removes every version; absent is not an error.
	Destroy(ctx context.Context, path string) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

var _ Secrets = (*secrets.Vault)(nil)

// AccessConfig says how network access rules are enforced.
type AccessConfig struct {
	// Closed: a database without rules accepts only loopback clients;
	// otherwise (open) any client that reaches the port.
	Closed bool
	// MaxRules caps the rules of one database.
	MaxRules int
	// Firewall is the host firewall layer (ufw, or none).
	Firewall firewall.Driver
}

// Deps are the Service's collaborators.
type Deps struct {
	Store      *store.Store
	Vault      *secrets.Vault
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Failpoints failpoint.Set
	// DefaultConnectionLimit is set on every new database (10 to 1000).
	DefaultConnectionLimit int
	Access                 AccessConfig
	// Snapshots is where snapshot files are kept.
	Snapshots snapstore.Store
	// Tools runs the engines' dump and restore programs.
	Tools backup.Tools
	// Clock replaces time.Now, for simulations of the backup schedule.
	Clock func() time.Time
	// Quota holds the default limits of every customer.
	Quota QuotaDefaults
	// RetentionKeep is how many completed scheduled snapshots of a
	// database retention always keeps, however old (default 1).
	RetentionKeep int
	// Prices is the table behind cost estimates.
	Prices Prices
	// Billing delivers usage events; nil keeps them for pulling only.
	Billing *billing.Client
	// PerDatabaseMetrics exports a Prometheus series per database.
	PerDatabaseMetrics bool
	// MaxConcurrentChanges bounds the state-changing operations one
	// customer runs at once in this process (0: no bound); excess is
	// refused with rate_limited.
	MaxConcurrentChanges int
}

// New builds a Service.
func New(d Deps) *Service {
	s := &Service{
		ops:     operationKinds,
		store:   d.Store,
		vault:   d.Vault,
		fleet:   newFleet(d.Store, d.Vault),
		log:     d.Logger,
		metrics: newMetrics(d.Registerer, d.PerDatabaseMetrics),
		fail:    d.Failpoints,
		now:     time.Now,

		defaultConnectionLimit: d.DefaultConnectionLimit,
		access:                 d.Access,
		snapshots:              d.Snapshots,
		tools:                  d.Tools,
		quota:                  d.Quota,
		retentionKeep:          d.RetentionKeep,
		prices:                 d.Prices,
		billing:                d.Billing,
		perDatabaseMetrics:     d.PerDatabaseMetrics,
		admission:              admission{max: d.MaxConcurrentChanges},
	}
	if s.quota.MaxDatabases == 0 {
		s.quota.MaxDatabases = 100
	}
	if s.quota.MaxSnapshots == 0 {
		s.quota.MaxSnapshots = 1000
	}
	if s.retentionKeep < 1 {
		s.retentionKeep = 1
	}
	if s.access.Firewall == nil {
		s.access.Firewall = firewall.None()
	}
	if d.Clock != nil {
		s.now = d.Clock
	}
	if s.access.MaxRules == 0 {
		s.access.MaxRules = 50
	}
	return s
}

// Close releases connections to managed servers.
func (s *Service) Close() { s.fleet.Close() }

// stepTimeout bounds the provisioning part of a change. Once the intent is
// recorded the work continues even if the client goes away, so that a
// disconnect does not turn into a rollback.
const stepTimeout = 2 * time.Minute

func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), stepTimeout)
}
