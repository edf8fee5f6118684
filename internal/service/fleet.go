package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"

	"github.com/go-sql-driver/mysql"

	"github.com/cellar/cellar/internal/backup"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/depfault"
	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/provision/mariadb"
	"github.com/cellar/cellar/internal/provision/postgres"
	"github.com/cellar/cellar/internal/secrets"
	"github.com/cellar/cellar/internal/store"
)

// ServerSpec describes a managed server to register.
type ServerSpec struct {
	Name       string
	Engine     cellar.Engine
	AdminDSN   string // with password; the password goes to Vault, the rest to metadata
	PublicHost string
	PublicPort int
	Capacity   int
}

// Fleet is the set of managed servers: their metadata rows and one open
// driver per server.
type Fleet struct {
	store *store.Store
	vault *secrets.Vault

	mu      sync.Mutex
	drivers map[int64]guardedDriver
}

func newFleet(st *store.Store, v *secrets.Vault) *Fleet {
	return &Fleet{store: st, vault: v, drivers: map[int64]guardedDriver{}}
}

// engineDriver is what the fleet needs to know of an engine's driver
// package: how to connect to a server, and which errors mean the server is
// unreachable (see serverFault).
type engineDriver struct {
	open   func(ctx context.Context, adminDSN string) (provision.Server, error)
	outage func(error) bool
}

// engineDrivers is the one place that chooses a driver package per engine.
var engineDrivers = map[cellar.Engine]engineDriver{
	cellar.PostgreSQL: {
		open: func(ctx context.Context, dsn string) (provision.Server, error) {
			d, err := postgres.Open(ctx, dsn)
			if err != nil {
				return nil, err // not a typed nil inside the interface
			}
			return d, nil
		},
		outage: depfault.Postgres,
	},
	cellar.MariaDB: {
		open: func(ctx context.Context, dsn string) (provision.Server, error) {
			d, err := mariadb.Open(ctx, dsn)
			if err != nil {
				return nil, err
			}
			return d, nil
		},
		outage: depfault.MySQL,
	},
}

// openServer connects to a server of the engine with an admin DSN in that
// engine's driver format.
func openServer(ctx context.Context, engine cellar.Engine, adminDSN string) (provision.Server, error) {
	e, ok := engineDrivers[engine]
	if !ok {
		return nil, fmt.Errorf("unknown engine %q", engine)
	}
	return e.open(ctx, adminDSN)
}

// RegisterServer records a managed server, keeping its admin password in
// Vault rather than in the metadata table.
func (s *Service) RegisterServer(ctx context.Context, spec ServerSpec) (store.Server, error) {
	return s.fleet.register(ctx, spec)
}

func (f *Fleet) register(ctx context.Context, spec ServerSpec) (store.Server, error) {
	dsn, password, err := splitPassword(spec.Engine, spec.AdminDSN)
	if err != nil {
		return store.Server{}, fmt.Errorf("server %s: %w", spec.Name, err)
	}
	path := f.vault.Path("servers", spec.Name)
	current, _, err := f.vault.Get(ctx, path)
	if err != nil && !errors.Is(err, secrets.ErrNotFound) {
		return store.Server{}, fmt.Errorf("server %s: %w", spec.Name, err)
	}
	if current["password"] != password {
		if _, err := f.vault.Put(ctx, path, map[string]any{"password": password}); err != nil {
			return store.Server{}, fmt.Errorf("server %s: %w", spec.Name, err)
		}
	}
	srv, err := f.store.UpsertServer(ctx, store.UpsertServerParams{
		Name:            spec.Name,
		Engine:          string(spec.Engine),
		Host:            spec.PublicHost,
		Port:            int32(spec.PublicPort),
		AdminDsn:        dsn,
		AdminSecretPath: path,
		Capacity:        int32(spec.Capacity),
	})
	if store.IsNotFound(err) {
		return store.Server{}, fmt.Errorf("server %s is already registered with another engine", spec.Name)
	}
	if err != nil {
		return store.Server{}, fmt.Errorf("register server %s: %w", spec.Name, err)
	}
	f.mu.Lock()
	if d, ok := f.drivers[srv.ID]; ok {
		d.Close()
		delete(f.drivers, srv.ID)
	}
	f.mu.Unlock()
	return srv, nil
}

