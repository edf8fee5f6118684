package service

import (
	"context"
	"errors"
	"reflect"
	"syscall"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/depfault"
	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/store"
)

// downServer is a driver whose server refused every connection: each method
// fails the way a driver does when its server is down.
type downServer struct{ engine cellar.Engine }

var errDown = syscall.ECONNREFUSED

func (d downServer) Engine() cellar.Engine                       { return d.engine }
func (downServer) Close()                                        {}
func (downServer) Ping(context.Context) error                    { return errDown }
func (downServer) ServerVersion(context.Context) (string, error) { return "", errDown }
func (downServer) EnsureUser(context.Context, string, string) error {
	return errDown
}
func (downServer) EnsureDatabase(context.Context, string, string) error { return errDown }
func (downServer) DropDatabase(context.Context, string) error           { return errDown }
func (downServer) DropUser(context.Context, string) error               { return errDown }
func (downServer) DatabaseExists(context.Context, string) (bool, error) { return false, errDown }
func (downServer) UserExists(context.Context, string) (bool, error)     { return false, errDown }
func (downServer) ListDatabases(context.Context, string) ([]string, error) {
	return nil, errDown
}
func (downServer) ListUsers(context.Context, string) ([]string, error) { return nil, errDown }
func (downServer) SetConnectionLimit(context.Context, string, string, int) error {
	return errDown
}
func (downServer) ConnectionLimits(context.Context, string) ([]provision.LimitSetting, error) {
	return nil, errDown
}
func (downServer) UserSessions(context.Context, string) ([]int64, error) { return nil, errDown }
func (downServer) EndSessions(context.Context, string, []int64) (int, error) {
	return 0, errDown
}
func (downServer) EndDatabaseSessions(context.Context, string, string) (int, error) {
	return 0, errDown
}
func (downServer) ApplyAccess(context.Context, provision.AccessPolicy, []string) ([]string, error) {
	return nil, errDown
}
func (downServer) SwapDatabase(context.Context, string, string, string, string) error {
	return errDown
}
func (downServer) SwapProgress(context.Context, string, string, string) (provision.SwapProgress, error) {
	return 0, errDown
}
func (downServer) DatabaseInfo(context.Context, string, string) (provision.DatabaseInfo, error) {
	return provision.DatabaseInfo{}, errDown
}
func (downServer) Sample(context.Context, string) (provision.ServerSample, error) {
	return provision.ServerSample{}, errDown
}

// downPG is a down server with load logins, as PostgreSQL has.
type downPG struct{ downServer }

func (downPG) EnsureLoadLogin(context.Context, string, string, string) error { return errDown }
func (downPG) DropLoadLogin(context.Context, string, string, string, ...string) error {
	return errDown
}

// callAll calls every method of g that returns an error, with zero
// arguments, and returns each method's error by name.
func callAll(g guardedDriver) map[string]error {
	out := map[string]error{}
	v := reflect.ValueOf(g)
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	for i := range v.NumMethod() {
		m, mt := v.Method(i), v.Type().Method(i)
		ft := m.Type()
		if ft.NumOut() == 0 || ft.Out(ft.NumOut()-1) != errType {
			continue
		}
		var args []reflect.Value
		for j := range ft.NumIn() {
			in := ft.In(j)
			switch {
			case in == ctxType:
				args = append(args, reflect.ValueOf(context.Background()))
			case ft.IsVariadic() && j == ft.NumIn()-1:
				// no variadic arguments
			default:
				args = append(args, reflect.Zero(in))
			}
		}
		res := m.Call(args)
		err, _ := res[len(res)-1].Interface().(error)
		out[mt.Name] = err
	}
	return out
}

// TestGuardedDriver_ClassifiesEveryMethod: whatever role a method belongs
// to, an outage of the server it meets answers 503 naming the server. A
// method added to a role but not wrapped does not compile; one wrapped
// without classification fails here.
func TestGuardedDriver_ClassifiesEveryMethod(t *testing.T) {
	for _, engine := range cellar.Engines {
		srv := store.Server{Name: "db-" + string(engine), Engine: string(engine)}
		g, err := guardDriver(srv, downPG{downServer{engine}})
		if err != nil {
			t.Fatal(err)
		}
		calls := callAll(g)
		// Every method of every role, less Engine and Close.
		want := 0
		for _, role := range []reflect.Type{reflect.TypeFor[provision.Driver](), reflect.TypeFor[provision.LoadLogins]()} {
			want += role.NumMethod()
		}
		if want -= 2; len(calls) != want {
			t.Errorf("%s: %d methods return an error, want %d", engine, len(calls), want)
		}
		for name, err := range calls {
			e, ok := depfault.Is(err)
			if !ok || e.Code != cellar.CodeUnavailable {
				t.Errorf("%s: %s(...) = %v, want an unavailable error", engine, name, err)
			}
		}
	}
}

// TestGuardedDriver_LoadLoginsOnlyWhereSupported: an engine without load
// logins says so (provision.ErrUnsupported) rather than failing a type
// assertion or skipping silently.
func TestGuardedDriver_LoadLoginsOnlyWhereSupported(t *testing.T) {
	srv := store.Server{Name: "db-my", Engine: string(cellar.MariaDB)}
	g, err := guardDriver(srv, downServer{cellar.MariaDB})
	if err != nil {
		t.Fatal(err)
	}
	var drv provision.Driver = g
	ll, ok := drv.(provision.LoadLogins)
	if !ok {
		t.Fatal("the guarded driver does not offer load logins")
	}
	if err := ll.EnsureLoadLogin(context.Background(), "l", "o", "p"); !errors.Is(err, provision.ErrUnsupported) {
		t.Errorf("EnsureLoadLogin on MariaDB = %v, want ErrUnsupported", err)
	}
	if err := ll.DropLoadLogin(context.Background(), "l", "o", "p"); !errors.Is(err, provision.ErrUnsupported) {
		t.Errorf("DropLoadLogin on MariaDB = %v, want ErrUnsupported", err)
	}
}

// TestOpenServer_UnknownEngine: the engine table refuses an engine it has
// no driver for, without a typed nil.
func TestOpenServer_UnknownEngine(t *testing.T) {
	d, err := openServer(context.Background(), "oracle", "x")
	if err == nil || d != nil {
		t.Fatalf("openServer(oracle) = %v, %v; want nil, error", d, err)
	}
	for _, e := range cellar.Engines {
		if _, ok := engineDrivers[e]; !ok {
			t.Errorf("no driver for engine %s", e)
		}
	}
}
