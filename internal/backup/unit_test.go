package backup

// Tests that need no database server: fake tools (shell scripts standing in
// for pg_dump, pg_restore and the MariaDB tools), the DEFINER rewrite, and
// the small helpers.

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cellar/cellar/internal/cellar"
)

const fakePassword = "s3cret-Pa55word-xyz"

var fakeConn = Conn{Host: "127.0.0.1", Port: 5432, User: "admin", Password: fakePassword}

// fakeTools writes shell scripts named like the real tools into a temporary
// directory ("fake" in its path marks them for the argv check) and returns
// Tools that use them.
func fakeTools(t *testing.T, scripts map[string]string) Tools {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fake")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Tools{PGBinDir: dir, MariaDBDump: filepath.Join(dir, "mariadb-dump"), MariaDB: filepath.Join(dir, "mariadb")}
}

func TestFake_DumpStreamsAndReportsProgress(t *testing.T) {
	tools := fakeTools(t, map[string]string{
		// 3 MB in pieces, with pauses so progress is reported in between.
		"pg_dump": `printf PGDMP; for i in 1 2 3; do head -c 1048576 /dev/zero | tr '\0' x; sleep 0.3; done`,
	})
	var buf bytes.Buffer
	var reports []int64
	if err := tools.Dump(context.Background(), cellar.PostgreSQL, fakeConn, "db", &buf, func(n int64) { reports = append(reports, n) }); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 5+3<<20 || !bytes.HasPrefix(buf.Bytes(), []byte("PGDMP")) {
		t.Fatalf("dump is %d bytes", buf.Len())
	}
	if len(reports) < 2 || len(reports) > 8 || !slices.IsSorted(reports) || reports[len(reports)-1] != int64(buf.Len()) {
		t.Fatalf("progress reports %v: want a few, ascending, ending at %d", reports, buf.Len())
	}
}

func TestFake_FailingToolReportsStderrWithoutPassword(t *testing.T) {
	tools := fakeTools(t, map[string]string{
		// Output first, then failure: Dump must not succeed.
		"pg_dump": `printf PGDMP-partial; echo "pg_dump: error: boom (password was $PGPASSWORD)" >&2; exit 3`,
	})
	var buf bytes.Buffer
	err := tools.Dump(context.Background(), cellar.PostgreSQL, fakeConn, "db", &buf, nil)
	var te *ToolError
	if !errors.As(err, &te) {
		t.Fatalf("Dump = %v, want a *ToolError", err)
	}
	if te.Tool != "pg_dump" || !strings.Contains(te.Stderr, "pg_dump: error: boom") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error %q", err)
	}
	if strings.Contains(err.Error(), fakePassword) || !strings.Contains(err.Error(), "[password]") {
		t.Errorf("password not scrubbed: %q", err)
	}
}

func TestFake_StderrTailIsBounded(t *testing.T) {
	tools := fakeTools(t, map[string]string{
		"pg_dump": `i=0; while [ $i -lt 3000 ]; do echo "noise line $i $PGPASSWORD" >&2; i=$((i+1)); done; echo "pg_dump: error: the real reason" >&2; exit 1`,
	})
	err := tools.Dump(context.Background(), cellar.PostgreSQL, fakeConn, "db", io.Discard, nil)
	var te *ToolError
	if !errors.As(err, &te) {
		t.Fatalf("Dump = %v", err)
	}
	if len(te.Stderr) > stderrTail+3 || !strings.HasSuffix(te.Stderr, "pg_dump: error: the real reason") || !strings.HasPrefix(te.Stderr, "...noise line") {
		t.Errorf("stderr tail (%d bytes) = %q...%q", len(te.Stderr), te.Stderr[:40], te.Stderr[len(te.Stderr)-40:])
	}
	if strings.Contains(te.Stderr, fakePassword[:8]) && !strings.Contains(te.Stderr, "[password]") {
		t.Error("password fragment in stderr")
	}
	if strings.Contains(te.Stderr, fakePassword) {
		t.Error("password in stderr")
	}
}

