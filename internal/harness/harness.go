// Package harness starts private PostgreSQL, MariaDB and HashiCorp Vault
// servers from binaries installed on the machine, for Cellar's integration
// tests and for `make run`.
//
// Every server is a child process of the calling Go program. Each one listens
// only on 127.0.0.1 on a port of its own, keeps its data in a directory under
// Options.Dir and writes its output to a log file. Nothing here touches the
// host's system services (systemd units, /etc/mysql, pg_ctlcluster, the
// default ports): two harnesses, or a harness and a packaged server, can run
// side by side.
//
// Start brings up the whole set Cellar needs: a PostgreSQL server for Cellar's
// own metadata, a second PostgreSQL server and a MariaDB server to provision
// customer databases on, and Vault for the customers' credentials. Ports,
// passwords and Vault's keys are remembered in Dir/state.json, so a second
// Start on the same directory brings back the same servers with the same
// data and credentials.
//
// When the program runs as root, PostgreSQL refuses to run and MariaDB should
// not, so the database servers run as the "postgres" and "mysql" OS users.
// Their data directories are chowned to those users, and every directory
// above them must be traversable by them: tests should make their root with
// os.MkdirTemp("", "cellar-") followed by os.Chmod(dir, 0o755), because
// t.TempDir() is mode 0700.
//
// Children are started with a parent-death signal, so they are killed when
// the program dies without calling Stop; with a graceful Stop they shut down
// cleanly.
package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options configures Start.
type Options struct {
	// Dir is the root directory, created with mode 0755 if missing. It holds
	// state.json and the subdirectories metadata-pg/, managed-pg/, mariadb/
	// and vault/.
	Dir string
	// Durable selects crash-safe settings. When false (tests) PostgreSQL runs
	// with fsync, synchronous_commit and full_page_writes off, MariaDB does
	// not sync InnoDB's log or data, and Vault runs in -dev mode, in memory,
	// so its secrets are lost at Stop. When true (make run) the databases use
	// their default, durable settings and Vault keeps its data under
	// Dir/vault; it is initialised once with a single unseal key and unsealed
	// on every Start.
	Durable bool
	// VaultBin is the path to the vault binary. Required.
	VaultBin string
	// PGBinDir holds initdb and postgres. Default: `pg_config --bindir` if
	// pg_config is on PATH, else /usr/lib/postgresql/15/bin.
	PGBinDir string
	// Logger receives progress messages. Nil discards them.
	Logger *slog.Logger
	// LogDir receives each server's stdout and stderr, one file per server.
	// Default: Dir/logs.
	LogDir string
	// ExtraListen are addresses the managed PostgreSQL and MariaDB servers
	// listen on besides 127.0.0.1 (tests with clients in network
	// namespaces). The metadata server and Vault stay on loopback.
	ExtraListen []string
}

// Services is the running set started by Start.
type Services struct {
	// Metadata is the PostgreSQL server for Cellar's own metadata. A
	// database named "cellar" exists on it.
	Metadata *Postgres
	// PG is the managed PostgreSQL server that customer databases are
	// provisioned on.
	PG *Postgres
	// MariaDB is the managed MariaDB server.
	MariaDB *MariaDB
	// Vault holds customer credentials in a KV v2 engine mounted at secret/.
	Vault *Vault
}

// Subdirectories of Options.Dir.
const (
	metadataPGDir = "metadata-pg"
	managedPGDir  = "managed-pg"
	mariaDBDir    = "mariadb"
	vaultDir      = "vault"
)

// MetadataDatabase is the database Start creates on the metadata server.
const MetadataDatabase = "cellar"

