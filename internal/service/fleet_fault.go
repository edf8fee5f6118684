package service

// fleet_fault.go: the one place where errors of managed servers are
// classified. The fleet hands out every driver wrapped in guardedDriver, so
// an outage of a managed server (refused or broken connections, timeouts,
// a server shutting down or recovering) answers 503 naming the server
// instead of 500, whichever operation met it.
//
// guardedDriver is built from one guarded type per role of the provision
// package, each holding the role's interface in a named field (never
// embedded: an embedded driver would pass a new method through without
// classification). So a method added to a role fails to compile here until
// it is wrapped, and a new role is one more guarded type embedded below;
// TestGuardedDriver_ClassifiesEveryMethod calls every method.

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
	if e, ok := engineDrivers[cellar.Engine(srv.Engine)]; ok && e.outage(err) {
		return depfault.Unavailable(serverDependency(srv), err)
	}
	return err
}

// guard classifies the errors of one server's driver.
type guard struct{ srv store.Server }

func (g guard) f(err error) error { return serverFault(g.srv, err) }

// guardedDriver is a server's driver with every error classified: it plays
// every role of provision.Driver, and provision.LoadLogins when the engine
// makes load logins (otherwise those methods fail with
// provision.ErrUnsupported, never a failed type assertion).
type guardedDriver struct {
	guardedServer
	guardedProvisioner
	guardedLimiter
	guardedSessions
	guardedAccess
	guardedSwapper
	guardedSampler
	guardedLoadLogins
}

var (
	_ provision.Driver     = guardedDriver{}
	_ provision.LoadLogins = guardedDriver{}
)

// guardDriver wraps a server's driver. A driver that is not a whole
// provision.Driver (a future engine that plays fewer roles) is refused
// here, where the fleet can name it, rather than at a caller's assertion.
func guardDriver(srv store.Server, s provision.Server) (guardedDriver, error) {
	d, ok := s.(provision.Driver)
	if !ok {
		return guardedDriver{}, fmt.Errorf("server %s: its %s driver does not manage shared databases: %w",
			srv.Name, s.Engine().DisplayName(), provision.ErrUnsupported)
	}
	g := guard{srv}
	out := guardedDriver{
		guardedServer:      guardedServer{g, d},
		guardedProvisioner: guardedProvisioner{g, d},
		guardedLimiter:     guardedLimiter{g, d},
		guardedSessions:    guardedSessions{g, d},
		guardedAccess:      guardedAccess{g, d},
		guardedSwapper:     guardedSwapper{g, d},
		guardedSampler:     guardedSampler{g, d},
		guardedLoadLogins:  guardedLoadLogins{g: g},
	}
	if ll, ok := s.(provision.LoadLogins); ok {
		out.guardedLoadLogins.d = ll
	}
	return out, nil
}

type guardedServer struct {
	g guard
	d provision.Server
}

func (s guardedServer) Engine() cellar.Engine          { return s.d.Engine() }
func (s guardedServer) Close()                         { s.d.Close() }
func (s guardedServer) Ping(ctx context.Context) error { return s.g.f(s.d.Ping(ctx)) }
func (s guardedServer) ServerVersion(ctx context.Context) (string, error) {
	v, err := s.d.ServerVersion(ctx)
	return v, s.g.f(err)
}

type guardedProvisioner struct {
	g guard
	d provision.Provisioner
}

func (p guardedProvisioner) EnsureUser(ctx context.Context, username, password string) error {
	return p.g.f(p.d.EnsureUser(ctx, username, password))
}
func (p guardedProvisioner) EnsureDatabase(ctx context.Context, name, owner string) error {
	return p.g.f(p.d.EnsureDatabase(ctx, name, owner))
}
func (p guardedProvisioner) DropDatabase(ctx context.Context, name string) error {
	return p.g.f(p.d.DropDatabase(ctx, name))
}
func (p guardedProvisioner) DropUser(ctx context.Context, username string) error {
	return p.g.f(p.d.DropUser(ctx, username))
}
func (p guardedProvisioner) DatabaseExists(ctx context.Context, name string) (bool, error) {
	v, err := p.d.DatabaseExists(ctx, name)
	return v, p.g.f(err)
}
func (p guardedProvisioner) UserExists(ctx context.Context, username string) (bool, error) {
	v, err := p.d.UserExists(ctx, username)
	return v, p.g.f(err)
}
func (p guardedProvisioner) ListDatabases(ctx context.Context, prefix string) ([]string, error) {
	v, err := p.d.ListDatabases(ctx, prefix)
	return v, p.g.f(err)
}
func (p guardedProvisioner) ListUsers(ctx context.Context, prefix string) ([]string, error) {
	v, err := p.d.ListUsers(ctx, prefix)
	return v, p.g.f(err)
}

