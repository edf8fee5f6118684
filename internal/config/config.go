// Package config reads Cellar's configuration from CELLAR_* environment
// variables into one struct and validates it once, at start.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cellar/cellar/internal/cellar"
)

// Config is everything Cellar needs to run.
type Config struct {
	ListenAddr     string        // CELLAR_LISTEN_ADDR
	LogFormat      string        // CELLAR_LOG_FORMAT: text or json
	LogLevel       string        // CELLAR_LOG_LEVEL: debug, info, warn, error
	MaxBodyBytes   int64         // CELLAR_MAX_BODY_BYTES
	RequestTimeout time.Duration // CELLAR_REQUEST_TIMEOUT

	// RateLimit bounds requests per API key (see ratelimit.go).
	RateLimit RateLimitConfig

	// Embedded mode starts private PostgreSQL, MariaDB and Vault under
	// DataDir. It is on unless CELLAR_METADATA_DSN is set.
	Embedded bool
	DataDir  string // CELLAR_DATA_DIR
	VaultBin string // CELLAR_VAULT_BIN (embedded mode)

	MetadataDSN string // CELLAR_METADATA_DSN
	// MetadataConns and MetadataLockConns size the two metadata pools:
	// requests (authentication, reads, short writes) and the sessions that
	// hold advisory locks while a change runs.
	MetadataConns     int // CELLAR_METADATA_CONNS
	MetadataLockConns int // CELLAR_METADATA_LOCK_CONNS
	// MaxConcurrentChanges bounds one customer's concurrent changes.
	MaxConcurrentChanges int // CELLAR_MAX_CONCURRENT_CHANGES
	Vault                VaultConfig
	Servers              []ServerConfig // from CELLAR_PG_* and CELLAR_MARIADB_*

	BootstrapAPIKey   string        // CELLAR_BOOTSTRAP_API_KEY
	ReconcileInterval time.Duration // CELLAR_RECONCILE_INTERVAL
	ServerCapacity    int           // CELLAR_SERVER_CAPACITY
	// DefaultConnectionLimit is set on every new database.
	DefaultConnectionLimit int // CELLAR_DEFAULT_CONNECTION_LIMIT

	QuotaMaxDatabases  int     // CELLAR_QUOTA_MAX_DATABASES
	QuotaMaxStorageGB  float64 // CELLAR_QUOTA_MAX_STORAGE_GB
	QuotaMaxPostgreSQL int     // CELLAR_QUOTA_MAX_POSTGRESQL
	QuotaMaxMariaDB    int     // CELLAR_QUOTA_MAX_MARIADB
	QuotaMaxSnapshots  int     // CELLAR_QUOTA_MAX_SNAPSHOTS
	QuotaMaxSnapshotGB float64 // CELLAR_QUOTA_MAX_SNAPSHOT_GB
	Prices             string  // CELLAR_PRICES

	BillingURL      string        // CELLAR_BILLING_URL
	BillingSecret   string        // CELLAR_BILLING_SECRET
	BillingInterval time.Duration // CELLAR_BILLING_INTERVAL

	// BillingMaxAttempts failed deliveries dead-letter a usage event.
	BillingMaxAttempts int // CELLAR_BILLING_MAX_ATTEMPTS

	MetricsInterval     time.Duration // CELLAR_METRICS_INTERVAL
	MetricsRawRetention time.Duration // CELLAR_METRICS_RAW_RETENTION
	MetricsRetention    time.Duration // CELLAR_METRICS_RETENTION
	MetricsPerDatabase  bool          // CELLAR_METRICS_PER_DATABASE

	SnapshotDir            string // CELLAR_SNAPSHOT_DIR
	BackupWorkers          int    // CELLAR_BACKUP_WORKERS
	ScheduledBackupWorkers int    // CELLAR_SCHEDULED_BACKUP_WORKERS
	BackupKeepMin          int    // CELLAR_BACKUP_KEEP_MIN

	AccessDefault   string   // CELLAR_ACCESS_DEFAULT: open or closed
	MaxAccessRules  int      // CELLAR_MAX_ACCESS_RULES
	Firewall        string   // CELLAR_FIREWALL: none or ufw
	FirewallCommand []string // CELLAR_FIREWALL_COMMAND

	// Failpoints, for crash tests only: "step=action,..." (see package failpoint).
	Failpoints string // CELLAR_FAILPOINTS
}