// Start starts the metadata PostgreSQL, the managed PostgreSQL, MariaDB and
// Vault concurrently and returns once every one accepts connections (and
// Vault is unsealed with KV v2 mounted at secret/). If any of them fails, the
// others are stopped and the error says which failed and shows the end of its
// log.
//
// ctx bounds startup only: the servers keep running after ctx ends, until
// Stop.
//
// Ports, passwords and Vault's root token and unseal key are kept in
// Dir/state.json (mode 0600). A second Start on the same Dir reuses them and
// the existing data directories; if a remembered port is now taken by some
// other process, Start fails with an error naming the port rather than
// silently moving the server.
func Start(ctx context.Context, opts Options) (*Services, error) {
	began := time.Now()
	if opts.Dir == "" {
		return nil, errors.New("harness: Options.Dir is required")
	}
	if opts.VaultBin == "" {
		return nil, errors.New("harness: Options.VaultBin is required")
	}
	if _, err := os.Stat(opts.VaultBin); err != nil {
		return nil, fmt.Errorf("harness: vault binary: %w", err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logDir := opts.LogDir
	if logDir == "" {
		logDir = filepath.Join(dir, "logs")
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	pgBinDir := opts.PGBinDir
	if pgBinDir == "" {
		pgBinDir = defaultPGBinDir()
	}

	sf, err := openState(dir)
	if err != nil {
		return nil, err
	}
	// Passwords are generated and saved before any server is initialised
	// with them: a crash after initdb but before the save would otherwise
	// leave a data directory nobody knows the password of.
	st := sf.get()
	changed := false
	for _, pw := range []*string{&st.MetadataPG.Password, &st.ManagedPG.Password, &st.MariaDB.Password} {
		if *pw == "" {
			*pw = randomPassword()
			changed = true
		}
	}
	if st.MariaDB.User == "" {
		st.MariaDB.User = defaultMariaDBUser
		changed = true
	}
	if !opts.Durable && st.Vault.DevToken == "" {
		st.Vault.DevToken = randomPassword()
		changed = true
	}
	if changed {
		if err := sf.set(st); err != nil {
			return nil, err
		}
	}

	reservePorts(st.MetadataPG.Port, st.ManagedPG.Port, st.MariaDB.Port, st.Vault.Port)

	vo := VaultOptions{
		Dir:     filepath.Join(dir, vaultDir),
		Port:    st.Vault.Port,
		Durable: opts.Durable,
		Bin:     opts.VaultBin,
		LogPath: filepath.Join(logDir, "vault.log"),
		Logger:  logger,
	}
	if opts.Durable {
		vo.Token, vo.UnsealKey = st.Vault.RootToken, st.Vault.UnsealKey
		// Vault hands out its keys exactly once, at init; they must be on
		// disk before anything else can fail.
		vo.OnInit = func(rootToken, unsealKey string) error {
			return sf.update(func(s *state) {
				s.Vault.RootToken, s.Vault.UnsealKey = rootToken, unsealKey
			})
		}
	} else {
		vo.Token = st.Vault.DevToken
	}

	// A failure in one server cancels the others' startup instead of
	// letting them run on to their own deadline.
	startCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		s    Services
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		cancel()
	}
	wg.Go(func() {
		p, err := StartPostgres(startCtx, PostgresOptions{
			Name:      metadataPGDir,
			DataDir:   filepath.Join(dir, metadataPGDir),
			Port:      st.MetadataPG.Port,
			Password:  st.MetadataPG.Password,
			Durable:   opts.Durable,
			BinDir:    pgBinDir,
			LogPath:   filepath.Join(logDir, metadataPGDir+".log"),
			Databases: []string{MetadataDatabase},
			Logger:    logger,
		})
		if err != nil {
			fail(err)
			return
		}
		s.Metadata = p
	})
	wg.Go(func() {
		p, err := StartPostgres(startCtx, PostgresOptions{
			Name:                     managedPGDir,
			DataDir:                  filepath.Join(dir, managedPGDir),
			Port:                     st.ManagedPG.Port,
			Password:                 st.ManagedPG.Password,
			Durable:                  opts.Durable,
			BinDir:                   pgBinDir,
			LogPath:                  filepath.Join(logDir, managedPGDir+".log"),
			RestrictDefaultDatabases: true,
			ExtraListen:              opts.ExtraListen,
			Logger:                   logger,
		})
		if err != nil {
			fail(err)
			return
		}
		s.PG = p
	})
	wg.Go(func() {
		m, err := StartMariaDB(startCtx, MariaDBOptions{
			Dir:         filepath.Join(dir, mariaDBDir),
			Port:        st.MariaDB.Port,
			User:        st.MariaDB.User,
			Password:    st.MariaDB.Password,
			Durable:     opts.Durable,
			LogPath:     filepath.Join(logDir, "mariadb.log"),
			ExtraListen: opts.ExtraListen,
			Logger:      logger,
		})
		if err != nil {
			fail(err)
			return
		}
		s.MariaDB = m
	})
	wg.Go(func() {
		v, err := StartVault(startCtx, vo)
		if err != nil {
			fail(err)
			return
		}
		s.Vault = v
	})
	wg.Wait()

	if len(errs) > 0 {
		// Servers stopped by the cancellation report context.Canceled;
		// only the root cause is worth reading, unless the caller's own
		// ctx is what ended startup.
		var root []error
		for _, e := range errs {
			if !errors.Is(e, context.Canceled) || ctx.Err() != nil {
				root = append(root, e)
			}
		}
		if len(root) == 0 {
			root = errs
		}
		stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer stopCancel()
		if err := s.Stop(stopCtx); err != nil {
			root = append(root, fmt.Errorf("stopping the servers that did start: %w", err))
		}
		return nil, fmt.Errorf("harness: start in %s: %w", dir, errors.Join(root...))
	}

	err = sf.update(func(st *state) {
		st.MetadataPG.Port = s.Metadata.Port
		st.ManagedPG.Port = s.PG.Port
		st.MariaDB.Port = s.MariaDB.Port
		st.Vault.Port = s.Vault.port
	})
	if err != nil {
		stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer stopCancel()
		_ = s.Stop(stopCtx)
		return nil, err
	}
	logger.Info("harness started", "dir", dir, "durable", opts.Durable, "elapsed", time.Since(began).Round(time.Millisecond))
	return &s, nil
}

// Stop stops every server concurrently: PostgreSQL with SIGINT (fast
// shutdown), MariaDB with SIGTERM and Vault with SIGINT. Each gets about ten
// seconds, or until ctx ends, before it and its children are killed. Stop is
// safe to call more than once and on a partly started set.
func (s *Services) Stop(ctx context.Context) error {
	if s == nil {
		return nil
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	stop := func(f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	if s.Metadata != nil {
		stop(s.Metadata.Stop)
	}
	if s.PG != nil {
		stop(s.PG.Stop)
	}
	if s.MariaDB != nil {
		stop(s.MariaDB.Stop)
	}
	if s.Vault != nil {
		stop(s.Vault.Stop)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// defaultPGBinDir asks pg_config where the server binaries are, because
// Debian keeps them off PATH in a versioned directory.
func defaultPGBinDir() string {
	if pc, err := exec.LookPath("pg_config"); err == nil {
		out, err := exec.Command(pc, "--bindir").Output()
		if err == nil {
			d := strings.TrimSpace(string(out))
			if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
				return d
			}
		}
	}
	return "/usr/lib/postgresql/15/bin"
}
