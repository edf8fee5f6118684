package provision

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// sampleOf runs Sample and fails the test on error.
func sampleOf(t *testing.T, ctx context.Context, d Driver, prefix string) ServerSample {
	t.Helper()
	s, err := d.Sample(ctx, prefix)
	if err != nil {
		t.Fatalf("Sample(%q): %v", prefix, err)
	}
	if s.Databases == nil || s.MeasuredAt.IsZero() {
		t.Fatalf("Sample(%q) = %+v: nil map or no time", prefix, s)
	}
	return s
}

// sampleUntil samples until ok accepts a sample (statistics reach the
// server's views with a delay), for up to 20 s, and returns the last one.
func sampleUntil(t *testing.T, ctx context.Context, d Driver, prefix string, ok func(ServerSample) bool) ServerSample {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := sampleOf(t, ctx, d, prefix)
		if ok(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sampleNames returns a sample's database names, sorted.
func sampleNames(s ServerSample) []string {
	return slices.Sorted(maps.Keys(s.Databases))
}

// checkSampleCommon checks what both engines promise: the prefix filters,
// an invalid prefix is refused, and the process figures of a server on this
// host (the harness's servers are its children) are there and plausible.
func checkSampleCommon(t *testing.T, ctx context.Context, d Driver, before, after ServerSample, prefix string, want []string) {
	t.Helper()
	if got := sampleNames(after); !slices.Equal(got, want) {
		t.Errorf("Sample(%q) databases = %v, want %v", prefix, got, want)
	}
	only := sampleOf(t, ctx, d, want[0])
	if got := sampleNames(only); !slices.Equal(got, want[:1]) {
		t.Errorf("Sample(%q) databases = %v, want %v", want[0], got, want[:1])
	}
	if got := sampleNames(sampleOf(t, ctx, d, prefix+"nothing_here")); len(got) != 0 {
		t.Errorf("Sample of an unused prefix = %v, want none", got)
	}
	all := sampleOf(t, ctx, d, "")
	for _, name := range want {
		if _, ok := all.Databases[name]; !ok {
			t.Errorf("Sample(\"\") lacks %s", name)
		}
	}
	if _, err := d.Sample(ctx, "Cust_"); err == nil {
		t.Error("Sample(\"Cust_\") succeeded, want an invalid prefix error")
	}

	for _, s := range []ServerSample{before, after} {
		if s.CPUSeconds == nil || s.MemoryPercent == nil {
			t.Fatalf("process figures of a server on this host are missing: CPU %v, memory %v", s.CPUSeconds, s.MemoryPercent)
		}
		if *s.CPUSeconds <= 0 || !(*s.MemoryPercent > 0 && *s.MemoryPercent < 100) {
			t.Errorf("process figures: %v CPU seconds, %v%% memory; want > 0 and 0..100", *s.CPUSeconds, *s.MemoryPercent)
		}
	}
	t.Logf("process figures: %.2f -> %.2f CPU seconds, %.3f%% -> %.3f%% memory",
		*before.CPUSeconds, *after.CPUSeconds, *before.MemoryPercent, *after.MemoryPercent)
	if *after.CPUSeconds < *before.CPUSeconds {
		t.Errorf("CPU seconds went down from %v to %v", *before.CPUSeconds, *after.CPUSeconds)
	}
	if !after.MeasuredAt.After(before.MeasuredAt) {
		t.Errorf("MeasuredAt did not advance: %v, %v", before.MeasuredAt, after.MeasuredAt)
	}
}

// checkRatio checks that a cache hit ratio, if present, is a percentage.
func checkRatio(t *testing.T, what string, r *float64, required bool) {
	t.Helper()
	switch {
	case r == nil && required:
		t.Errorf("%s cache hit ratio is nil", what)
	case r != nil && !(*r >= 0 && *r <= 100):
		t.Errorf("%s cache hit ratio = %v, want 0..100", what, *r)
	}
}

// TestPostgresSample: a tenant's 20 transactions and 2 MB of data show up
// in its database's figures and not in another's; sessions, the connection
// limit and the cache hit ratio are reported.
func TestPostgresSample(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	// As Cellar names them: the owner is named like its database.
	const a, b, pw, prefix = "cust_smp_a", "cust_smp_b", "pw-sample", "cust_smp_"
	pgCleanup(t, d, []string{a, b}, []string{a, b})
	for _, n := range []string{a, b} {
		must(t, "EnsureUser", d.EnsureUser(ctx, n, pw))
		must(t, "EnsureDatabase", d.EnsureDatabase(ctx, n, n))
	}
	var maxConns int
	var setting string
	must(t, "max_connections", admin.QueryRow(ctx, "SHOW max_connections").Scan(&setting))
	maxConns, _ = strconv.Atoi(setting)

	before := sampleOf(t, ctx, d, prefix)
	a0, b0 := before.Databases[a], before.Databases[b]
	if a0.SizeBytes <= 0 || a0.ActiveConnections != 0 || a0.MaxConnections != maxConns {
		t.Errorf("figures of a new database = %+v, want a size, no sessions, max_connections %d", a0, maxConns)
	}

	c, err := pgLogin(ctx, a, pw, a)
	must(t, "login", err)
	for i := 0; i < 20; i++ {
		_, err := c.Exec(ctx, "SELECT 1")
		must(t, "SELECT 1", err)
	}
	_, err = c.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, pad text)")
	must(t, "create table", err)
	// 2,000 rows of 1 KiB of hex (inline, not compressed): about 2 MB.
	_, err = c.Exec(ctx, "INSERT INTO t SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, 2000) g")
	must(t, "insert", err)
	// A session's statistics reach pg_stat_database when it ends (or when
	// it has been idle a while).
	c.Close(ctx)
	pgLoginN(t, ctx, 3, a, pw, a)
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, a, a, 7))

	after := sampleUntil(t, ctx, d, prefix, func(s ServerSample) bool {
		return s.Databases[a].TotalQueries-a0.TotalQueries >= 20
	})
	a1, b1 := after.Databases[a], after.Databases[b]
	t.Logf("%s: %+v -> %+v", a, a0, a1)
	if got := a1.TotalQueries - a0.TotalQueries; got < 20 {
		t.Errorf("TotalQueries of %s grew by %d after 20 transactions, want >= 20", a, got)
	}
	if got := b1.TotalQueries - b0.TotalQueries; got != 0 {
		t.Errorf("TotalQueries of untouched %s grew by %d", b, got)
	}
	if got := a1.SizeBytes - a0.SizeBytes; got < 2_000_000 {
		t.Errorf("SizeBytes of %s grew by %d after writing 2 MB", a, got)
	}
	if a1.ActiveConnections != 3 || b1.ActiveConnections != 0 {
		t.Errorf("ActiveConnections = %d, %d; want 3, 0", a1.ActiveConnections, b1.ActiveConnections)
	}
	if a1.MaxConnections != 7 || b1.MaxConnections != maxConns {
		t.Errorf("MaxConnections = %d, %d; want 7, %d", a1.MaxConnections, b1.MaxConnections, maxConns)
	}
	checkRatio(t, a, a1.CacheHitRatio, true)
	checkRatio(t, b, b1.CacheHitRatio, false)
	if after.CacheHitRatio != nil {
		t.Errorf("server-wide cache hit ratio on PostgreSQL = %v, want nil", *after.CacheHitRatio)
	}
	checkSampleCommon(t, ctx, d, before, after, prefix, []string{a, b})
	if _, ok := sampleOf(t, ctx, d, "").Databases["template1"]; ok {
		t.Error("Sample(\"\") includes template1")
	}
}