// driver returns the open driver of a server, connecting on first use.
func (f *Fleet) driver(ctx context.Context, srv store.Server) (provision.Driver, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.drivers[srv.ID]; ok {
		return d, nil
	}
	secret, _, err := f.vault.Get(ctx, srv.AdminSecretPath)
	if err != nil {
		return nil, fmt.Errorf("admin credentials of server %s: %w", srv.Name, err)
	}
	password, _ := secret["password"].(string)
	dsn, err := withPassword(cellar.Engine(srv.Engine), srv.AdminDsn, password)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", srv.Name, err)
	}
	d, err := openServer(ctx, cellar.Engine(srv.Engine), dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to server %s: %w", srv.Name, serverFault(srv, err))
	}
	g, err := guardDriver(srv, d)
	if err != nil {
		d.Close()
		return nil, err
	}
	f.drivers[srv.ID] = g
	return g, nil
}

// adminConn is how the engines' dump and restore tools reach a server as
// its admin.
func (f *Fleet) adminConn(ctx context.Context, srv store.Server) (backup.Conn, error) {
	secret, _, err := f.vault.Get(ctx, srv.AdminSecretPath)
	if err != nil {
		return backup.Conn{}, fmt.Errorf("admin credentials of server %s: %w", srv.Name, err)
	}
	password, _ := secret["password"].(string)
	switch cellar.Engine(srv.Engine) {
	case cellar.PostgreSQL:
		u, err := url.Parse(srv.AdminDsn)
		if err != nil || u.User == nil {
			return backup.Conn{}, fmt.Errorf("server %s: admin DSN does not parse", srv.Name)
		}
		port, _ := strconv.Atoi(u.Port())
		if port == 0 {
			port = 5432
		}
		return backup.Conn{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: password}, nil
	case cellar.MariaDB:
		cfg, err := mysql.ParseDSN(srv.AdminDsn)
		if err != nil {
			return backup.Conn{}, fmt.Errorf("server %s: admin DSN does not parse", srv.Name)
		}
		host, portText, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			host, portText = cfg.Addr, "3306"
		}
		port, _ := strconv.Atoi(portText)
		return backup.Conn{Host: host, Port: port, User: cfg.User, Password: password}, nil
	}
	return backup.Conn{}, fmt.Errorf("unknown engine %q", srv.Engine)
}

// Close closes every driver.
func (f *Fleet) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, d := range f.drivers {
		d.Close()
		delete(f.drivers, id)
	}
}

// splitPassword removes the password from an admin DSN.
func splitPassword(engine cellar.Engine, dsn string) (rest, password string, err error) {
	switch engine {
	case cellar.PostgreSQL:
		u, err := url.Parse(dsn)
		if err != nil || u.User == nil {
			return "", "", errors.New("admin DSN must be a postgres:// URL with a user")
		}
		password, _ = u.User.Password()
		u.User = url.User(u.User.Username())
		return u.String(), password, nil
	case cellar.MariaDB:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", "", errors.New("admin DSN must be user:password@tcp(host:port)/")
		}
		password = cfg.Passwd
		cfg.Passwd = ""
		return cfg.FormatDSN(), password, nil
	}
	return "", "", fmt.Errorf("unknown engine %q", engine)
}

// withPassword puts the password back into a DSN stored without one.
func withPassword(engine cellar.Engine, dsn, password string) (string, error) {
	switch engine {
	case cellar.PostgreSQL:
		u, err := url.Parse(dsn)
		if err != nil || u.User == nil {
			return "", errors.New("stored admin DSN is not a postgres:// URL with a user")
		}
		u.User = url.UserPassword(u.User.Username(), password)
		return u.String(), nil
	case cellar.MariaDB:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", errors.New("stored admin DSN does not parse")
		}
		cfg.Passwd = password
		return cfg.FormatDSN(), nil
	}
	return "", fmt.Errorf("unknown engine %q", engine)
}
