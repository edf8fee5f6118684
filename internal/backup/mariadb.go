package backup

// mariadb.go: mariadb-dump, gzip, and the mariadb client.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/cellar/cellar/internal/provision"
)

// maxAllowedPacket is the client-side limit on one row (dump) or statement
// (restore): 1 GiB, MariaDB's maximum. The server's own max_allowed_packet
// still applies on restore; it accepted the row once, when it was written.
const maxAllowedPacket = "--max-allowed-packet=1073741824"

// mariaConnArgs are the connection options of every MariaDB tool. They must
// follow --no-defaults, which keeps option files (/etc/mysql/my.cnf,
// ~/.my.cnf) from adding a password, a host or anything else.
func mariaConnArgs(c Conn) []string {
	if strings.HasPrefix(c.Host, "/") {
		return []string{"--socket=" + c.Host, "--protocol=SOCKET", "--user=" + c.User}
	}
	return []string{
		"--host=" + c.Host,
		"--port=" + strconv.Itoa(c.Port),
		"--protocol=TCP",
		"--user=" + c.User,
	}
}

// mariaEnv passes the password. MYSQL_PWD is read by MariaDB's client
// library when no --password option is given.
func mariaEnv(c Conn) []string {
	return []string{"MYSQL_PWD=" + c.Password}
}

