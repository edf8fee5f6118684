package harness

// postgres.go: a private PostgreSQL server.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgSuperuser is the bootstrap superuser initdb creates.
const pgSuperuser = "postgres"

// pgHBA replaces the pg_hba.conf initdb writes: password (SCRAM) logins
// only, over TCP on loopback and over the Unix socket. No trust or peer
// entries, so being root or the postgres OS user grants nothing.
const pgHBA = `# Written by Cellar's harness. Password (SCRAM) authentication only.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
`

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// Name labels messages and errors, e.g. "managed-pg". Default
	// "postgres".
	Name string
	// DataDir is the cluster's data directory. If it holds no cluster yet
	// (no PG_VERSION) it is created and initdb is run; otherwise the
	// existing cluster is started. Its parent is created if missing. The
	// Unix socket lives in DataDir too. Required.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Password is the superuser's password. Empty generates one, which is
	// only possible for a new cluster.
	Password string
	// Durable keeps PostgreSQL's crash-safety settings. When false, fsync,
	// synchronous_commit and full_page_writes are off and initdb does not
	// sync: much faster, and a crash may corrupt the cluster.
	Durable bool
	// BinDir holds initdb and postgres; default as for Options.PGBinDir.
	BinDir string
	// LogPath receives initdb's and the server's output. Default:
	// DataDir + ".log".
	LogPath string
	// Databases are created, owned by the superuser, if they do not exist.
	Databases []string
	// RestrictDefaultDatabases revokes CONNECT on the "postgres" and
	// "template1" databases from PUBLIC, so that roles created for tenants
	// can only reach the databases they are granted.
	RestrictDefaultDatabases bool
	// ExtraListen are addresses to listen on besides 127.0.0.1 (for tests
	// whose clients live in network namespaces). A new cluster then also
	// accepts SCRAM logins from any address in pg_hba.conf, as a server
	// open to a network would.
	ExtraListen []string
	// Logger may be nil.
	Logger *slog.Logger
}

// pgHBARemote is appended to pgHBA for a cluster with ExtraListen.
const pgHBARemote = `host    all       all   0.0.0.0/0      scram-sha-256
host    all       all   ::/0           scram-sha-256
`

// Postgres is a running PostgreSQL server started by StartPostgres.
type Postgres struct {
	DataDir  string
	Host     string // always "127.0.0.1"
	Port     int
	User     string // the superuser, "postgres"
	Password string // the superuser's password (SCRAM)
	Version  string // server version as reported by the server, e.g. "15.14"

	name string
	opts PostgresOptions // how it was started, for Restart
	life
}