// TestMariaDBSample: as TestPostgresSample, with MariaDB's ways: statements
// are counted per owner (USER_STATISTICS, which Sample turns on), sessions
// by default database or owner, the cache hit ratio is the server's.
func TestMariaDBSample(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	// a's owner is named like it, as in Cellar; b's owner is not, so that
	// the owner has to be found by its grant.
	const a, b, bOwner, pw, prefix = "cust_msmp_a", "cust_msmp_b", "cust_msmp_b_owner", "pw-sample", "cust_msmp_"
	mariaCleanup(t, d, []string{a, b}, []string{a, bOwner})
	must(t, "EnsureUser", d.EnsureUser(ctx, a, pw))
	must(t, "EnsureUser", d.EnsureUser(ctx, bOwner, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, a, a))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, b, bOwner))
	var maxConns int
	must(t, "max_connections", admin.QueryRowContext(ctx, "SELECT @@max_connections").Scan(&maxConns))
	// A session of b's owner without a default database counts for b.
	mariaLoginN(t, ctx, 1, bOwner, pw, "")

	before := sampleOf(t, ctx, d, prefix)
	var userstat int
	must(t, "userstat", admin.QueryRowContext(ctx, "SELECT @@userstat").Scan(&userstat))
	if userstat != 1 {
		t.Errorf("@@userstat = %d after Sample, want 1", userstat)
	}
	a0, b0 := before.Databases[a], before.Databases[b]
	// TotalQueries need not be 0: USER_STATISTICS keeps a dropped user's
	// row, and a user created again under its name carries on counting.
	if a0.SizeBytes != 0 || a0.ActiveConnections != 0 || a0.MaxConnections != maxConns || a0.CacheHitRatio != nil {
		t.Errorf("figures of a new database = %+v, want no size, no sessions, MaxConnections %d", a0, maxConns)
	}

	c := mariaLoginN(t, ctx, 1, a, pw, a)[0]
	for i := 0; i < 20; i++ {
		_, err := c.ExecContext(ctx, "SELECT 1")
		must(t, "SELECT 1", err)
	}
	_, err := c.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY, pad TEXT) ENGINE=InnoDB")
	must(t, "create table", err)
	// 2 x 1,000 rows of 1 KiB of hex: about 2 MB.
	for _, from := range []int{0, 1000} {
		_, err = c.ExecContext(ctx, `INSERT INTO t WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000)
			SELECT n + ?, REPEAT(MD5(n + ?), 32) FROM s`, from, from)
		must(t, "insert", err)
	}
	// InnoDB's DATA_LENGTH comes from index statistics, which the server
	// recalculates in the background some seconds after a table changed
	// by 10%; ANALYZE TABLE recalculates them now.
	_, err = c.ExecContext(ctx, "ANALYZE TABLE t")
	must(t, "analyze", err)
	mariaLoginN(t, ctx, 1, a, pw, a)
	mariaLoginN(t, ctx, 1, a, pw, "") // no default database: still the owner's
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, a, a, 7))

	after := sampleUntil(t, ctx, d, prefix, func(s ServerSample) bool {
		return s.Databases[a].TotalQueries-a0.TotalQueries >= 20
	})
	a1, b1 := after.Databases[a], after.Databases[b]
	t.Logf("%s: %+v -> %+v", a, a0, a1)
	if got := a1.TotalQueries - a0.TotalQueries; got < 20 {
		t.Errorf("TotalQueries of %s grew by %d after 20 statements, want >= 20", a, got)
	}
	if got := b1.TotalQueries - b0.TotalQueries; got != 0 {
		t.Errorf("TotalQueries of untouched %s grew by %d", b, got)
	}
	if got := a1.SizeBytes - a0.SizeBytes; got < 2_000_000 {
		t.Errorf("SizeBytes of %s grew by %d after writing 2 MB", a, got)
	}
	if a1.ActiveConnections != 3 || b1.ActiveConnections != 1 {
		t.Errorf("ActiveConnections = %d, %d; want 3, 1", a1.ActiveConnections, b1.ActiveConnections)
	}
	if a1.MaxConnections != 7 || b1.MaxConnections != maxConns {
		t.Errorf("MaxConnections = %d, %d; want 7, %d", a1.MaxConnections, b1.MaxConnections, maxConns)
	}
	if a1.CacheHitRatio != nil || b1.CacheHitRatio != nil {
		t.Error("per-database cache hit ratio on MariaDB, want nil")
	}
	checkRatio(t, "server", after.CacheHitRatio, true)
	if after.CacheHitRatio != nil {
		t.Logf("InnoDB buffer pool hit ratio: %.2f%%", *after.CacheHitRatio)
	}
	checkSampleCommon(t, ctx, d, before, after, prefix, []string{a, b})
}

