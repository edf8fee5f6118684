package mariadb

import (
	"context"
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

	after := sampleUntil(t, ctx, d, prefix, func(s provision.ServerSample) bool {
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

// BenchmarkMariaDBSample measures a Sample pass over 1,000 databases
// (CELLAR_BENCH_MARIADB_DATABASES) with an owner and one small InnoDB table
// each.
func BenchmarkMariaDBSample(b *testing.B) {
	if mariaAdminDSN == "" {
		b.Skip("test MariaDB not running")
	}
	n := provisiontest.BenchCount(b, "CELLAR_BENCH_MARIADB_DATABASES", 1000)
	d, err := Open(context.Background(), mariaAdminDSN)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	provisiontest.SampleScale(b, d, n, 8, func(ctx context.Context, name string) error {
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
	provisiontest.BenchSample(b, d, n, func(ctx context.Context) error {
		_, err := d.db.ExecContext(ctx, "FLUSH TABLES")
		return err
	})
}
