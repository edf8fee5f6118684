package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/cellar/cellar/migrations"
)

// Store is Cellar's metadata database: a connection pool plus the generated
// queries. Queries run on the pool unless a transaction or a lock is used.
type Store struct {
	*Queries
	Pool *pgxpool.Pool
}

// Open connects to the metadata database and checks it answers.
func Open(ctx context.Context, dsn string, maxConns int32) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse metadata DSN: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to metadata database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to metadata database: %w", err)
	}
	return &Store{Queries: New(pool), Pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.Pool.Close() }

// Migrate applies every pending migration. A session advisory lock makes
// concurrent start-ups of several Cellar processes take turns.
func (s *Store) Migrate(ctx context.Context) ([]*goose.MigrationResult, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDBFromPool(s.Pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return results, fmt.Errorf("apply migrations: %w", err)
	}
	return results, nil
}

// InTx runs fn in a transaction on the pool, committing if fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(q *Queries) error) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return fn(New(tx)) })
}

// InPgxTx runs fn in a transaction on the pool and also hands it the raw
// transaction, for libraries that take part in it (River's transactional
// job inserts).
func (s *Store) InPgxTx(ctx context.Context, fn func(tx pgx.Tx, q *Queries) error) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return fn(tx, New(tx)) })
}

// IsNotFound reports whether err means a query matched no row.
func IsNotFound(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// IsUniqueViolation reports whether err is a unique index refusing a row.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Lock is a PostgreSQL session advisory lock held on a dedicated connection.
// Holding it grants the exclusive right to change one resource, across every
// Cellar process sharing the metadata database. If the process dies, the
// session ends and the lock is released with it.
type Lock struct {
	conn *pgxpool.Conn
	key  int64
	// Queries runs on the lock's own connection, so the holder never waits
	// for the pool while others queue behind the lock.
	*Queries
}

// LockKey maps a resource name to an advisory lock key.
func LockKey(resource string) int64 {
	h := fnv.New64a()
	h.Write([]byte(resource))
	return int64(h.Sum64())
}

// Lock waits for the advisory lock on resource.
func (s *Store) Lock(ctx context.Context, resource string) (*Lock, error) {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection for lock: %w", err)
	}
	key := LockKey(resource)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		// A cancelled wait may leave the session in doubt; do not reuse it.
		conn.Conn().Close(context.Background())
		conn.Release()
		return nil, fmt.Errorf("wait for lock on %s: %w", resource, err)
	}
	return &Lock{conn: conn, key: key, Queries: New(conn)}, nil
}

// TryLock takes the advisory lock on resource if it is free.
func (s *Store) TryLock(ctx context.Context, resource string) (*Lock, bool, error) {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("acquire connection for lock: %w", err)
	}
	key := LockKey(resource)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		conn.Conn().Close(context.Background())
		conn.Release()
		return nil, false, fmt.Errorf("try lock on %s: %w", resource, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return &Lock{conn: conn, key: key, Queries: New(conn)}, true, nil
}

// InTx runs fn in a transaction on the lock's connection.
func (l *Lock) InTx(ctx context.Context, fn func(q *Queries) error) error {
	return pgx.BeginFunc(ctx, l.conn, func(tx pgx.Tx) error { return fn(New(tx)) })
}

// Release gives the lock back. It must run even when the request's context
// is already cancelled, so it uses its own short deadline; if unlocking
// fails the connection is closed, which releases the lock just the same.
func (l *Lock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", l.key); err != nil {
		l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}