func (t Tools) dumpMariaDB(ctx context.Context, c Conn, database string, w io.Writer, progress func(int64)) error {
	args := append([]string{"--no-defaults"}, mariaConnArgs(c)...)
	args = append(args,
		// One REPEATABLE READ transaction: a consistent snapshot of InnoDB
		// tables without locking them (it implies --skip-lock-tables).
		"--single-transaction",
		"--routines", "--triggers", "--events",
		// Binary columns as 0x... literals: immune to character set
		// conversion on the way back in.
		"--hex-blob",
		"--default-character-set=utf8mb4",
		maxAllowedPacket,
		// The database as a single argument without --databases: no
		// CREATE DATABASE and no USE, so the dump loads into any database.
		database,
	)
	p := command(ctx, toolSpec{
		name: "mariadb-dump", path: t.mariaDBDump(), args: args, env: mariaEnv(c), secret: c.Password,
	})
	stdout, err := p.stdoutPipe()
	if err != nil {
		return fmt.Errorf("dump mariadb database %q: %w", database, err)
	}
	if err := p.start(); err != nil {
		return fmt.Errorf("dump mariadb database %q: %w", database, err)
	}
	pw := &progressWriter{w: w, fn: progress}
	gz := newCompressor(pw)
	ends := &dumpEnds{}
	drainErr := p.drain(stdout, teeWriter{gz, ends})
	waitErr := p.wait(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	if drainErr != nil {
		return fmt.Errorf("dump mariadb database %q: %w", database, drainErr)
	}
	if waitErr != nil {
		return fmt.Errorf("dump mariadb database %q: %w", database, waitErr)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("dump mariadb database %q: write dump: %w", database, err)
	}
	// Exit status 0 should mean a whole dump; the trailer is cheap proof.
	if err := ends.check(); err != nil {
		return fmt.Errorf("dump mariadb database %q: %w", database, err)
	}
	pw.flush()
	return nil
}

// teeWriter writes to the compressor and remembers the dump's ends. The
// second writer never fails.
type teeWriter struct {
	w    io.Writer
	ends *dumpEnds
}

func (t teeWriter) Write(p []byte) (int, error) {
	_, _ = t.ends.Write(p) // dumpEnds never fails
	return t.w.Write(p)
}

// dumpEnds keeps the first and last bytes of an (uncompressed) MariaDB dump,
// enough to check its header and completion trailer.
type dumpEnds struct {
	head, tail []byte
}

const dumpEndsSize = 512

func (e *dumpEnds) Write(p []byte) (int, error) {
	if need := dumpEndsSize - len(e.head); need > 0 {
		e.head = append(e.head, p[:min(need, len(p))]...)
	}
	if len(p) >= dumpEndsSize {
		e.tail = append(e.tail[:0], p[len(p)-dumpEndsSize:]...)
	} else {
		if over := len(e.tail) + len(p) - dumpEndsSize; over > 0 {
			e.tail = append(e.tail[:0], e.tail[over:]...)
		}
		e.tail = append(e.tail, p...)
	}
	return len(p), nil
}

// check reports whether the dump starts like a mariadb-dump (or mysqldump)
// script and ends with the completion trailer, written last and only when
// the whole dump succeeded.
func (e *dumpEnds) check() error {
	if err := checkHeader(e.head); err != nil {
		return err
	}
	tail := strings.TrimRight(string(e.tail), " \t\r\n")
	last := tail[strings.LastIndexByte(tail, '\n')+1:]
	if !strings.HasPrefix(last, "-- Dump completed") {
		return ErrIncomplete
	}
	return nil
}

// checkHeader reports whether head, the start of a script, has the comment
// mariadb-dump (or mysqldump) writes in its first lines.
func checkHeader(head []byte) error {
	h := "\n" + string(head)
	if !strings.Contains(h, "\n-- MariaDB dump") && !strings.Contains(h, "\n-- MySQL dump") {
		return errors.New("not a mariadb-dump script: no \"-- MariaDB dump\" header")
	}
	return nil
}

// restoreMariaDB pipes the gunzipped dump, with its DEFINER clauses
// rewritten, into the mariadb client logged in as c, an account of owner.
//
// DEFINER clauses must be rewritten, not stripped: without one the object's
// definer is the account that creates it, which is the right one here, but
// a clause left naming another account (the dump's old owner, or the admin
// of a hand-made dump) is refused by the server for a non-SUPER account, so
// the whole dump is rewritten to c's account and a missed clause fails.
func (t Tools) restoreMariaDB(ctx context.Context, c Conn, database, owner string, r io.Reader) error {
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("restore mariadb database %q: %w", database, err)
	}
	account, err := t.mariaCheckTarget(ctx, c, database, owner)
	if err != nil {
		return fail(err)
	}
	gz, err := newDecompressor(r)
	if err != nil {
		return fail(fmt.Errorf("read dump: %w", err))
	}
	args := append([]string{"--no-defaults"}, mariaConnArgs(c)...)
	args = append(args,
		"--default-character-set=utf8mb4",
		// Binary mode: no client commands (\! shell, source, use, ...)
		// other than DELIMITER, and data bytes such as \0 or \r\n pass
		// unchanged. The dump also starts with the sandbox command, which
		// forbids the dangerous ones.
		"--binary-mode",
		// Keep comments: they are part of routine and trigger bodies.
		"--comments",
		maxAllowedPacket,
		"--batch",
		database,
	)
	p := command(ctx, toolSpec{
		name: "mariadb", path: t.mariaDB(), args: args, env: mariaEnv(c), secret: c.Password,
	})
	rw := newDefinerRewriter(gz, mariaAccount(account.user, account.host))
	if err := p.runInput(ctx, rw); err != nil {
		return fail(err)
	}
	// A definer the rewrite missed (an unknown dump layout) is caught here.
	if err := t.mariaCheckDefiners(ctx, c, database, account.user+"@"+account.host); err != nil {
		return fail(err)
	}
	return nil
}

// mariaHostRE is the host patterns Restore accepts for a definer: those
// provision creates ('%', addresses, netmasks, 'localhost'), which need no
// escaping in a quoted name or a string literal.
var mariaHostRE = regexp.MustCompile(`^[A-Za-z0-9.%_:/-]{1,255}$`)

// mariaAccount quotes user@host for a DEFINER clause.
func mariaAccount(user, host string) string {
	return "`" + user + "`@`" + host + "`"
}

// mariaLogin is the account a session runs as (CURRENT_USER()).
type mariaLogin struct{ user, host string }

