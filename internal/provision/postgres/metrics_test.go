package postgres

import (
	"context"
	"strconv"
	"testing"

	"github.com/cellar/cellar/internal/provision/provisiontest"

	"github.com/cellar/cellar/internal/provision"
)

// The shared Sample checks, under the names the tests use.
var (
	sampleOf          = provisiontest.SampleOf
	sampleUntil       = provisiontest.SampleUntil
	checkSampleCommon = provisiontest.CheckSampleCommon
	checkRatio        = provisiontest.CheckRatio
)

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

	after := sampleUntil(t, ctx, d, prefix, func(s provision.ServerSample) bool {
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

// BenchmarkPostgresSample measures a Sample pass over 300 databases
// (CELLAR_BENCH_PG_DATABASES) with an owner each. Creating them takes a
// while (CREATE DATABASE copies template1):
//
//	go test ./internal/provision/postgres -run '^$' -bench Sample -benchtime 10x
func BenchmarkPostgresSample(b *testing.B) {
	if pgAdminDSN == "" {
		b.Skip("test PostgreSQL not running")
	}
	n := provisiontest.BenchCount(b, "CELLAR_BENCH_PG_DATABASES", 300)
	d, err := Open(context.Background(), pgAdminDSN)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	provisiontest.SampleScale(b, d, n, 4, func(context.Context, string) error { return nil })
	provisiontest.BenchSample(b, d, n, nil)
}