func TestFake_ArgvAndEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "seen")
	tools := fakeTools(t, map[string]string{
		"pg_dump":      `for a in "$@"; do echo "arg $a"; done > ` + out + `.pg; env > ` + out + `.pgenv; printf PGDMP`,
		"mariadb-dump": `for a in "$@"; do echo "arg $a"; done > ` + out + `.m; env > ` + out + `.menv; printf -- '-- MariaDB dump\n-- Dump completed on x\n'`,
	})
	t.Setenv("PGHOST", "evil.example")
	t.Setenv("PGSERVICE", "evil")
	t.Setenv("MYSQL_HOST", "evil.example")
	for _, engine := range cellar.Engines {
		if err := tools.Dump(context.Background(), engine, fakeConn, "cust_db", io.Discard, nil); err != nil {
			t.Fatalf("%s: %v", engine, err)
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	pgArgs, mArgs := read(out+".pg"), read(out+".m")
	for _, want := range []string{"arg --format=custom", "arg --compress=1", "arg --dbname=cust_db", "arg --no-password", "arg --username=admin"} {
		if !strings.Contains(pgArgs, want+"\n") {
			t.Errorf("pg_dump args lack %q:\n%s", want, pgArgs)
		}
	}
	if !strings.HasPrefix(mArgs, "arg --no-defaults\n") || !strings.HasSuffix(mArgs, "arg cust_db\n") {
		t.Errorf("mariadb-dump args must start with --no-defaults and end with the database:\n%s", mArgs)
	}
	for _, want := range []string{"--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", "--default-character-set=utf8mb4"} {
		if !strings.Contains(mArgs, "arg "+want+"\n") {
			t.Errorf("mariadb-dump args lack %q", want)
		}
	}
	for _, bad := range []string{"--databases", "--all-databases", "-p", "--password"} {
		if strings.Contains(mArgs, "arg "+bad+"\n") || strings.Contains(mArgs, "arg "+bad+"=") {
			t.Errorf("mariadb-dump args have %q", bad)
		}
	}
	if strings.Contains(pgArgs+mArgs, fakePassword) {
		t.Error("password on a command line")
	}
	pgEnv, mEnv := read(out+".pgenv"), read(out+".menv")
	if !strings.Contains(pgEnv, "PGPASSWORD="+fakePassword+"\n") || !strings.Contains(mEnv, "MYSQL_PWD="+fakePassword+"\n") {
		t.Error("password not in the environment")
	}
	for _, env := range []string{pgEnv, mEnv} {
		if strings.Contains(env, "evil") {
			t.Errorf("Cellar's PG*/MYSQL_* variables reached the tool:\n%s", env)
		}
	}
}

func TestFake_WriterFailureKillsTool(t *testing.T) {
	tools := fakeTools(t, map[string]string{"pg_dump": `exec yes`})
	boom := errors.New("disk full")
	var n int
	w := writerFunc(func(p []byte) (int, error) {
		n += len(p)
		if n > 1<<20 {
			return 0, boom
		}
		return len(p), nil
	})
	start := time.Now()
	err := tools.Dump(context.Background(), cellar.PostgreSQL, fakeConn, "db", w, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("Dump = %v, want the write error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

func TestFake_CancelKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	tools := fakeTools(t, map[string]string{
		// A child of the tool, as a tool with worker processes would have.
		"pg_dump": `sleep 60 & echo $! > ` + pidFile + `; printf PGDMP; wait`,
	})
	ctx, cancel := context.WithCancel(context.Background())
	w := writerFunc(func(p []byte) (int, error) {
		cancel() // after the first output: the child is running
		return len(p), nil
	})
	start := time.Now()
	err := tools.Dump(ctx, cellar.PostgreSQL, fakeConn, "db", w, nil)
	if err != context.Canceled {
		t.Fatalf("Dump = %v, want context.Canceled", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(child) {
		if time.Now().After(deadline) {
			t.Fatalf("the tool's child %d survived", child)
		}
		time.Sleep(20 * time.Millisecond) // a zombie until init reaps it
	}
}

func TestFake_MariaDBDumpWithoutTrailerFails(t *testing.T) {
	tools := fakeTools(t, map[string]string{
		"mariadb-dump": `printf -- '-- MariaDB dump\nCREATE TABLE t (i int);\n'`,
	})
	err := tools.Dump(context.Background(), cellar.MariaDB, fakeConn, "db", io.Discard, nil)
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Dump = %v, want ErrIncomplete", err)
	}
}

func TestFake_MariaDBDumpIsGzip(t *testing.T) {
	script := "-- MariaDB dump 10.19\nCREATE TABLE t (i int);\n-- Dump completed on 2026-11-24 10:03:30\n"
	tools := fakeTools(t, map[string]string{"mariadb-dump": `printf -- '` + script + `'`})
	var buf bytes.Buffer
	if err := tools.Dump(context.Background(), cellar.MariaDB, fakeConn, "db", &buf, nil); err != nil {
		t.Fatal(err)
	}
	if got := gunzip(t, &buf); string(got) != script {
		t.Fatalf("gunzipped %q", got)
	}
}

// fakeMariaClient answers Restore's queries as a server would for an empty
// database, to a session of newowner@host, and otherwise copies its
// input to out, then marks out.done: a client killed before the end of its
// input never writes the mark.
func fakeMariaClient(out, host string) string {
	return `for a in "$@"; do
  case "$a" in
    --execute=*SCHEMATA*) printf '1\t0\t%s\n' 'newowner@` + host + `'; exit 0;;
    --execute=*) exit 0;;
  esac
done
cat > ` + out + ` && touch ` + out + `.done`
}

func TestFake_MariaDBRestoreRewritesDefiners(t *testing.T) {
	out := filepath.Join(t.TempDir(), "in.sql")
	tools := fakeTools(t, map[string]string{"mariadb": fakeMariaClient(out, "%")})
	script := "-- MariaDB dump 10.19\n" +
		"/*!50013 DEFINER=`old`@`%` SQL SECURITY DEFINER */\n" +
		"INSERT INTO `t` VALUES\n(1,'DEFINER=`old`@`%`');\n" +
		"-- Dump completed on 2026-11-24\n"
	if err := tools.Restore(context.Background(), cellar.MariaDB, fakeConn, "newdb", "newowner", bytes.NewReader(gzipBytes([]byte(script)))); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want := strings.Replace(script, "DEFINER=`old`@`%` SQL", "DEFINER=`newowner`@`%` SQL", 1)
	if string(got) != want {
		t.Fatalf("client got:\n%s\nwant:\n%s", got, want)
	}
}

func TestFake_RestoreReadErrorKillsClientBeforeEOF(t *testing.T) {
	out := filepath.Join(t.TempDir(), "in.sql")
	tools := fakeTools(t, map[string]string{
		"mariadb":    fakeMariaClient(out, "%"),
		"pg_restore": `cat > ` + out + `.pg && touch ` + out + `.pg.done`,
	})
	var script bytes.Buffer
	script.WriteString("-- MariaDB dump\n")
	for i := range 100000 {
		fmt.Fprintf(&script, "INSERT INTO t VALUES (%d);\n", i)
	}
	script.WriteString("-- Dump completed\n")
	gz := gzipBytes(script.Bytes())
	boom := errors.New("network went away")
	for _, tc := range []struct {
		engine cellar.Engine
		data   []byte
		done   string
	}{
		{cellar.MariaDB, gz, out + ".done"},
		{cellar.PostgreSQL, script.Bytes(), out + ".pg.done"},
	} {
		r := io.MultiReader(bytes.NewReader(tc.data[:len(tc.data)/2]), iotest.ErrReader(boom))
		err := tools.Restore(context.Background(), tc.engine, fakeConn, "newdb", "newowner", r)
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "read dump:") {
			t.Errorf("%s: Restore = %v, want the read error", tc.engine, err)
		}
		if _, err := os.Stat(tc.done); err == nil {
			t.Errorf("%s: the tool saw the end of its input and finished", tc.engine)
		}
	}
}

func TestFake_MariaDBRestoreIncompleteScriptKillsClient(t *testing.T) {
	out := filepath.Join(t.TempDir(), "in.sql")
	tools := fakeTools(t, map[string]string{"mariadb": fakeMariaClient(out, "%")})
	// A valid gzip stream of a script cut short in the middle of a
	// statement: the client must never see EOF, or it would run the
	// fragment.
	script := "-- MariaDB dump\nINSERT INTO t VALUES (1),(2"
	err := tools.Restore(context.Background(), cellar.MariaDB, fakeConn, "newdb", "newowner", bytes.NewReader(gzipBytes([]byte(script))))
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Restore = %v, want ErrIncomplete", err)
	}
	if _, err := os.Stat(out + ".done"); err == nil {
		t.Error("the client saw the end of its input")
	}
}

func TestDefinerRewriter(t *testing.T) {
	const acct = "`new_owner`@`%`"
	long := strings.Repeat("x", 200_000)
	for _, tc := range []struct{ name, in, want string }{
		{"view", "/*!50013 DEFINER=`old`@`%` SQL SECURITY DEFINER */\n", "/*!50013 DEFINER=" + acct + " SQL SECURITY DEFINER */\n"},
		{"view invoker", "/*!50013 DEFINER=`old`@`10.0.0.0/255.0.0.0` SQL SECURITY INVOKER */\n", "/*!50013 DEFINER=" + acct + " SQL SECURITY INVOKER */\n"},
		{"trigger", "/*!50003 CREATE*/ /*!50017 DEFINER=`old`@`%`*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.v = 1 \n",
			"/*!50003 CREATE*/ /*!50017 DEFINER=" + acct + "*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.v = 1 \n"},
		{"event", "/*!50106 CREATE*/ /*!50117 DEFINER=`old`@`%`*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */ ;;\n",
			"/*!50106 CREATE*/ /*!50117 DEFINER=" + acct + "*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */ ;;\n"},
		{"procedure", "CREATE DEFINER=`old`@`%` PROCEDURE `p`()\n", "CREATE DEFINER=" + acct + " PROCEDURE `p`()\n"},
		{"function", "CREATE DEFINER=`old`@`localhost` FUNCTION `f`(x INT) RETURNS int(11)\n", "CREATE DEFINER=" + acct + " FUNCTION `f`(x INT) RETURNS int(11)\n"},
		{"mysql routine", "/*!50003 CREATE*/ /*!50020 DEFINER=`old`@`%`*/ /*!50003 PROCEDURE `p`()\n", "/*!50003 CREATE*/ /*!50020 DEFINER=" + acct + "*/ /*!50003 PROCEDURE `p`()\n"},
		{"quoted backtick", "/*!50013 DEFINER=`o``ld`@`%` SQL SECURITY DEFINER */\n", "/*!50013 DEFINER=" + acct + " SQL SECURITY DEFINER */\n"},
		{"single quotes", "CREATE DEFINER='old'@'%' PROCEDURE `p`()\n", "CREATE DEFINER=" + acct + " PROCEDURE `p`()\n"},
		{"role", "CREATE DEFINER=`some_role` PROCEDURE `p`()\n", "CREATE DEFINER=" + acct + " PROCEDURE `p`()\n"},
		{"admin definer", "/*!50013 DEFINER=`cellar_admin`@`127.0.0.1` SQL SECURITY DEFINER */\n", "/*!50013 DEFINER=" + acct + " SQL SECURITY DEFINER */\n"},
		{"no newline at end", "CREATE DEFINER=`old`@`%` PROCEDURE `p`()", "CREATE DEFINER=" + acct + " PROCEDURE `p`()"},
		{"long view line", "/*!50013 DEFINER=`old`@`%` SQL SECURITY DEFINER */ " + long + "\n", "/*!50013 DEFINER=" + acct + " SQL SECURITY DEFINER */ " + long + "\n"},
		// Data and anything not at the start of a line is left alone.
		{"row", "(1,'DEFINER=`root`@`localhost`'),\n", "(1,'DEFINER=`root`@`localhost`'),\n"},
		{"insert", "INSERT INTO `t` VALUES (1,'CREATE DEFINER=`root`@`%` PROCEDURE');\n", "INSERT INTO `t` VALUES (1,'CREATE DEFINER=`root`@`%` PROCEDURE');\n"},
		{"mid line", "SELECT 1; /*!50013 DEFINER=`old`@`%` SQL SECURITY DEFINER */\n", "SELECT 1; /*!50013 DEFINER=`old`@`%` SQL SECURITY DEFINER */\n"},
		{"long row then clause", "(" + long + ")\n/*!50013 DEFINER=`old`@`%` SQL SECURITY DEFINER */\n", "(" + long + ")\n/*!50013 DEFINER=" + acct + " SQL SECURITY DEFINER */\n"},
		{"clause past a chunk boundary", long + "/*!50013 DEFINER=`old`@`%` SQL SECURITY DEFINER */\n", long + "/*!50013 DEFINER=`old`@`%` SQL SECURITY DEFINER */\n"},
		{"comment", "-- DEFINER=`old`@`%`\n", "-- DEFINER=`old`@`%`\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := "-- MariaDB dump\n" + tc.in + "\n-- Dump completed on 2026\n"
			want := "-- MariaDB dump\n" + tc.want + "\n-- Dump completed on 2026\n"
			for _, r := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r },
				iotest.OneByteReader,
				iotest.HalfReader,
			} {
				got, err := io.ReadAll(newDefinerRewriter(r(strings.NewReader(in)), acct))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != want {
					t.Fatalf("got  %.300q\nwant %.300q", got, want)
				}
			}
		})
	}
}