// VaultConfig says how to reach Vault.
type VaultConfig struct {
	Addr   string // CELLAR_VAULT_ADDR
	Token  string // CELLAR_VAULT_TOKEN
	Mount  string // CELLAR_VAULT_MOUNT
	Prefix string // CELLAR_VAULT_PREFIX
}

// ServerConfig is a managed database server given by configuration.
type ServerConfig struct {
	Name       string
	Engine     cellar.Engine
	AdminDSN   string // with password; split before storing
	PublicHost string // host customers connect to
	PublicPort int
	Capacity   int
}

// Var documents one environment variable.
type Var struct {
	Name, Default, Help string
}

// Vars lists every variable Cellar reads, for the README and `cellar help`.
var Vars = []Var{
	{"CELLAR_LISTEN_ADDR", "127.0.0.1:8080", "address the API listens on"},
	{"CELLAR_LOG_FORMAT", "text", "log format: text or json"},
	{"CELLAR_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"CELLAR_MAX_BODY_BYTES", "65536", "largest accepted request body"},
	{"CELLAR_REQUEST_TIMEOUT", "60s", "deadline for one API request"},
	{"CELLAR_RATE_LIMIT", "50", "requests per second per API key (token bucket refill); 0 = unlimited"},
	{"CELLAR_RATE_BURST", "200", "requests one API key may send at once before CELLAR_RATE_LIMIT applies"},
	{"CELLAR_DATA_DIR", ".data", "embedded mode: where private servers keep their data"},
	{"CELLAR_VAULT_BIN", "(vault on PATH, else .cache/bin/vault)", "embedded mode: the vault binary"},
	{"CELLAR_METADATA_DSN", "(embedded)", "PostgreSQL URL of Cellar's metadata database; setting it turns embedded mode off"},
	{"CELLAR_METADATA_CONNS", "40", "connections of the metadata pool that serves requests (authentication, reads)"},
	{"CELLAR_METADATA_LOCK_CONNS", "16", "metadata connections that hold the locks of running changes; changes beyond that wait for one, never for a request connection"},
	{"CELLAR_MAX_CONCURRENT_CHANGES", "8", "state-changing requests one customer may run at once in this process; more are refused with 429 and Retry-After (0 = no bound)"},
	{"CELLAR_VAULT_ADDR", "(embedded)", "Vault address, e.g. https://vault:8200"},
	{"CELLAR_VAULT_TOKEN", "(embedded)", "Vault token with read/write on the KV v2 mount"},
	{"CELLAR_VAULT_MOUNT", "secret", "KV v2 mount"},
	{"CELLAR_VAULT_PREFIX", "cellar", "path prefix of Cellar's secrets in the mount"},
	{"CELLAR_PG_ADMIN_DSN", "(embedded)", "postgres:// URL of a superuser on the managed PostgreSQL server"},
	{"CELLAR_PG_PUBLIC_HOST", "(host of the DSN)", "PostgreSQL host given to customers"},
	{"CELLAR_PG_PUBLIC_PORT", "(port of the DSN)", "PostgreSQL port given to customers"},
	{"CELLAR_PG_SERVER_NAME", "pg-1", "name of that server in the metadata"},
	{"CELLAR_MARIADB_ADMIN_DSN", "(embedded)", "go-sql-driver DSN (user:pass@tcp(host:port)/) of an admin with ALL PRIVILEGES WITH GRANT OPTION (incl. SUPER) on the managed MariaDB server"},
	{"CELLAR_MARIADB_PUBLIC_HOST", "(host of the DSN)", "MariaDB host given to customers"},
	{"CELLAR_MARIADB_PUBLIC_PORT", "(port of the DSN)", "MariaDB port given to customers"},
	{"CELLAR_MARIADB_SERVER_NAME", "mariadb-1", "name of that server in the metadata"},
	{"CELLAR_SERVER_CAPACITY", "500", "databases placed on one managed server at most"},
	{"CELLAR_DEFAULT_CONNECTION_LIMIT", "100", "connection limit of a new database (10 to 1000; customers change it with PATCH)"},
	{"CELLAR_QUOTA_MAX_DATABASES", "100", "databases per customer (admins override per customer)"},
	{"CELLAR_QUOTA_MAX_STORAGE_GB", "50", "database storage per customer in GB; 0 = unlimited"},
	{"CELLAR_QUOTA_MAX_POSTGRESQL", "0", "PostgreSQL databases per customer; 0 = only the total applies"},
	{"CELLAR_QUOTA_MAX_MARIADB", "0", "MariaDB databases per customer; 0 = only the total applies"},
	{"CELLAR_QUOTA_MAX_SNAPSHOTS", "200", "snapshots a customer keeps (pending, running, completed); a manual snapshot beyond it is refused"},
	{"CELLAR_QUOTA_MAX_SNAPSHOT_GB", "100", "GB of snapshots a customer keeps (running ones count what they wrote so far); 0 = unlimited"},
	{"CELLAR_PRICES", "currency=EUR,postgresql=5,mariadb=4,storage_gb=0.10,backup_gb=0.05", "monthly prices for cost estimates"},
	{"CELLAR_BILLING_URL", "(none)", "central billing endpoint that receives usage events (POST, signed)"},
	{"CELLAR_BILLING_SECRET", "(none)", "HMAC-SHA256 key of the billing signature (at least 16 characters)"},
	{"CELLAR_BILLING_INTERVAL", "10s", "how often undelivered usage events are sent"},
	{"CELLAR_BILLING_MAX_ATTEMPTS", "20", "failed deliveries after which a usage event is dead-lettered (about 8 h of backoff at 20)"},
	{"CELLAR_METRICS_INTERVAL", "5m", "how often every database is sampled"},
	{"CELLAR_METRICS_RAW_RETENTION", "48h", "how long every sample is kept; older ones are thinned to one per hour"},
	{"CELLAR_METRICS_RETENTION", "720h", "how long hourly samples are kept"},
	{"CELLAR_METRICS_PER_DATABASE", "false", "export a Prometheus series per database (unbounded labels)"},
	{"CELLAR_SNAPSHOT_DIR", "(CELLAR_DATA_DIR/snapshots)", "directory where snapshot files are kept"},
	{"CELLAR_BACKUP_WORKERS", "2", "manual snapshots this process takes at once; 0 = this process only queues them (and runs no scheduler)"},
	{"CELLAR_SCHEDULED_BACKUP_WORKERS", "1", "scheduled backups this process takes at once, on their own queue beside the manual snapshots"},
	{"CELLAR_BACKUP_KEEP_MIN", "1", "completed scheduled snapshots of a database that retention always keeps, however old"},
	{"CELLAR_ACCESS_DEFAULT", "open", "access of a database without rules: open (any source that reaches the port) or closed (loopback only)"},
	{"CELLAR_MAX_ACCESS_RULES", "50", "access rules per database at most"},
	{"CELLAR_FIREWALL", "none", "host firewall driver: none (an outer firewall is managed elsewhere) or ufw (Cellar manages its own rules; the managed servers run on this host)"},
	{"CELLAR_FIREWALL_COMMAND", "ufw", "command that runs ufw, split on spaces (e.g. to run it in another network namespace)"},
	{"CELLAR_BOOTSTRAP_API_KEY", "(generated and printed once)", "admin API key created at start if it does not exist (at least 32 characters)"},
	{"CELLAR_RECONCILE_INTERVAL", "1m", "how often interrupted operations are finished and drift is checked"},
}

// Load reads the configuration from getenv and validates it. Errors name the
// variable and say what is expected.
func Load(getenv func(string) string) (Config, error) {
	get := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			for _, d := range Vars {
				if d.Name == name && !strings.HasPrefix(d.Default, "(") {
					return d.Default
				}
			}
		}
		return v
	}
	var errs []error
	fail := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	duration := func(name string) time.Duration {
		d, err := time.ParseDuration(get(name))
		if err != nil || d <= 0 {
			fail(name, "want a positive duration like 30s or 5m, got %q", get(name))
		}
		return d
	}
	integer := func(name string, lo, hi int) int {
		n, err := strconv.Atoi(get(name))
		if err != nil || n < lo || n > hi {
			fail(name, "want an integer from %d to %d, got %q", lo, hi, get(name))
		}
		return n
	}

	c := Config{
		ListenAddr:             get("CELLAR_LISTEN_ADDR"),
		LogFormat:              get("CELLAR_LOG_FORMAT"),
		LogLevel:               get("CELLAR_LOG_LEVEL"),
		MaxBodyBytes:           int64(integer("CELLAR_MAX_BODY_BYTES", 1024, 64<<20)),
		RequestTimeout:         duration("CELLAR_REQUEST_TIMEOUT"),
		DataDir:                get("CELLAR_DATA_DIR"),
		VaultBin:               get("CELLAR_VAULT_BIN"),
		MetadataDSN:            get("CELLAR_METADATA_DSN"),
		MetadataConns:          integer("CELLAR_METADATA_CONNS", 4, 1000),
		MetadataLockConns:      integer("CELLAR_METADATA_LOCK_CONNS", 1, 1000),
		MaxConcurrentChanges:   integer("CELLAR_MAX_CONCURRENT_CHANGES", 0, 10000),
		BootstrapAPIKey:        getenv("CELLAR_BOOTSTRAP_API_KEY"),
		ReconcileInterval:      duration("CELLAR_RECONCILE_INTERVAL"),
		ServerCapacity:         integer("CELLAR_SERVER_CAPACITY", 1, 1_000_000),
		DefaultConnectionLimit: integer("CELLAR_DEFAULT_CONNECTION_LIMIT", 10, 1000),
		SnapshotDir:            get("CELLAR_SNAPSHOT_DIR"),
		QuotaMaxDatabases:      integer("CELLAR_QUOTA_MAX_DATABASES", 1, 1_000_000),
		QuotaMaxPostgreSQL:     integer("CELLAR_QUOTA_MAX_POSTGRESQL", 0, 1_000_000),
		QuotaMaxMariaDB:        integer("CELLAR_QUOTA_MAX_MARIADB", 0, 1_000_000),
		QuotaMaxSnapshots:      integer("CELLAR_QUOTA_MAX_SNAPSHOTS", 1, 1_000_000),
		Prices:                 get("CELLAR_PRICES"),
		BillingURL:             get("CELLAR_BILLING_URL"),
		BillingSecret:          getenv("CELLAR_BILLING_SECRET"),
		BillingInterval:        duration("CELLAR_BILLING_INTERVAL"),
		MetricsInterval:        duration("CELLAR_METRICS_INTERVAL"),
		MetricsRawRetention:    duration("CELLAR_METRICS_RAW_RETENTION"),
		MetricsRetention:       duration("CELLAR_METRICS_RETENTION"),
		BackupWorkers:          integer("CELLAR_BACKUP_WORKERS", 0, 64),
		ScheduledBackupWorkers: integer("CELLAR_SCHEDULED_BACKUP_WORKERS", 1, 64),
		BackupKeepMin:          integer("CELLAR_BACKUP_KEEP_MIN", 1, 1000),
		AccessDefault:          get("CELLAR_ACCESS_DEFAULT"),
		MaxAccessRules:         integer("CELLAR_MAX_ACCESS_RULES", 1, 1000),
		Firewall:               get("CELLAR_FIREWALL"),
		FirewallCommand:        strings.Fields(get("CELLAR_FIREWALL_COMMAND")),
		Failpoints:             get("CELLAR_FAILPOINTS"),
		Vault: VaultConfig{
			Addr:   get("CELLAR_VAULT_ADDR"),
			Token:  getenv("CELLAR_VAULT_TOKEN"),
			Mount:  get("CELLAR_VAULT_MOUNT"),
			Prefix: get("CELLAR_VAULT_PREFIX"),
		},
	}
	c.RateLimit = loadRateLimit(get, fail)
	c.Embedded = c.MetadataDSN == ""
	if c.SnapshotDir == "" {
		c.SnapshotDir = filepath.Join(c.DataDir, "snapshots")
	}
	if abs, err := filepath.Abs(c.SnapshotDir); err == nil {
		c.SnapshotDir = abs
	}

	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		fail("CELLAR_LISTEN_ADDR", "want host:port, got %q", c.ListenAddr)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		fail("CELLAR_LOG_FORMAT", "want text or json, got %q", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		fail("CELLAR_LOG_LEVEL", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	if k := c.BootstrapAPIKey; k != "" && (len(k) < 32 || len(k) > 200 || strings.ContainsAny(k, " \t\r\n")) {
		fail("CELLAR_BOOTSTRAP_API_KEY", "want 32 to 200 characters without spaces")
	}
	if gb, err := strconv.ParseFloat(get("CELLAR_QUOTA_MAX_STORAGE_GB"), 64); err != nil || gb < 0 {
		fail("CELLAR_QUOTA_MAX_STORAGE_GB", "want a number of GB, 0 for unlimited")
	} else {
		c.QuotaMaxStorageGB = gb
	}
	if gb, err := strconv.ParseFloat(get("CELLAR_QUOTA_MAX_SNAPSHOT_GB"), 64); err != nil || gb < 0 || gb > 1e6 {
		fail("CELLAR_QUOTA_MAX_SNAPSHOT_GB", "want a number of GB up to 1000000, 0 for unlimited")
	} else {
		c.QuotaMaxSnapshotGB = gb
	}
	switch v := get("CELLAR_METRICS_PER_DATABASE"); v {
	case "true", "false":
		c.MetricsPerDatabase = v == "true"
	default:
		fail("CELLAR_METRICS_PER_DATABASE", "want true or false")
	}
	if c.MetricsRetention < c.MetricsRawRetention {
		fail("CELLAR_METRICS_RETENTION", "must be at least CELLAR_METRICS_RAW_RETENTION")
	}
	// Billing dead letters (issue 10, item 15).
	c.BillingMaxAttempts = integer("CELLAR_BILLING_MAX_ATTEMPTS", 1, 1000)

	if c.BillingURL != "" {
		if u, err := url.Parse(c.BillingURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail("CELLAR_BILLING_URL", "want an http(s):// URL")
		}
		if len(c.BillingSecret) < 16 {
			fail("CELLAR_BILLING_SECRET", "must be at least 16 characters when CELLAR_BILLING_URL is set")
		}
	}
	if c.AccessDefault != "open" && c.AccessDefault != "closed" {
		fail("CELLAR_ACCESS_DEFAULT", "want open or closed, got %q", c.AccessDefault)
	}
	if c.Firewall != "none" && c.Firewall != "ufw" {
		fail("CELLAR_FIREWALL", "want none or ufw, got %q", c.Firewall)
	}
	if len(c.FirewallCommand) == 0 {
		fail("CELLAR_FIREWALL_COMMAND", "must not be empty")
	}
	if c.Vault.Mount == "" || strings.Contains(c.Vault.Mount, "..") {
		fail("CELLAR_VAULT_MOUNT", "want a mount name like secret")
	}

	if c.Embedded {
		if c.DataDir == "" {
			fail("CELLAR_DATA_DIR", "must not be empty")
		} else if abs, err := filepath.Abs(c.DataDir); err == nil {
			c.DataDir = abs
		}
		for _, name := range []string{"CELLAR_VAULT_ADDR", "CELLAR_VAULT_TOKEN", "CELLAR_PG_ADMIN_DSN", "CELLAR_MARIADB_ADMIN_DSN"} {
			if getenv(name) != "" {
				fail(name, "is set, but CELLAR_METADATA_DSN is not: set CELLAR_METADATA_DSN to use external servers, or unset %s for embedded mode", name)
			}
		}
		return c, errors.Join(errs...)
	}

	if u, err := url.Parse(c.MetadataDSN); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		fail("CELLAR_METADATA_DSN", "want a postgres:// URL")
	}
	if u, err := url.Parse(c.Vault.Addr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fail("CELLAR_VAULT_ADDR", "want an http(s):// address, got %q", c.Vault.Addr)
	}
	if c.Vault.Token == "" {
		fail("CELLAR_VAULT_TOKEN", "must be set when CELLAR_VAULT_ADDR is used")
	}
	if dsn := getenv("CELLAR_PG_ADMIN_DSN"); dsn != "" {
		s, err := postgresServer(dsn, get("CELLAR_PG_SERVER_NAME"), get("CELLAR_PG_PUBLIC_HOST"), get("CELLAR_PG_PUBLIC_PORT"))
		if err != nil {
			fail("CELLAR_PG_ADMIN_DSN", "%v", err)
		} else {
			s.Capacity = c.ServerCapacity
			c.Servers = append(c.Servers, s)
		}
	}
	if dsn := getenv("CELLAR_MARIADB_ADMIN_DSN"); dsn != "" {
		s, err := mariadbServer(dsn, get("CELLAR_MARIADB_SERVER_NAME"), get("CELLAR_MARIADB_PUBLIC_HOST"), get("CELLAR_MARIADB_PUBLIC_PORT"))
		if err != nil {
			fail("CELLAR_MARIADB_ADMIN_DSN", "%v", err)
		} else {
			s.Capacity = c.ServerCapacity
			c.Servers = append(c.Servers, s)
		}
	}
	if len(c.Servers) == 0 {
		fail("CELLAR_PG_ADMIN_DSN", "external mode needs at least one managed server: set CELLAR_PG_ADMIN_DSN and/or CELLAR_MARIADB_ADMIN_DSN")
	}
	return c, errors.Join(errs...)
}

func postgresServer(dsn, name, host, port string) (ServerConfig, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" {
		return ServerConfig{}, errors.New("want a postgres://user:password@host:port/postgres URL")
	}
	return publicAddress(ServerConfig{Name: name, Engine: cellar.PostgreSQL, AdminDSN: dsn}, u.Hostname(), u.Port(), "5432", host, port)
}

func mariadbServer(dsn, name, host, port string) (ServerConfig, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil || cfg.Net != "tcp" {
		return ServerConfig{}, errors.New("want user:password@tcp(host:port)/")
	}
	h, p, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		h, p = cfg.Addr, "3306"
	}
	return publicAddress(ServerConfig{Name: name, Engine: cellar.MariaDB, AdminDSN: dsn}, h, p, "3306", host, port)
}

func publicAddress(s ServerConfig, dsnHost, dsnPort, defaultPort, host, port string) (ServerConfig, error) {
	s.PublicHost = host
	if s.PublicHost == "" {
		s.PublicHost = dsnHost
	}
	if port == "" {
		port = dsnPort
	}
	if port == "" {
		port = defaultPort
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return s, fmt.Errorf("invalid port %q", port)
	}
	s.PublicPort = n
	return s, nil
}