// DSN returns a pgx/libpq URL that connects to database as the superuser
// over TCP, e.g. "postgres://postgres:PW@127.0.0.1:5432/cellar?sslmode=disable".
func (p *Postgres) DSN(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.User, p.Password),
		Host:     net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop shuts the server down with SIGINT (PostgreSQL's "fast" shutdown:
// sessions are disconnected, a checkpoint is written) and waits up to about
// ten seconds, or until ctx ends, before killing it.
func (p *Postgres) Stop(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.life.stop(ctx)
}

// StartPostgres initialises the cluster in o.DataDir if needed, starts it
// and waits until it accepts connections.
func StartPostgres(ctx context.Context, o PostgresOptions) (*Postgres, error) {
	began := time.Now()
	if o.Name == "" {
		o.Name = "postgres"
	}
	if o.DataDir == "" {
		return nil, fmt.Errorf("%s: PostgresOptions.DataDir is required", o.Name)
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	if o.BinDir == "" {
		o.BinDir = defaultPGBinDir()
	}
	if o.LogPath == "" {
		o.LogPath = dataDir + ".log"
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	as, err := serviceUser("postgres")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	if err := checkTraversable(parent, as); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	// Five digits is the longest port.
	if err := checkSocketPath(filepath.Join(dataDir, ".s.PGSQL.65535")); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}

	// A remembered port that is taken fails before any slow work.
	if o.Port != 0 {
		if err := checkPortFree(o.Name, o.Port); err != nil {
			return nil, err
		}
	}

	_, err = os.Stat(filepath.Join(dataDir, "PG_VERSION"))
	fresh := errors.Is(err, fs.ErrNotExist)
	switch {
	case err != nil && !fresh:
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	case fresh:
		if o.Password == "" {
			o.Password = randomPassword()
		}
		if err := initdb(ctx, o, dataDir, as); err != nil {
			return nil, err
		}
		logger.Info("initialised postgres cluster", "name", o.Name, "dir", dataDir)
	case o.Password == "":
		return nil, fmt.Errorf("%s: %s already holds a cluster; its superuser password is required", o.Name, dataDir)
	}

	pg := &Postgres{
		DataDir:  dataDir,
		Host:     "127.0.0.1",
		User:     pgSuperuser,
		Password: o.Password,
		name:     o.Name,
		opts:     o,
	}
	proc, err := withPortRetry(o.Name, o.Port, func(port int) (*process, error) {
		pg.Port = port
		return launchPostgres(ctx, o, pg, as)
	})
	if err != nil {
		return nil, err
	}
	pg.life.proc = proc
	if err := setupPostgres(ctx, o, pg); err != nil {
		proc.kill()
		return nil, err
	}
	logger.Info("postgres ready", "name", o.Name, "port", pg.Port, "version", pg.Version,
		"elapsed", time.Since(began).Round(time.Millisecond))
	return pg, nil
}

// initdb creates a new cluster in dataDir, with SCRAM authentication and
// the superuser password from o.
func initdb(ctx context.Context, o PostgresOptions, dataDir string, as *osUser) error {
	// initdb wants an empty directory it can write; as root it must be the
	// postgres user's.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	if err := as.chown(dataDir); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	// The password goes through a file rather than the command line,
	// where any user could read it in ps. It is next to the data
	// directory, not in it, because initdb requires an empty directory.
	pw, err := os.CreateTemp(filepath.Dir(dataDir), ".pwfile-*")
	if err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	defer os.Remove(pw.Name())
	_, err = pw.WriteString(o.Password + "\n")
	if cerr := pw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = as.chown(pw.Name())
	}
	if err != nil {
		return fmt.Errorf("%s: password file: %w", o.Name, err)
	}
	args := []string{
		"-D", dataDir,
		"-U", pgSuperuser,
		"--auth=scram-sha-256",
		"--pwfile=" + pw.Name(),
		"--encoding=UTF8",
		// The C locale makes sorting identical on every machine and does
		// not depend on which locales the host generated.
		"--no-locale",
		"--no-instructions",
	}
	if !o.Durable {
		args = append(args, "--no-sync")
	}
	err = runOnce(ctx, procSpec{
		name:    o.Name,
		bin:     filepath.Join(o.BinDir, "initdb"),
		args:    args,
		dir:     filepath.Dir(dataDir),
		env:     childEnv(filepath.Dir(dataDir)),
		as:      as,
		logPath: o.LogPath,
	})
	if err != nil {
		return err
	}
	hba := filepath.Join(dataDir, "pg_hba.conf")
	content := pgHBA
	if len(o.ExtraListen) > 0 {
		content += pgHBARemote
	}
	if err := os.WriteFile(hba, []byte(content), 0o600); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	if err := as.chown(hba); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	return nil
}

// launchPostgres starts the server on pg.Port and waits until the
// superuser can log in.
func launchPostgres(ctx context.Context, o PostgresOptions, pg *Postgres, as *osUser) (*process, error) {
	// Settings go on the command line rather than into postgresql.conf so
	// that each start applies the current Durable choice.
	args := []string{
		"-D", pg.DataDir,
		"-p", strconv.Itoa(pg.Port),
		"-k", pg.DataDir,
		"-c", "listen_addresses=" + strings.Join(append([]string{"127.0.0.1"}, o.ExtraListen...), ","),
		"-c", "max_connections=300",
		"-c", "password_encryption=scram-sha-256",
	}
	if !o.Durable {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	proc, err := startProcess(procSpec{
		name:    o.Name,
		bin:     filepath.Join(o.BinDir, "postgres"),
		args:    args,
		dir:     pg.DataDir,
		env:     childEnv(pg.DataDir),
		as:      as,
		logPath: o.LogPath,
		stopSig: syscall.SIGINT,
	})
	if err != nil {
		return nil, err
	}
	err = proc.waitReady(ctx, func(ctx context.Context) (bool, error) {
		conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000") {
				return false, &fatalError{fmt.Errorf("superuser login refused (%s): the password in state does not match the one %s was initialised with", pe.Message, pg.DataDir)}
			}
			return false, err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var v string
		if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
			return false, err
		}
		// "15.14 (Debian 15.14-0+deb12u1)" -> "15.14"
		pg.Version, _, _ = strings.Cut(v, " ")
		return true, nil
	})
	if err != nil {
		proc.kill()
		return nil, err
	}
	return proc, nil
}

// setupPostgres applies what Cellar expects of the cluster. Every step is
// idempotent and runs on every start, so a start interrupted after initdb
// is completed by the next one.
func setupPostgres(ctx context.Context, o PostgresOptions, pg *Postgres) error {
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("%s: connect for setup: %w", o.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, db := range o.Databases {
		var exists bool
		err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists)
		if err != nil {
			return fmt.Errorf("%s: check database %q: %w", o.Name, db, err)
		}
		if exists {
			continue
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return fmt.Errorf("%s: create database %q: %w", o.Name, db, err)
		}
	}
	if o.RestrictDefaultDatabases {
		if _, err := conn.Exec(ctx, "REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC"); err != nil {
			return fmt.Errorf("%s: restrict default databases: %w", o.Name, err)
		}
	}
	return nil
}