// mariaCheckTarget checks, in the loading session's own view, that the
// database exists and is empty and that the session's account is one of
// owner's (so the definers become owner's), and returns that account.
func (t Tools) mariaCheckTarget(ctx context.Context, c Conn, database, owner string) (mariaLogin, error) {
	// database is a validated identifier ([a-z0-9_]), safe in a literal.
	rows, err := t.mariaQuery(ctx, c, `
SELECT
  (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '`+database+`'),
  (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '`+database+`')
  + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '`+database+`')
  + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '`+database+`'),
  CURRENT_USER()`)
	if err != nil {
		return mariaLogin{}, fmt.Errorf("check target: %w", err)
	}
	if len(rows) != 1 || len(rows[0]) != 3 {
		return mariaLogin{}, fmt.Errorf("check target: unexpected answer %q", rows)
	}
	switch {
	case rows[0][0] == "0":
		return mariaLogin{}, fmt.Errorf("%w (or %s may not use it)", provision.ErrNoSuchDatabase, c.User)
	case rows[0][1] != "0":
		return mariaLogin{}, fmt.Errorf("%w: it holds %s tables, views, routines or events", ErrNotEmpty, rows[0][1])
	}
	user, host, _ := strings.Cut(rows[0][2], "@")
	if user != owner {
		return mariaLogin{}, fmt.Errorf("the loading session runs as %q, not as an account of owner %q: %w", rows[0][2], owner, provision.ErrNoSuchUser)
	}
	if !mariaHostRE.MatchString(host) {
		return mariaLogin{}, fmt.Errorf("owner %q: unsupported host pattern %q for a definer", owner, host)
	}
	return mariaLogin{user: user, host: host}, nil
}