// sampleScale creates n databases named cust_bench_NNNN through the driver,
// each with an owner of the same name and (by setup) a small table, n
// concurrent, and drops them all at the end.
func sampleScale(b *testing.B, d Driver, n, workers int, setup func(ctx context.Context, name string) error) {
	b.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("cust_bench_%04d", i)
	}
	run := func(what string, f func(ctx context.Context, name string) error) {
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		work := make(chan string)
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for name := range work {
					if err := f(ctx, name); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("%s %s: %w", what, name, err))
						mu.Unlock()
					}
				}
			})
		}
		for _, name := range names {
			work <- name
		}
		close(work)
		wg.Wait()
		b.Logf("%s %d databases: %v", what, n, time.Since(began).Round(time.Millisecond))
		if len(errs) > 0 {
			b.Fatalf("%s: %d errors, first: %v", what, len(errs), errs[0])
		}
	}
	b.Cleanup(func() {
		run("drop", func(ctx context.Context, name string) error {
			if err := d.DropDatabase(ctx, name); err != nil {
				return err
			}
			return d.DropUser(ctx, name)
		})
	})
	run("create", func(ctx context.Context, name string) error {
		if err := d.EnsureUser(ctx, name, "pw-bench"); err != nil {
			return err
		}
		if err := d.EnsureDatabase(ctx, name, name); err != nil {
			return err
		}
		return setup(ctx, name)
	})
}

