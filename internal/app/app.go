// Package app wires Cellar together and runs its commands: serve, migrate,
// keys and reconcile. main only calls Run, so tests can start the real
// server in-process.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cellar/cellar/internal/billing"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/config"
	"github.com/cellar/cellar/internal/failpoint"
	"github.com/cellar/cellar/internal/firewall"
	"github.com/cellar/cellar/internal/harness"
	"github.com/cellar/cellar/internal/jobs"
	"github.com/cellar/cellar/internal/logctx"
	"github.com/cellar/cellar/internal/secrets"
	"github.com/cellar/cellar/internal/service"
	"github.com/cellar/cellar/internal/snapstore"
	"github.com/cellar/cellar/internal/store"
	"github.com/cellar/cellar/internal/supervise"
)

const usage = `Usage: cellar [command]

Commands:
  serve                 run the API (default)
  migrate               apply metadata migrations and exit
  keys create --customer ID [--permissions p1,p2] [--internal] [--name NAME]
  keys list
  keys revoke ID_OR_PREFIX
  reconcile             finish interrupted operations, report drift, exit
  config                list the environment variables Cellar reads
`

// Run runs the command named by args with the environment from getenv.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "config":
		return printConfig(stdout)
	case "serve", "migrate", "keys", "reconcile":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if cmd != "serve" && getenv("CELLAR_LOG_LEVEL") == "" {
		cfg.LogLevel = "warn" // one-shot commands speak through stdout
	}
	log := newLogger(cfg, stderr)

	env, err := start(ctx, cfg, log, cmd == "serve")
	if err != nil {
		return err
	}
	defer env.close()

	switch cmd {
	case "migrate":
		fmt.Fprintln(stdout, "metadata schema is up to date")
		return nil
	case "keys":
		return runKeys(ctx, env.svc, args, stdout)
	case "reconcile":
		rep, err := env.svc.Reconcile(ctx)
		fmt.Fprintf(stdout, "settled %d, skipped %d (in progress), failed %d\n", rep.Settled, rep.Skipped, rep.Failed)
		for _, d := range rep.Drift {
			fmt.Fprintln(stdout, "drift:", d)
		}
		return err
	}
	return serve(ctx, cfg, env, log, stdout)
}

// environment is everything a command needs, and how to let go of it.
type environment struct {
	store    *store.Store
	svc      *service.Service
	registry *prometheus.Registry
	services *harness.Services // embedded mode only
	// supervisor restarts the embedded servers when they die (serve in
	// embedded mode only).
	supervisor *supervise.Supervisor
}

func (e *environment) close() {
	// The supervisor lets go first, so that stopping the servers below is
	// not taken for a crash and undone.
	if e.supervisor != nil {
		e.supervisor.Close()
	}
	if e.svc != nil {
		e.svc.Close()
	}
	if e.store != nil {
		e.store.Close()
	}
	if e.services != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.services.Stop(ctx) // best effort at exit; Stop kills what does not stop
	}
}

// start brings up the metadata store, Vault client and managed servers:
// private ones in embedded mode, configured ones otherwise. It migrates the
// schema and registers the servers.
func start(ctx context.Context, cfg config.Config, log *slog.Logger, serving bool) (_ *environment, err error) {
	env := &environment{registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	if cfg.Embedded {
		if err := startEmbedded(ctx, &cfg, env, log, serving); err != nil {
			return nil, err
		}
	}

	env.store, err = store.OpenPools(ctx, cfg.MetadataDSN, int32(cfg.MetadataConns), int32(cfg.MetadataLockConns))
	if err != nil {
		return nil, err
	}
	results, err := env.store.Migrate(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "ms", r.Duration.Milliseconds())
	}
	if err := jobs.Migrate(ctx, env.store.Pool); err != nil {
		return nil, err
	}
	snaps, err := snapstore.NewLocal(cfg.SnapshotDir)
	if err != nil {
		return nil, fmt.Errorf("CELLAR_SNAPSHOT_DIR: %w", err)
	}
	vault, err := secrets.Open(secrets.Config{Addr: cfg.Vault.Addr, Token: cfg.Vault.Token, Mount: cfg.Vault.Mount, Prefix: cfg.Vault.Prefix})
	if err != nil {
		return nil, err
	}
	if err := vault.Ping(ctx); err != nil {
		return nil, fmt.Errorf("vault at %s: %w", cfg.Vault.Addr, err)
	}
	fps, err := failpoint.Parse(cfg.Failpoints)
	if err != nil {
		return nil, fmt.Errorf("CELLAR_FAILPOINTS: %w", err)
	}
	if len(fps) > 0 {
		log.Warn("failpoints are set; this process will crash on purpose", "failpoints", cfg.Failpoints)
	}
	env.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerPoolMetrics(env.registry, env.store)
	fw, err := firewall.New(cfg.Firewall, cfg.FirewallCommand)
	if err != nil {
		return nil, fmt.Errorf("CELLAR_FIREWALL: %w", err)
	}
	if serving && fw.Name() != "none" {
		if active, err := fw.Active(ctx); err != nil {
			return nil, fmt.Errorf("firewall %s: %w", fw.Name(), err)
		} else if !active {
			log.Warn("the firewall is not active: Cellar keeps its rules there, but nothing enforces them until it is enabled", "firewall", fw.Name())
		}
	}
	prices, err := service.ParsePrices(cfg.Prices)
	if err != nil {
		return nil, fmt.Errorf("CELLAR_PRICES: %w", err)
	}
	var bill *billing.Client
	if cfg.BillingURL != "" {
		bill = &billing.Client{URL: cfg.BillingURL, Secret: []byte(cfg.BillingSecret), MaxAttempts: cfg.BillingMaxAttempts}
	}
	env.svc = service.New(service.Deps{
		Store: env.store, Vault: vault, Logger: log, Registerer: env.registry, Failpoints: fps,
		DefaultConnectionLimit: cfg.DefaultConnectionLimit,
		Access:                 service.AccessConfig{Closed: cfg.AccessDefault == "closed", MaxRules: cfg.MaxAccessRules, Firewall: fw},
		Snapshots:              snaps,
		Quota: service.QuotaDefaults{MaxDatabases: cfg.QuotaMaxDatabases, MaxStorageGB: cfg.QuotaMaxStorageGB,
			MaxPerEngine: map[cellar.Engine]int{cellar.PostgreSQL: cfg.QuotaMaxPostgreSQL, cellar.MariaDB: cfg.QuotaMaxMariaDB},
			MaxSnapshots: cfg.QuotaMaxSnapshots, MaxSnapshotGB: cfg.QuotaMaxSnapshotGB},
		RetentionKeep:        cfg.BackupKeepMin,
		Prices:               prices,
		Billing:              bill,
		PerDatabaseMetrics:   cfg.MetricsPerDatabase,
		MaxConcurrentChanges: cfg.MaxConcurrentChanges,
	})
	if env.supervisor != nil {
		env.svc.SetSupervisor(env.supervisor.Status)
	}
	for _, s := range cfg.Servers {
		srv, err := env.svc.RegisterServer(ctx, service.ServerSpec{
			Name: s.Name, Engine: s.Engine, AdminDSN: s.AdminDSN,
			PublicHost: s.PublicHost, PublicPort: s.PublicPort, Capacity: s.Capacity,
		})
		if err != nil {
			return nil, err
		}
		log.Info("managed server registered", "server", srv.Name, "engine", srv.Engine, "host", srv.Host, "port", srv.Port)
	}
	return env, nil
}

