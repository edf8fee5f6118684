package depfault_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/depfault"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// slamPort accepts connections and closes them at once, as a server that
// dies mid-handshake does.
func slamPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestPostgres_OutagesAreRecognised(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, port := range map[string]int{"refused": closedPort(t), "closed at once": slamPort(t)} {
		_, err := pgx.Connect(ctx, fmt.Sprintf("postgres://u:p@127.0.0.1:%d/db?sslmode=disable&connect_timeout=5", port))
		if err == nil || !depfault.Postgres(err) {
			t.Errorf("%s: %v not recognised as an outage", name, err)
		}
	}
	for _, code := range []string{"08006", "57P01", "57P03", "53300"} {
		if !depfault.Postgres(fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code})) {
			t.Errorf("SQLSTATE %s not recognised as an outage", code)
		}
	}
	for _, err := range []error{pgx.ErrNoRows, &pgconn.PgError{Code: "42P01"}, &pgconn.PgError{Code: "23505"},
		context.Canceled, errors.New("invalid name")} {
		if depfault.Postgres(err) {
			t.Errorf("%v taken for an outage", err)
		}
	}
}

func TestMySQL_OutagesAreRecognised(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, port := range map[string]int{"refused": closedPort(t), "closed at once": slamPort(t)} {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.Timeout = "u", "p", "tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		err = db.PingContext(ctx)
		db.Close()
		if err == nil || !depfault.MySQL(err) {
			t.Errorf("%s: %v not recognised as an outage", name, err)
		}
	}
	if !depfault.MySQL(&mysql.MySQLError{Number: 1040}) {
		t.Error("too many connections not recognised as an outage")
	}
	for _, err := range []error{&mysql.MySQLError{Number: 1045}, &mysql.MySQLError{Number: 1146}, sql.ErrNoRows, context.Canceled} {
		if depfault.MySQL(err) {
			t.Errorf("%v taken for an outage", err)
		}
	}
}

func TestUnavailable_NamesTheDependencyAndHidesTheCause(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	err := fmt.Errorf("create: %w", depfault.Unavailable("the metadata database", cause))
	e, ok := depfault.Is(err)
	if !ok || e.Code != cellar.CodeUnavailable || e.RetryAfter <= 0 {
		t.Fatalf("%+v", e)
	}
	if e.Message != "the metadata database is unavailable" {
		t.Fatalf("message %q", e.Message)
	}
	if !errors.Is(err, cause) {
		t.Fatal("the cause is not kept for the logs")
	}
}
