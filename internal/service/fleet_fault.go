package service

// fleet_fault.go: the one place where errors of managed servers are
// classified. The fleet hands out every driver wrapped in guardedDriver, so
// an outage of a managed server (refused or broken connections, timeouts,
// a server shutting down or recovering) answers 503 naming the server
// instead of 500, whichever operation met it.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/depfault"
	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/store"
)

// serverDependency names a managed server in errors shown to clients.
func serverDependency(srv store.Server) string {
	return "the " + cellar.Engine(srv.Engine).DisplayName() + " server " + srv.Name
}

// serverFault turns an outage of srv into an unavailable error naming it;
// other errors pass unchanged.
func serverFault(srv store.Server, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := depfault.Is(err); ok {
		return err
	}
	if errors.Is(err, provision.ErrUnsafeServer) {
		// An operator must change the server's configuration; the cause
		// (which setting) goes to the log, the client learns only that the
		// server cannot take new databases now.
		return &cellar.Error{Code: cellar.CodeUnavailable, Err: err, RetryAfter: time.Minute,
			Message: serverDependency(srv) + " is refusing new databases until an operator corrects its configuration"}
	}
	var outage bool
	switch cellar.Engine(srv.Engine) {
	case cellar.PostgreSQL:
		outage = depfault.Postgres(err)
	case cellar.MariaDB:
		outage = depfault.MySQL(err)
	}
	if outage {
		return depfault.Unavailable(serverDependency(srv), err)
	}
	return err
}

// guardedDriver classifies the errors of every method of a driver.
type guardedDriver struct {
	d   provision.Driver
	srv store.Server
}

func (g guardedDriver) ConnectionLimits(ctx context.Context, prefix string) ([]provision.LimitSetting, error) {
	out, err := g.d.ConnectionLimits(ctx, prefix)
	return out, g.f(err)
}

var _ provision.Driver = guardedDriver{}

func (g guardedDriver) f(err error) error { return serverFault(g.srv, err) }

func (g guardedDriver) Engine() string { return g.d.Engine() }
func (g guardedDriver) Close()         { g.d.Close() }

func (g guardedDriver) Ping(ctx context.Context) error { return g.f(g.d.Ping(ctx)) }

func (g guardedDriver) ServerVersion(ctx context.Context) (string, error) {
	v, err := g.d.ServerVersion(ctx)
	return v, g.f(err)
}

func (g guardedDriver) EnsureUser(ctx context.Context, username, password string) error {
	return g.f(g.d.EnsureUser(ctx, username, password))
}

func (g guardedDriver) EnsureDatabase(ctx context.Context, name, owner string) error {
	return g.f(g.d.EnsureDatabase(ctx, name, owner))
}

func (g guardedDriver) DropDatabase(ctx context.Context, name string) error {
	return g.f(g.d.DropDatabase(ctx, name))
}

func (g guardedDriver) DropUser(ctx context.Context, username string) error {
	return g.f(g.d.DropUser(ctx, username))
}

func (g guardedDriver) DatabaseExists(ctx context.Context, name string) (bool, error) {
	ok, err := g.d.DatabaseExists(ctx, name)
	return ok, g.f(err)
}

func (g guardedDriver) UserExists(ctx context.Context, username string) (bool, error) {
	ok, err := g.d.UserExists(ctx, username)
	return ok, g.f(err)
}

func (g guardedDriver) ListDatabases(ctx context.Context, prefix string) ([]string, error) {
	out, err := g.d.ListDatabases(ctx, prefix)
	return out, g.f(err)
}

func (g guardedDriver) ListUsers(ctx context.Context, prefix string) ([]string, error) {
	out, err := g.d.ListUsers(ctx, prefix)
	return out, g.f(err)
}

func (g guardedDriver) SetConnectionLimit(ctx context.Context, database, owner string, limit int) error {
	return g.f(g.d.SetConnectionLimit(ctx, database, owner, limit))
}

func (g guardedDriver) UserSessions(ctx context.Context, username string) ([]int64, error) {
	out, err := g.d.UserSessions(ctx, username)
	return out, g.f(err)
}

func (g guardedDriver) EndSessions(ctx context.Context, username string, ids []int64) (int, error) {
	n, err := g.d.EndSessions(ctx, username, ids)
	return n, g.f(err)
}

func (g guardedDriver) EndDatabaseSessions(ctx context.Context, database, owner string) (int, error) {
	n, err := g.d.EndDatabaseSessions(ctx, database, owner)
	return n, g.f(err)
}

func (g guardedDriver) DatabaseInfo(ctx context.Context, database, owner string) (provision.DatabaseInfo, error) {
	info, err := g.d.DatabaseInfo(ctx, database, owner)
	return info, g.f(err)
}

func (g guardedDriver) ApplyAccess(ctx context.Context, p provision.AccessPolicy, only []string) ([]string, error) {
	out, err := g.d.ApplyAccess(ctx, p, only)
	return out, g.f(err)
}

func (g guardedDriver) SwapDatabase(ctx context.Context, live, replacement, retired, owner string) error {
	return g.f(g.d.SwapDatabase(ctx, live, replacement, retired, owner))
}

func (g guardedDriver) Sample(ctx context.Context, prefix string) (provision.ServerSample, error) {
	s, err := g.d.Sample(ctx, prefix)
	return s, g.f(err)
}

func (g guardedDriver) SwapProgress(ctx context.Context, live, replacement, retired string) (provision.SwapProgress, error) {
	p, err := g.d.SwapProgress(ctx, live, replacement, retired)
	return p, g.f(err)
}

// EnsureLoadLogin and DropLoadLogin pass the PostgreSQL driver's load
// logins through (see restore.go's loadLogins); a driver without them
// says so instead of being silently skipped.
func (g guardedDriver) EnsureLoadLogin(ctx context.Context, login, owner, password string) error {
	pg, ok := g.d.(loadLogins)
	if !ok {
		return fmt.Errorf("server %s cannot make load logins", g.srv.Name)
	}
	return g.f(pg.EnsureLoadLogin(ctx, login, owner, password))
}

func (g guardedDriver) DropLoadLogin(ctx context.Context, login, owner, password string, databases ...string) error {
	pg, ok := g.d.(loadLogins)
	if !ok {
		return fmt.Errorf("server %s cannot make load logins", g.srv.Name)
	}
	return g.f(pg.DropLoadLogin(ctx, login, owner, password, databases...))
}

var _ loadLogins = guardedDriver{}
