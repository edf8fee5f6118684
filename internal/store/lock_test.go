package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/store"
	"github.com/cellar/cellar/internal/store/storetest"
)

// openStore opens a Store with the given pool sizes on a database of its
// own on the package's shared PostgreSQL (advisory locks are per database,
// so tests do not see each other's locks).
func openStore(t *testing.T, conns, lockConns int32) *store.Store {
	t.Helper()
	return storetest.FreshStore(t, conns, lockConns)
}

// TestLock_WaitersHoldNoConnection: while one holder keeps a lock, twenty
// waiters for it hold no request connection (reads go on, on a request pool
// of two) and no lock connection between tries (a lock pool of two is
// enough for all of them); when the holder lets go, every waiter gets the
// lock in turn. Waiting with a blocking pg_advisory_lock on the request pool,
// as before, would have parked all twenty on the request pool.
func TestLock_WaitersHoldNoConnection(t *testing.T) {
	st := openStore(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	holder, err := st.Lock(ctx, "database/x")
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 20
	var got atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lk, err := st.Lock(ctx, "database/x")
			if err != nil {
				t.Error(err)
				return
			}
			got.Add(1)
			lk.Release()
		}()
	}
	// While they wait: reads on the request pool are served, and the
	// request pool is untouched by the waiters.
	for i := 0; i < 50; i++ {
		var one int
		if err := st.Pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("read while others wait for a lock: %v", err)
		}
		if n := st.Pool.Stat().AcquiredConns(); n != 0 {
			t.Fatalf("request pool: %d connections in use by lock waiters", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := got.Load(); n != 0 {
		t.Fatalf("%d waiters got a held lock", n)
	}
	holder.Release()
	wg.Wait()
	if n := got.Load(); n != waiters {
		t.Fatalf("%d of %d waiters got the lock", n, waiters)
	}
	t.Logf("lock pool: %d empty acquires (waits for a lock connection) over %d waiters",
		st.LockPool.Stat().EmptyAcquireCount(), waiters)
}

// TestLock_AlsoUsesTheHoldersConnection: holders of distinct locks that all
// need one shared second lock finish with a lock pool exactly as large as
// the number of holders: the second lock is taken on each holder's own
// connection, so none waits for a connection another holder keeps.
func TestLock_AlsoUsesTheHoldersConnection(t *testing.T) {
	const holders = 3
	st := openStore(t, 2, holders)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var locks []*store.Lock
	for i := 0; i < holders; i++ {
		lk, err := st.Lock(ctx, "database/"+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		locks = append(locks, lk)
	}
	var inside atomic.Int32
	var wg sync.WaitGroup
	for _, lk := range locks {
		wg.Add(1)
		go func(lk *store.Lock) {
			defer wg.Done()
			defer lk.Release()
			if err := lk.Also(ctx, "access"); err != nil {
				t.Error(err)
				return
			}
			if n := inside.Add(1); n != 1 {
				t.Errorf("%d holders inside the shared lock at once", n)
			}
			time.Sleep(20 * time.Millisecond)
			inside.Add(-1)
			lk.Drop("access")
		}(lk)
	}
	wg.Wait()
	// Everything was given back: the shared lock is free for a newcomer.
	lk, ok, err := st.TryLock(ctx, "access")
	if err != nil || !ok {
		t.Fatalf("TryLock(access) after all holders released: ok=%v err=%v", ok, err)
	}
	lk.Release()
}