type guardedLimiter struct {
	g guard
	d provision.Limiter
}

func (l guardedLimiter) SetConnectionLimit(ctx context.Context, database, owner string, limit int) error {
	return l.g.f(l.d.SetConnectionLimit(ctx, database, owner, limit))
}
func (l guardedLimiter) ConnectionLimits(ctx context.Context, prefix string) ([]provision.LimitSetting, error) {
	v, err := l.d.ConnectionLimits(ctx, prefix)
	return v, l.g.f(err)
}

type guardedSessions struct {
	g guard
	d provision.SessionManager
}

func (s guardedSessions) UserSessions(ctx context.Context, username string) ([]int64, error) {
	v, err := s.d.UserSessions(ctx, username)
	return v, s.g.f(err)
}
func (s guardedSessions) EndSessions(ctx context.Context, username string, ids []int64) (int, error) {
	v, err := s.d.EndSessions(ctx, username, ids)
	return v, s.g.f(err)
}
func (s guardedSessions) EndDatabaseSessions(ctx context.Context, database, owner string) (int, error) {
	v, err := s.d.EndDatabaseSessions(ctx, database, owner)
	return v, s.g.f(err)
}

type guardedAccess struct {
	g guard
	d provision.AccessManager
}

func (a guardedAccess) ApplyAccess(ctx context.Context, p provision.AccessPolicy, only []string) ([]string, error) {
	v, err := a.d.ApplyAccess(ctx, p, only)
	return v, a.g.f(err)
}

type guardedSwapper struct {
	g guard
	d provision.Swapper
}

func (s guardedSwapper) SwapDatabase(ctx context.Context, live, replacement, retired, owner string) error {
	return s.g.f(s.d.SwapDatabase(ctx, live, replacement, retired, owner))
}
func (s guardedSwapper) SwapProgress(ctx context.Context, live, replacement, retired string) (provision.SwapProgress, error) {
	v, err := s.d.SwapProgress(ctx, live, replacement, retired)
	return v, s.g.f(err)
}

type guardedSampler struct {
	g guard
	d provision.Sampler
}

func (s guardedSampler) DatabaseInfo(ctx context.Context, database, owner string) (provision.DatabaseInfo, error) {
	v, err := s.d.DatabaseInfo(ctx, database, owner)
	return v, s.g.f(err)
}
func (s guardedSampler) Sample(ctx context.Context, prefix string) (provision.ServerSample, error) {
	v, err := s.d.Sample(ctx, prefix)
	return v, s.g.f(err)
}

// guardedLoadLogins passes the PostgreSQL driver's load logins through (see
// restore.go's load); d is nil for an engine without them, which then says
// so instead of being silently skipped.
type guardedLoadLogins struct {
	g guard
	d provision.LoadLogins
}

func (l guardedLoadLogins) unsupported() error {
	return fmt.Errorf("server %s cannot make load logins: %w", l.g.srv.Name, provision.ErrUnsupported)
}
func (l guardedLoadLogins) EnsureLoadLogin(ctx context.Context, login, owner, password string) error {
	if l.d == nil {
		return l.unsupported()
	}
	return l.g.f(l.d.EnsureLoadLogin(ctx, login, owner, password))
}
func (l guardedLoadLogins) DropLoadLogin(ctx context.Context, login, owner, password string, databases ...string) error {
	if l.d == nil {
		return l.unsupported()
	}
	return l.g.f(l.d.DropLoadLogin(ctx, login, owner, password, databases...))
}

// Each guarded role implements its role in full: a method added to a role
// does not compile until it is wrapped here.
var (
	_ provision.Server         = guardedServer{}
	_ provision.Provisioner    = guardedProvisioner{}
	_ provision.Limiter        = guardedLimiter{}
	_ provision.SessionManager = guardedSessions{}
	_ provision.AccessManager  = guardedAccess{}
	_ provision.Swapper        = guardedSwapper{}
	_ provision.Sampler        = guardedSampler{}
	_ provision.LoadLogins     = guardedLoadLogins{}
)
