package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Lock is a PostgreSQL session advisory lock held on a dedicated connection
// of the lock pool. Holding it grants the exclusive right to change one
// resource, across every Cellar process sharing the metadata database. If
// the process dies, the session ends and the lock is released with it.
//
// Nobody holds a connection while waiting for a lock: a waiter tries
// (pg_try_advisory_lock), gives the connection back when the lock is taken,
// and tries again after a backoff. A blocking pg_advisory_lock would park
// one connection per waiter, and a few dozen slow operations on one
// customer's databases would then drain the pool everyone authenticates
// with.
type Lock struct {
	conn *pgxpool.Conn
	keys []int64
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

// Backoff between tries for a lock that is taken: short at first (most
// operations take well under a second), doubling up to a ceiling that keeps
// a waiter's extra latency after the release small. Jitter keeps waiters
// from trying in lockstep.
const (
	lockRetryFirst   = 5 * time.Millisecond
	lockRetryCeiling = 250 * time.Millisecond
)

// lockBackoff returns the pause before try n (0-based).
func lockBackoff(n int) time.Duration {
	d := lockRetryFirst << min(n, 10)
	d = min(d, lockRetryCeiling)
	return d/2 + rand.N(d/2+1)
}

// Lock waits for the advisory lock on resource, holding no connection
// while it waits (see Lock).
func (s *Store) Lock(ctx context.Context, resource string) (*Lock, error) {
	for n := 0; ; n++ {
		lk, ok, err := s.TryLock(ctx, resource)
		if err != nil || ok {
			return lk, err
		}
		if err := sleep(ctx, lockBackoff(n)); err != nil {
			return nil, fmt.Errorf("wait for lock on %s: %w", resource, err)
		}
	}
}

// TryLock takes the advisory lock on resource if it is free. A lock that is
// taken gives its connection straight back to the lock pool.
func (s *Store) TryLock(ctx context.Context, resource string) (*Lock, bool, error) {
	conn, err := s.LockPool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("acquire connection for lock: %w", fault(err))
	}
	key := LockKey(resource)
	ok, err := tryAdvisory(ctx, conn, key)
	if err != nil {
		conn.Conn().Close(context.Background())
		conn.Release()
		return nil, false, fmt.Errorf("try lock on %s: %w", resource, fault(err))
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return &Lock{conn: conn, keys: []int64{key}, Queries: queriesOn(conn)}, true, nil
}

// Also takes a second lock, on resource, on the holder's own connection, and
// keeps it until Release. It waits like Store.Lock but needs no further
// connection, so holders that all need a second lock (say, every create that
// rewrites access rules) cannot starve each other of lock connections.
func (l *Lock) Also(ctx context.Context, resource string) error {
	key := LockKey(resource)
	for n := 0; ; n++ {
		ok, err := tryAdvisory(ctx, l.conn, key)
		if err != nil {
			return fmt.Errorf("try lock on %s: %w", resource, fault(err))
		}
		if ok {
			l.keys = append(l.keys, key)
			return nil
		}
		if err := sleep(ctx, lockBackoff(n)); err != nil {
			return fmt.Errorf("wait for lock on %s: %w", resource, err)
		}
	}
}

// Drop gives back a lock taken with Also before the holder releases the
// rest; if unlocking fails the key stays on the list and Release retries.
func (l *Lock) Drop(resource string) {
	key := LockKey(resource)
	for i := len(l.keys) - 1; i > 0; i-- {
		if l.keys[i] != key {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err == nil {
			l.keys = append(l.keys[:i], l.keys[i+1:]...)
		}
		return
	}
}

func tryAdvisory(ctx context.Context, conn *pgxpool.Conn, key int64) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok)
	return ok, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// InTx runs fn in a transaction on the lock's connection.
func (l *Lock) InTx(ctx context.Context, fn func(q *Queries) error) error {
	return fault(pgx.BeginFunc(ctx, l.conn, func(tx pgx.Tx) error { return fn(queriesOn(tx)) }))
}

// Release gives the lock back. It must run even when the request's context
// is already cancelled, so it uses its own short deadline; if unlocking
// fails the connection is closed, which releases the lock just the same.
// pg_advisory_unlock_all also drops the locks taken with Also.
func (l *Lock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
		l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}
