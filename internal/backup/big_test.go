package backup

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/cellar"
)

// bigFill fills a tenant's database with one table of rows rows, about 160
// bytes of dump text each, generated on the server.
func bigFill(t testing.TB, tn tenant, rows int) {
	t.Helper()
	ctx := testCtx(t)
	switch tn.engine {
	case cellar.PostgreSQL:
		conn := pgConnect(t, tn.user, tn.password, tn.db)
		for _, s := range []string{
			`CREATE TABLE big (id bigint PRIMARY KEY, name text, payload bytea, note text, n numeric)`,
			`INSERT INTO big SELECT i, 'name ' || i || ' Zoë', decode(md5(i::text) || md5((i * 7)::text), 'hex'),
				repeat(md5(i::text), 2), i * 1.5 FROM generate_series(1, ` + strconv.Itoa(rows) + `) i`,
		} {
			if _, err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	case cellar.MariaDB:
		db := mariaConnect(t, tn.user, tn.password, tn.db)
		for _, s := range []string{
			`SET SESSION max_recursive_iterations = 10000000`,
			`CREATE TABLE big (id BIGINT PRIMARY KEY, name VARCHAR(100), payload BLOB, note TEXT, n DECIMAL(20,2)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
			`INSERT INTO big WITH RECURSIVE seq (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ` + strconv.Itoa(rows) + `)
				SELECT i, CONCAT('name ', i, ' Zoë'), UNHEX(CONCAT(MD5(i), MD5(i * 7))), REPEAT(MD5(i), 2), i * 1.5 FROM seq`,
		} {
			if _, err := db.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
}

// cancelAfter is a writer that cancels a context once limit bytes went
// through, and keeps accepting data.
type cancelAfter struct {
	n, limit int64
	cancel   context.CancelFunc
	at       atomic.Int64 // when it canceled, UnixNano
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.n >= c.limit && c.at.Load() == 0 {
		c.at.Store(time.Now().UnixNano())
		c.cancel()
	}
	return len(p), nil
}

// processGone reports whether neither the process nor anything in its
// process group is left.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) && errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH)
}

// toolPID finds the pid of the one tool started with arg among its
// arguments.
func toolPID(t *testing.T, arg string) int {
	t.Helper()
	cmds := startedWith(arg)
	if len(cmds) != 1 {
		t.Fatalf("%d tools started with %q, want 1", len(cmds), arg)
	}
	return cmds[0].pid
}

func TestDump_CancelKillsTool(t *testing.T) {
	for _, engine := range cellar.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			src := newTenant(t, engine, "bk_cancel")
			bigFill(t, src, 200_000)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			w := &cancelAfter{limit: 1 << 20, cancel: cancel}
			err := (Tools{}).Dump(ctx, engine, admin(t, engine), src.db, w, nil)
			returned := time.Now()
			if err != context.Canceled {
				t.Fatalf("Dump = %v, want context.Canceled", err)
			}
			if w.at.Load() == 0 {
				t.Fatal("the writer never canceled")
			}
			if took := returned.Sub(time.Unix(0, w.at.Load())); took > 5*time.Second {
				t.Errorf("Dump returned %s after the cancellation", took)
			}
			arg := src.db
			if engine == cellar.PostgreSQL {
				arg = "--dbname=" + src.db
			}
			pid := toolPID(t, arg)
			if !processGone(pid) {
				t.Errorf("tool process %d (or its group) still exists after Dump returned", pid)
			}
			t.Logf("canceled after %d bytes; Dump returned %s later; tool %d gone", w.n,
				returned.Sub(time.Unix(0, w.at.Load())).Round(time.Millisecond), pid)

			// The server notices the client is gone and ends its session.
			deadline := time.Now().Add(15 * time.Second)
			for {
				n := dumpSessions(t, engine, src.db)
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%d dump sessions still on the server", n)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// dumpSessions counts the admin's sessions on db other than the asking one
// (the tenant's own session, from bigFill, is still open).
func dumpSessions(t *testing.T, engine cellar.Engine, db string) int {
	t.Helper()
	if engine == cellar.PostgreSQL {
		conn := pgAsAdmin(t, "postgres")
		defer conn.Close(context.Background())
		return int(pgScalar[int64](t, conn, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()`, db))
	}
	d := mariaAsAdmin(t, "")
	defer d.Close()
	return mariaScalar[int](t, d, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ? AND USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND ID <> CONNECTION_ID()`, db)
}

// TestPassword_NeverInArgvOrErrors dumps with each engine and checks every
// tool the tests started: the admin password is in no command line (as
// built, and as /proc shows it to every local user) but in the environment.
func TestPassword_NeverInArgvOrErrors(t *testing.T) {
	t.Run("dump", func(t *testing.T) {
		for _, engine := range cellar.Engines {
			t.Run(string(engine), func(t *testing.T) {
				t.Parallel()
				testPasswordNotInArgv(t, engine)
			})
		}
	})
	t.Run("all tools started", func(t *testing.T) {
		var n int
		for _, cmd := range allStarted() {
			for _, pw := range []string{pgAdmin.Password, mariaAdmin.Password} {
				if pw == "" {
					continue
				}
				if strings.Contains(strings.Join(cmd.args, "\x00"), pw) || strings.Contains(strings.Join(cmd.cmdline, "\x00"), pw) {
					t.Errorf("password in the argv of %q", cmd.args[0])
				}
			}
			var hasPW bool
			for _, e := range cmd.env {
				hasPW = hasPW || strings.HasPrefix(e, "PGPASSWORD=") || strings.HasPrefix(e, "MYSQL_PWD=")
			}
			verify := slices.Contains(cmd.args, "--file=/dev/null")
			if !hasPW && !verify && !strings.Contains(cmd.args[0], "fake") {
				t.Errorf("%q started without a password in its environment", cmd.args)
			}
			n++
		}
		t.Logf("checked %d tool invocations", n)
	})
}

func testPasswordNotInArgv(t *testing.T, engine cellar.Engine) {
	c := admin(t, engine)
	src := newTenant(t, engine, "bk_pw")
	bigFill(t, src, 100_000)
	// Read the command line while the dump runs, from the writer, which
	// is called mid-dump.
	var seen []string
	w := writerFunc(func(p []byte) (int, error) {
		if seen == nil {
			arg := src.db
			if engine == cellar.PostgreSQL {
				arg = "--dbname=" + src.db
			}
			b, err := os.ReadFile("/proc/" + strconv.Itoa(toolPID(t, arg)) + "/cmdline")
			if err != nil {
				t.Errorf("read the running tool's cmdline: %v", err)
			}
			seen = strings.Split(string(b), "\x00")
		}
		return len(p), nil
	})
	if err := (Tools{}).Dump(testCtx(t), engine, c, src.db, w, nil); err != nil {
		t.Fatal(err)
	}
	if len(seen) < 3 {
		t.Fatalf("cmdline of the running tool: %q", seen)
	}
	if strings.Contains(strings.Join(seen, " "), c.Password) {
		t.Errorf("password in the running tool's /proc cmdline %q", seen)
	}
	t.Logf("running tool's argv: %q", seen)

	// A wrong password: the error says so without quoting it.
	bad := c
	bad.Password = "wrong-" + c.Password
	err := (Tools{}).Dump(testCtx(t), engine, bad, src.db, io.Discard, nil)
	if err == nil {
		t.Fatal("Dump with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), c.Password) {
		t.Errorf("error contains the password: %v", err)
	}
	t.Logf("wrong password: %v", err)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