// startEmbedded starts the private servers under the data directory and
// points the configuration at them. Commands other than serve first look
// for servers that a running `cellar serve` already started there.
func startEmbedded(ctx context.Context, cfg *config.Config, env *environment, log *slog.Logger, serving bool) error {
	svcs, err := harness.Attach(ctx, cfg.DataDir)
	if serving || err != nil {
		vaultBin, err := harness.FindVault(cfg.VaultBin)
		if err != nil {
			return err
		}
		log.Info("starting embedded PostgreSQL, MariaDB and Vault", "dir", cfg.DataDir)
		started := time.Now()
		svcs, err = harness.Start(ctx, harness.Options{Dir: cfg.DataDir, Durable: true, VaultBin: vaultBin, Logger: log})
		if err != nil {
			return fmt.Errorf("embedded servers: %w", err)
		}
		env.services = svcs
		if env.supervisor, err = superviseEmbedded(svcs, env.registry, log); err != nil {
			return err
		}
		log.Info("embedded servers ready", "ms", time.Since(started).Milliseconds(),
			"metadata_port", svcs.Metadata.Port, "postgresql_port", svcs.PG.Port, "mariadb_port", svcs.MariaDB.Port, "vault", svcs.Vault.Addr)
	}
	cfg.MetadataDSN = svcs.Metadata.DSN("cellar")
	cfg.Vault.Addr = svcs.Vault.Addr
	cfg.Vault.Token = svcs.Vault.Token
	cfg.Servers = []config.ServerConfig{
		{Name: "pg-1", Engine: "postgresql", AdminDSN: svcs.PG.DSN("postgres"), PublicHost: svcs.PG.Host, PublicPort: svcs.PG.Port, Capacity: cfg.ServerCapacity},
		{Name: "mariadb-1", Engine: "mariadb", AdminDSN: svcs.MariaDB.DSN(""), PublicHost: svcs.MariaDB.Host, PublicPort: svcs.MariaDB.Port, Capacity: cfg.ServerCapacity},
	}
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logctx.Handler{Handler: h})
}

func printConfig(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range config.Vars {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, v.Default, v.Help)
	}
	return tw.Flush()
}

func runKeys(ctx context.Context, svc *service.Service, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys: want create, list or revoke")
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
		customer := fs.String("customer", "", "customer id the key belongs to")
		perms := fs.String("permissions", "database:create,database:read,database:update,database:delete", "comma-separated permissions")
		internal := fs.Bool("internal", false, "may act for other customers")
		name := fs.String("name", "", "a label for the key")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		k, err := svc.CreateKeyLocally(ctx, service.CreateKeyRequest{
			Name: *name, CustomerID: *customer, Permissions: strings.Split(*perms, ","), Internal: *internal,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created key %s for customer %s (shown once):\n%s\n", k.Prefix, k.CustomerID, k.Key)
		return nil
	case "list":
		keys, err := svc.ListKeysLocally(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PREFIX\tCUSTOMER\tINTERNAL\tPERMISSIONS\tCREATED\tREVOKED\tNAME")
		for _, k := range keys {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\t%s\n", k.Prefix, k.CustomerID, k.Internal,
				strings.Join(k.Permissions, ","), k.CreatedAt.UTC().Format(time.RFC3339), revoked, k.Name)
		}
		return tw.Flush()
	case "revoke":
		if len(args) != 2 {
			return errors.New("keys revoke: want one key id or prefix")
		}
		k, err := svc.RevokeKeyLocally(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked key %s\n", k.Prefix)
		return nil
	}
	return fmt.Errorf("keys: unknown subcommand %q", args[0])
}
