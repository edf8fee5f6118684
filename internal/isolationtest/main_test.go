package isolationtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/testenv"
)

// env is the shared Cellar with real servers for this package's tests.
var env *testenv.Env

func TestMain(m *testing.M) {
	// Tests end tenant sessions on purpose; the driver would log each one.
	_ = mysql.SetLogger(&mysql.NopLogger{})
	os.Exit(testenv.Run(m, &env))
}

var (
	stockOnce sync.Once
	stockErr  error
)

// need returns the environment (skipping under -short) after making its
// servers look like stock installations, once per package run.
func need(t *testing.T) *testenv.Env {
	t.Helper()
	e := testenv.Need(t, env)
	stockOnce.Do(func() { stockErr = stockServers(e) })
	if stockErr != nil {
		t.Fatal(stockErr)
	}
	return e
}

// stockServers undoes the harness's own hardening of the managed
// PostgreSQL server, so that the tests run against a server as a stock
// installation (a distribution package, the postgres:15 image of
// docker-compose.yml) leaves it: PUBLIC may connect to the "postgres" and
// "template1" databases and create temporary tables there. Whatever
// isolation the tenants get must come from Cellar, not from the harness.
func stockServers(e *testenv.Env) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.Services.PG.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("stock servers: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "GRANT CONNECT, TEMPORARY ON DATABASE postgres, template1 TO PUBLIC"); err != nil {
		return fmt.Errorf("stock servers: %w", err)
	}
	return nil
}