// mariaCheckDefiners fails if an object in the database has a definer other
// than account (user@host, as information_schema spells it).
func (t Tools) mariaCheckDefiners(ctx context.Context, c Conn, database, account string) error {
	// database is a validated identifier; account is owner (validated) @
	// a host that matched mariaHostRE: no quote or backslash in either.
	lit := "'" + account + "'"
	db := "'" + database + "'"
	rows, err := t.mariaQuery(ctx, c, `
SELECT 'view', TABLE_NAME, DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = `+db+` AND DEFINER <> `+lit+`
UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = `+db+` AND DEFINER <> `+lit+`
UNION ALL SELECT 'trigger', TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = `+db+` AND DEFINER <> `+lit+`
UNION ALL SELECT 'event', EVENT_NAME, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = `+db+` AND DEFINER <> `+lit+`
LIMIT 10`)
	if err != nil {
		return fmt.Errorf("check definers: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	var bad []string
	for _, row := range rows {
		bad = append(bad, strings.Join(row, " "))
	}
	return fmt.Errorf("objects restored with a definer other than %s (DEFINER rewrite missed them): %s", account, strings.Join(bad, "; "))
}

// mariaQuery runs SQL through the mariadb client as c and returns
// the rows of every result set, tab-separated fields (batch mode escapes
// tabs, newlines and backslashes inside values).
func (t Tools) mariaQuery(ctx context.Context, c Conn, sql string) ([][]string, error) {
	args := append([]string{"--no-defaults"}, mariaConnArgs(c)...)
	args = append(args, "--batch", "--skip-column-names", "--default-character-set=utf8mb4", "--execute="+sql)
	p := command(ctx, toolSpec{name: "mariadb", path: t.mariaDB(), args: args, env: mariaEnv(c), secret: c.Password})
	var out bytes.Buffer
	p.cmd.Stdout = &out
	if err := p.start(); err != nil {
		return nil, err
	}
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	var rows [][]string
	for line := range strings.Lines(out.String()) {
		line = strings.TrimSuffix(line, "\n")
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows, nil
}

// verifyMariaDB gunzips the whole stream and checks the dump's header and
// completion trailer.
func verifyMariaDB(ctx context.Context, r io.Reader) error {
	fail := func(err error) error {
		return fmt.Errorf("verify mariadb dump: %w", err)
	}
	gz, err := newDecompressor(r)
	if err != nil {
		return fail(err)
	}
	ends := &dumpEnds{}
	buf := make([]byte, copyBufferSize)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := gz.Read(buf)
		_, _ = ends.Write(buf[:n]) // dumpEnds never fails
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := ends.check(); err != nil {
		return fail(err)
	}
	return nil
}

// The DEFINER clauses mariadb-dump writes, each at the start of a line
// (data never is: row values are escaped onto one line and row lines start
// with "(" or "INSERT"). Group 1 is the account.
//
//	views:    /*!50013 DEFINER=`u`@`h` SQL SECURITY DEFINER */
//	triggers: /*!50003 CREATE*/ /*!50017 DEFINER=`u`@`h`*/ /*!50003 TRIGGER ...
//	events:   /*!50106 CREATE*/ /*!50117 DEFINER=`u`@`h`*/ /*!50106 EVENT ...
//	routines: CREATE DEFINER=`u`@`h` PROCEDURE ... (MySQL: wrapped like triggers)
const mariaName = "(?:`(?:[^`\\n]|``)*`|'(?:[^'\\\\\\n]|''|\\\\.)*')"

var definerREs = []*regexp.Regexp{
	regexp.MustCompile(`^/\*!\d{5} DEFINER=(` + mariaName + `(?:@` + mariaName + `)?) SQL SECURITY `),
	regexp.MustCompile(`^/\*!\d{5} CREATE\*/ /\*!\d{5} DEFINER=(` + mariaName + `(?:@` + mariaName + `)?)\*/ `),
	regexp.MustCompile(`^CREATE (?:OR REPLACE )?DEFINER=(` + mariaName + `(?:@` + mariaName + `)?) `),
}

// definerRewriter is a reader of a MariaDB dump script with every DEFINER
// clause replaced by one account. It works line by line, in pieces of at
// most definerLineBuffer bytes so that a huge line (a row of a large BLOB)
// is never held whole; a clause is always near the start of its line.
//
// Before passing anything on it checks the dump's header, so that a stream
// that is no dump never reaches the client. At the end of its input it
// checks the trailer and returns ErrIncomplete instead of io.EOF if it is
// missing, so that a truncated dump never looks complete to the client.
type definerRewriter struct {
	br          *bufio.Reader
	account     []byte
	started     bool // header checked
	atLineStart bool
	pending     []byte
	scratch     []byte
	ends        dumpEnds
	err         error
}

const definerLineBuffer = 64 << 10

func newDefinerRewriter(r io.Reader, account string) *definerRewriter {
	return &definerRewriter{
		br:          bufio.NewReaderSize(r, definerLineBuffer),
		account:     []byte(account),
		atLineStart: true,
	}
}

func (d *definerRewriter) Read(p []byte) (int, error) {
	if !d.started {
		d.started = true
		head, err := d.br.Peek(dumpEndsSize)
		if err != nil && !errors.Is(err, io.EOF) {
			d.err = err
		} else if herr := checkHeader(head); herr != nil {
			d.err = herr
		}
	}
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		chunk, err := d.br.ReadSlice('\n')
		if len(chunk) > 0 {
			if d.atLineStart {
				chunk = d.rewrite(chunk)
			}
			_, _ = d.ends.Write(chunk) // dumpEnds never fails
			d.pending = chunk
			d.atLineStart = chunk[len(chunk)-1] == '\n'
		}
		switch {
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			d.err = io.EOF
			if cerr := d.ends.check(); cerr != nil {
				d.err = cerr
			}
		default:
			d.err = err
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// rewrite replaces the account of a DEFINER clause at the start of line.
func (d *definerRewriter) rewrite(line []byte) []byte {
	if !bytes.HasPrefix(line, []byte("/*!")) && !bytes.HasPrefix(line, []byte("CREATE ")) {
		return line
	}
	for _, re := range definerREs {
		m := re.FindSubmatchIndex(line)
		if m == nil {
			continue
		}
		d.scratch = append(d.scratch[:0], line[:m[2]]...)
		d.scratch = append(d.scratch, d.account...)
		d.scratch = append(d.scratch, line[m[3]:]...)
		return d.scratch
	}
	return line
}
