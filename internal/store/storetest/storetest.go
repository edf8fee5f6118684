// Package storetest gives a test package one real metadata PostgreSQL,
// started on first use and shared by the package's tests, and runs each
// test in a transaction rolled back at its end (River's
// riverdbtest.TestTxPgx technique): tests see the real schema, its
// constraints and indexes, and leave nothing behind, without a server per
// test. It is for tests only.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
//
// Tests that need the server skip under -short.
package storetest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/harness"
	"github.com/cellar/cellar/internal/store"
)

// The package's shared server, started by the first test that asks.
var shared struct {
	once  sync.Once
	err   error
	dir   string
	pg    *harness.Postgres
	store *store.Store
}

// Main runs the package's tests and stops the shared server, if one was
// started, afterwards.
func Main(m *testing.M) int {
	flag.Parse()
	code := m.Run()
	if shared.store != nil {
		shared.store.Close()
	}
	if shared.pg != nil {
		_ = shared.pg.Stop(context.Background())
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

func start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not t.TempDir: its parent is 0700, and the server may run as postgres.
	dir, err := os.MkdirTemp("", "cellar-storetest-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		return err
	}
	shared.dir = dir
	pg, err := harness.StartPostgres(ctx, harness.PostgresOptions{Name: "storetest", DataDir: filepath.Join(dir, "pg")})
	if err != nil {
		return err
	}
	shared.pg = pg
	if _, err := adminExec(ctx, "CREATE DATABASE cellar"); err != nil {
		return err
	}
	st, err := store.Open(ctx, pg.DSN("cellar"), 8)
	if err != nil {
		return err
	}
	shared.store = st
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	return nil
}

func adminExec(ctx context.Context, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, shared.pg.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(ctx, sql)
	return tag.String(), err
}

// server returns the shared server, starting it on first use; under
// -short the test is skipped.
func server(t testing.TB) *harness.Postgres {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the real metadata PostgreSQL (run without -short)")
	}
	shared.once.Do(func() { shared.err = start() })
	if shared.err != nil {
		t.Fatalf("start the shared metadata PostgreSQL: %v", shared.err)
	}
	return shared.pg
}

// Store is the shared, migrated metadata store. Whatever a test commits
// through it stays for the package's other tests: prefer TestTx, and use
// unique names (uuid) where a test must commit (advisory locks, which
// take their own connections).
func Store(t testing.TB) *store.Store {
	t.Helper()
	server(t)
	return shared.store
}

// TestTx begins a transaction on the shared store and rolls it back when
// the test ends, so the test's rows never reach another test. The
// returned Queries run in it.
func TestTx(t testing.TB) (*store.Queries, pgx.Tx) {
	t.Helper()
	st := Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tx, err := st.Pool.Begin(ctx)
	if err != nil {
		t.Fatalf("begin test transaction: %v", err)
	}
	t.Cleanup(func() {
		// Rolled back even when the test's context is gone.
		if err := tx.Rollback(context.Background()); err != nil && err != pgx.ErrTxClosed {
			t.Errorf("roll back test transaction: %v", err)
		}
	})
	return store.New(tx), tx
}

var databases atomic.Int64

// FreshStore opens a Store with the given pool sizes on an empty, unmigrated
// database of its own on the shared server, for tests of the pools and
// locks themselves; it is closed when the test ends.
func FreshStore(t testing.TB, conns, lockConns int32) *store.Store {
	t.Helper()
	pg := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("fresh_%d_%d", os.Getpid(), databases.Add(1))
	if _, err := adminExec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenPools(ctx, pg.DSN(name), conns, lockConns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}