// benchSample measures Sample over the benchmark's databases; cold, if
// set, empties the server's caches before the first pass.
func benchSample(b *testing.B, d Driver, n int, cold func(context.Context) error) {
	ctx := context.Background()
	if cold != nil {
		if err := cold(ctx); err != nil {
			b.Fatal(err)
		}
	}
	began := time.Now()
	s, err := d.Sample(ctx, "cust_bench_")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("first pass over %d databases: %v", len(s.Databases), time.Since(began).Round(time.Millisecond))
	if len(s.Databases) != n {
		b.Fatalf("Sample found %d databases, want %d", len(s.Databases), n)
	}
	for b.Loop() {
		if _, err := d.Sample(ctx, "cust_bench_"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCount reads a database count from the environment.
func benchCount(b *testing.B, env string, def int) int {
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 9999 {
			b.Fatalf("%s=%q: want 1..9999", env, v)
		}
		return n
	}
	return def
}

// BenchmarkPostgresSample measures a Sample pass over 300 databases
// (CELLAR_BENCH_PG_DATABASES) with an owner each. Creating them takes a
// while (CREATE DATABASE copies template1):
//
//	go test ./internal/provision/ -run '^$' -bench Sample -benchtime 10x
func BenchmarkPostgresSample(b *testing.B) {
	if pgAdminDSN == "" {
		b.Skip("test PostgreSQL not running")
	}
	n := benchCount(b, "CELLAR_BENCH_PG_DATABASES", 300)
	d, err := OpenPostgres(context.Background(), pgAdminDSN)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	sampleScale(b, d, n, 4, func(context.Context, string) error { return nil })
	benchSample(b, d, n, nil)
}

// BenchmarkMariaDBSample measures a Sample pass over 1,000 databases
// (CELLAR_BENCH_MARIADB_DATABASES) with an owner and one small InnoDB table
// each.
func BenchmarkMariaDBSample(b *testing.B) {
	if mariaAdminDSN == "" {
		b.Skip("test MariaDB not running")
	}
	n := benchCount(b, "CELLAR_BENCH_MARIADB_DATABASES", 1000)
	d, err := OpenMariaDB(context.Background(), mariaAdminDSN)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	sampleScale(b, d, n, 8, func(ctx context.Context, name string) error {
		for _, stmt := range []string{
			"CREATE TABLE IF NOT EXISTS " + mariaQuote(name) + ".t (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB",
			"REPLACE INTO " + mariaQuote(name) + ".t VALUES (1, 'x')",
		} {
			if _, err := d.db.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	// The first pass opens every table, as after a restart.
	benchSample(b, d, n, func(ctx context.Context) error {
		_, err := d.db.ExecContext(ctx, "FLUSH TABLES")
		return err
	})
}
