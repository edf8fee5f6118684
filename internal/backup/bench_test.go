package backup

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/snapstore"

	"github.com/cellar/cellar/internal/cellar"
)

// benchRows makes a database of about 50 MB (see bigFill).
const benchRows = 350_000

// BenchmarkDump compares Dump into a snapstore writer (with its SHA-256 and
// fsync) with the bare tool writing a file, on the same database of about
// 50 MB:
//
//	postgresql: pg_dump -Fc -Z1 -f file
//	mariadb:    mariadb-dump ... | gzip -1 > file
//
// MB/s is of the database's size on the server (the same for both);
// out-MB/s is of the dump written. The "ratio" sub-benchmark alternates one
// run of each per iteration, so that load from elsewhere on the machine
// hits both alike, and reports their median speeds and cellar/bare (the
// target is at least 0.9).
//
//	go test ./internal/backup/ -run '^$' -bench Dump -benchtime 5x
func BenchmarkDump(b *testing.B) {
	for _, engine := range cellar.Engines {
		b.Run(string(engine), func(b *testing.B) {
			src := newTenant(b, engine, "bk_bench")
			bigFill(b, src, benchRows)
			size := dbSize(b, src)
			store := newStore(b)
			file := filepath.Join(b.TempDir(), "dump")
			b.Logf("database %s: %.1f MB on the server", src.db, float64(size)/1e6)
			report := func(b *testing.B, out int64) {
				b.ReportMetric(float64(out)/1e6/(b.Elapsed()/time.Duration(b.N)).Seconds(), "out-MB/s")
				b.ReportMetric(float64(out)/1e6, "dump-MB")
			}
			b.Run("cellar", func(b *testing.B) {
				b.SetBytes(size)
				var out int64
				for b.Loop() {
					out = cellarDump(b, store, src)
				}
				report(b, out)
			})
			b.Run("bare", func(b *testing.B) {
				b.SetBytes(size)
				var out int64
				for b.Loop() {
					out = bareDump(b, engine, src.db, file)
				}
				report(b, out)
			})
			b.Run("ratio", func(b *testing.B) {
				var tc, tb []time.Duration
				timed := func(f func()) time.Duration {
					start := time.Now()
					f()
					return time.Since(start)
				}
				i := 0
				for b.Loop() {
					cellar := func() { tc = append(tc, timed(func() { cellarDump(b, store, src) })) }
					bare := func() { tb = append(tb, timed(func() { bareDump(b, engine, src.db, file) })) }
					if i%2 == 0 {
						cellar()
						bare()
					} else {
						bare()
						cellar()
					}
					i++
				}
				mc, mb := median(tc), median(tb)
				b.ReportMetric(float64(size)/1e6/mc.Seconds(), "cellar-MB/s")
				b.ReportMetric(float64(size)/1e6/mb.Seconds(), "bare-MB/s")
				b.ReportMetric(mb.Seconds()/mc.Seconds(), "ratio")
				b.Logf("%s, %d runs each: cellar median %s (%.1f MB/s), bare median %s (%.1f MB/s), ratio %.2f (target >= 0.9)",
					engine, len(tc), mc.Round(time.Millisecond), float64(size)/1e6/mc.Seconds(),
					mb.Round(time.Millisecond), float64(size)/1e6/mb.Seconds(), mb.Seconds()/mc.Seconds())
			})
		})
	}
}

// cellarDump runs Dump into a new snapstore object, commits it and deletes
// it again, and returns its size.
func cellarDump(b *testing.B, store *snapstore.Local, src tenant) int64 {
	ctx := testCtx(b)
	key := snapKey(src)
	w, err := store.Create(ctx, key)
	if err != nil {
		b.Fatal(err)
	}
	if err := (Tools{}).Dump(ctx, src.engine, admin(b, src.engine), src.db, w, func(int64) {}); err != nil {
		b.Fatal(err)
	}
	out, _, err := w.Commit()
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Delete(ctx, key); err != nil {
		b.Fatal(err)
	}
	return out
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

// dbSize is the database's size on the server.
func dbSize(b *testing.B, tn tenant) int64 {
	if tn.engine == cellar.PostgreSQL {
		conn := pgAsAdmin(b, tn.db)
		var n int64
		if err := conn.QueryRow(testCtx(b), `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	db := mariaAsAdmin(b, tn.db)
	var n int64
	if _, err := db.ExecContext(testCtx(b), `ANALYZE TABLE big`); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRowContext(testCtx(b), `SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// bareDump runs the tool the plain way, to a file, and returns its size.
func bareDump(b *testing.B, engine cellar.Engine, db, file string) int64 {
	ctx := testCtx(b)
	if engine == cellar.PostgreSQL {
		c := pgAdmin
		cmd := exec.CommandContext(ctx, (Tools{}).pgBin("pg_dump"), "-Fc", "-Z1", "-f", file,
			"-h", c.Host, "-p", strconv.Itoa(c.Port), "-U", c.User, "-w", db)
		cmd.Env = childEnv("PGPASSWORD=" + c.Password)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("pg_dump: %v: %s", err, out)
		}
		return fileSize(b, file)
	}
	c := mariaAdmin
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	dump := exec.CommandContext(ctx, DefaultMariaDBDump, "--no-defaults", "-h", c.Host, "-P", strconv.Itoa(c.Port),
		"--protocol=TCP", "-u", c.User, "--single-transaction", "--routines", "--triggers", "--events",
		"--hex-blob", "--default-character-set=utf8mb4", db)
	dump.Env = childEnv("MYSQL_PWD=" + c.Password)
	dump.Stdout = pw
	gz := exec.CommandContext(ctx, "gzip", "-1")
	gz.Stdin = pr
	gz.Stdout = f
	if err := dump.Start(); err != nil {
		b.Fatal(err)
	}
	if err := gz.Start(); err != nil {
		b.Fatal(err)
	}
	pr.Close()
	pw.Close()
	if err := dump.Wait(); err != nil {
		b.Fatalf("mariadb-dump: %v", err)
	}
	if err := gz.Wait(); err != nil {
		b.Fatalf("gzip: %v", err)
	}
	return fileSize(b, file)
}

func fileSize(b *testing.B, file string) int64 {
	fi, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}
