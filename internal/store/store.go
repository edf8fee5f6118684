// Package store is Cellar's metadata database: the queries sqlc generates
// from sql/, plus transactions, advisory locks and outage classification.
package store

import (
	"context"
	"errors"
	"fmt"

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
	// LockPool holds the sessions that hold advisory locks (see Lock). It is
	// a pool of its own so that however many operations hold or wait for
	// locks, authentication and reads on Pool never queue behind them.
	LockPool *pgxpool.Pool
}

// DefaultLockConns is the size of the lock pool when Open is not told.
const DefaultLockConns = 16

// Open connects to the metadata database and checks it answers. maxConns
// caps the request pool; the lock pool gets DefaultLockConns.
func Open(ctx context.Context, dsn string, maxConns int32) (*Store, error) {
	return OpenPools(ctx, dsn, maxConns, DefaultLockConns)
}

// OpenPools is Open with an explicit size for the lock pool: how many
// operations may hold an advisory lock at once in this process. Operations
// beyond that wait for a lock connection, never for a request connection.
func OpenPools(ctx context.Context, dsn string, maxConns, lockConns int32) (*Store, error) {
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
	lockCfg := cfg.Copy()
	lockCfg.MaxConns = max(lockConns, 1)
	lockCfg.MinConns = 0
	locks, err := pgxpool.NewWithConfig(ctx, lockCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to metadata database (lock pool): %w", err)
	}
	return &Store{Queries: queriesOn(pool), Pool: pool, LockPool: locks}, nil
}

// Close closes the pools.
func (s *Store) Close() {
	s.LockPool.Close()
	s.Pool.Close()
}

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
	return fault(pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return fn(queriesOn(tx)) }))
}

// InPgxTx runs fn in a transaction on the pool and also hands it the raw
// transaction, for libraries that take part in it (River's transactional
// job inserts).
func (s *Store) InPgxTx(ctx context.Context, fn func(tx pgx.Tx, q *Queries) error) error {
	return fault(pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return fn(tx, queriesOn(tx)) }))
}

// IsNotFound reports whether err means a query matched no row.
func IsNotFound(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// IsUniqueViolation reports whether err is a unique index refusing a row.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