func TestDefinerRewriter_ChecksEnds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"-- MariaDB dump\nSELECT 1;\n-- Dump completed on 2026-01-01 00:00:00", nil},
		{"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n-- Dump completed on 2026\n\n", nil},
		{"-- MariaDB dump\nSELECT 1;\n", ErrIncomplete},
		{"-- MariaDB dump\nSELECT '-- Dump completed';\nINSERT", ErrIncomplete},
		{"SELECT 1;\n-- Dump completed\n", nil}, // any other error
		{"", nil},
	} {
		_, err := io.ReadAll(newDefinerRewriter(strings.NewReader(tc.in), "`a`@`%`"))
		switch {
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%q: %v, want %v", tc.in, err, tc.want)
		case tc.want == nil && strings.Contains(tc.in, "MariaDB dump") && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.want == nil && !strings.Contains(tc.in, "MariaDB dump") && err == nil:
			t.Errorf("%q: accepted a script without a header", tc.in)
		}
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	tools := fakeTools(t, map[string]string{"pg_dump": "exit 0", "mariadb-dump": "exit 0"})
	for _, c := range []Conn{
		{Host: "", Port: 1, User: "u"},
		{Host: "h", Port: 0, User: "u"},
		{Host: "h", Port: 70000, User: "u"},
		{Host: "h", Port: 1, User: ""},
		{Host: "-oProxyCommand=x", Port: 1, User: "u"},
		{Host: "h h", Port: 1, User: "u"},
		{Host: "h", Port: 1, User: "--help"},
		{Host: "h", Port: 1, User: "u", Password: "a\x00b"},
	} {
		err := tools.Dump(ctx, cellar.PostgreSQL, c, "db", io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), "connection:") {
			t.Errorf("Dump with %+v: %v", c, err)
		}
		if err != nil && c.Password != "" && strings.Contains(err.Error(), c.Password) {
			t.Errorf("error quotes the password: %v", err)
		}
	}
	for _, db := range []string{"", "Upper", "a-b", "a;b", "--all-databases", "x=y", strings.Repeat("a", 64)} {
		if err := tools.Dump(ctx, cellar.MariaDB, fakeConn, db, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "invalid identifier") {
			t.Errorf("Dump of database %q: %v", db, err)
		}
	}
	for _, engine := range []cellar.Engine{"", "mysql", "postgres", "PostgreSQL"} {
		if err := tools.Dump(ctx, engine, fakeConn, "db", io.Discard, nil); !errors.Is(err, ErrUnknownEngine) {
			t.Errorf("Dump with engine %q: %v", engine, err)
		}
		if err := tools.Restore(ctx, engine, fakeConn, "db", "o", strings.NewReader("")); !errors.Is(err, ErrUnknownEngine) {
			t.Errorf("Restore with engine %q: %v", engine, err)
		}
		if err := tools.Verify(ctx, engine, strings.NewReader("")); !errors.Is(err, ErrUnknownEngine) {
			t.Errorf("Verify with engine %q: %v", engine, err)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := tools.Dump(canceled, cellar.PostgreSQL, fakeConn, "db", io.Discard, nil); err != context.Canceled {
		t.Errorf("Dump on a canceled context: %v", err)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 10}
	b.Write([]byte("0123"))
	b.Write([]byte("456789ab"))
	if got := b.String(); got != "23456789ab" {
		t.Fatalf("%q", got)
	}
	b.Write([]byte("0123456789ABCDEF"))
	if got := b.String(); got != "6789ABCDEF" {
		t.Fatalf("%q", got)
	}
}

func TestProgressWriterThrottles(t *testing.T) {
	var calls []int64
	pw := &progressWriter{w: io.Discard, fn: func(n int64) { calls = append(calls, n) }}
	for range 1000 {
		pw.Write(make([]byte, 10))
	}
	pw.flush()
	if !slices.Equal(calls, []int64{10, 10000}) {
		t.Fatalf("calls %v: want the first write and the final total", calls)
	}
}

func TestVerify_MariaDB_Unit(t *testing.T) {
	good := gzipBytes([]byte("-- MariaDB dump\nSELECT 1;\n-- Dump completed on 2026\n"))
	if err := verifyMariaDB(context.Background(), bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	// Two gzip members are one stream, as gzip(1) reads them.
	var multi bytes.Buffer
	zw := gzip.NewWriter(&multi)
	zw.Write([]byte("-- MariaDB dump\nSELECT 1;\n"))
	zw.Close()
	zw = gzip.NewWriter(&multi)
	zw.Write([]byte("-- Dump completed\n"))
	zw.Close()
	if err := verifyMariaDB(context.Background(), &multi); err != nil {
		t.Fatal(err)
	}
}

func TestFake_MariaDBRestoreRefusesNonDump(t *testing.T) {
	out := filepath.Join(t.TempDir(), "in.sql")
	tools := fakeTools(t, map[string]string{"mariadb": fakeMariaClient(out, "%")})
	script := "DROP TABLE important;\n-- Dump completed\n"
	err := tools.Restore(context.Background(), cellar.MariaDB, fakeConn, "newdb", "newowner", bytes.NewReader(gzipBytes([]byte(script))))
	if err == nil || !strings.Contains(err.Error(), "not a mariadb-dump script") {
		t.Fatalf("Restore = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(out); len(b) != 0 {
		t.Errorf("the client received %q", b)
	}
}
