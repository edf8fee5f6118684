package testenv

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/go-sql-driver/mysql" // MariaDB driver for inspections
	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
)

// These helpers look at the servers directly, as an operator would, so
// tests check effects rather than Cellar's own account of them.

// PG opens an admin connection to the managed PostgreSQL server.
func (e *Env) PG(t testing.TB) *pgx.Conn {
	t.Helper()
	return connectPG(t, e.Services.PG.DSN("postgres"))
}

// Metadata opens a connection to Cellar's metadata database.
func (e *Env) Metadata(t testing.TB) *pgx.Conn {
	t.Helper()
	return connectPG(t, e.Services.Metadata.DSN("cellar"))
}

func connectPG(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// MariaDB opens an admin connection to the managed MariaDB server.
func (e *Env) MariaDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", e.Services.MariaDB.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Vault returns a root client for the Vault server.
func (e *Env) Vault(t testing.TB) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = e.Services.Vault.Addr
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(e.Services.Vault.Token)
	return c
}

// Exists reports which objects called name exist for engine: the database,
// its user (same name) and its Vault secret (under the customer's path).
type Exists struct{ Database, User, Secret bool }

// Inspect looks up a database, its user and its secret on the real servers.
func (e *Env) Inspect(t testing.TB, engine, customer, name string) Exists {
	t.Helper()
	ctx := context.Background()
	var x Exists
	switch engine {
	case "postgresql":
		pg := e.PG(t)
		must(t, pg.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&x.Database))
		must(t, pg.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&x.User))
	case "mariadb":
		my := e.MariaDB(t)
		must(t, my.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?)", name).Scan(&x.Database))
		must(t, my.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM mysql.user WHERE User = ?)", name).Scan(&x.User))
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	s, err := e.Vault(t).KVv2("secret").GetMetadata(ctx, "cellar/customers/"+customer+"/"+engine+"/"+name)
	x.Secret = err == nil && s != nil
	return x
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
