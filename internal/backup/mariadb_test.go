package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/provision"

	"github.com/cellar/cellar/internal/cellar"
)

// mariaFill creates a small application schema as the tenant: tables with
// utf8mb4 text, NULLs, a BLOB, a foreign key and index, a view (SQL SECURITY
// DEFINER) and one with INVOKER, a trigger, a procedure, a function, a
// disabled event, a sequence and an AUTO_INCREMENT counter past max(id).
func mariaFill(t *testing.T, tn tenant, rows int) {
	t.Helper()
	ctx := testCtx(t)
	db := mariaConnect(t, tn.user, tn.password, tn.db)
	stmts := []string{
		`SET SESSION max_recursive_iterations = 1000000`,
		`CREATE TABLE customers (
			id INT AUTO_INCREMENT PRIMARY KEY,
			name VARCHAR(200) NOT NULL,
			note TEXT NULL,
			created DATETIME(6) NOT NULL DEFAULT '2026-01-02 03:04:05.678901',
			balance DECIMAL(12,2) NULL
		) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='the customers ` + nonASCII + `'`,
		`CREATE TABLE orders (
			id BIGINT AUTO_INCREMENT PRIMARY KEY,
			customer_id INT NOT NULL,
			payload BLOB NULL,
			tags JSON NULL,
			KEY orders_customer_idx (customer_id),
			CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
		) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		`CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100)) ENGINE=InnoDB`,
		`CREATE VIEW customer_totals AS
			SELECT c.id, c.name, COUNT(o.id) AS orders, COALESCE(SUM(LENGTH(o.payload)), 0) AS bytes
			FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name`,
		`CREATE SQL SECURITY INVOKER VIEW big_customers AS SELECT id, name FROM customer_totals WHERE orders > 1`,
		`CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW
			INSERT INTO audit (what) VALUES (CONCAT('order ', NEW.id))`,
		"CREATE PROCEDURE add_customer(IN n VARCHAR(200))\nBEGIN\n  -- a comment in the body; the definer text DEFINER=`x`@`y` stays\n  INSERT INTO customers (name) VALUES (n);\nEND",
		`CREATE FUNCTION order_count(cid INT) RETURNS INT READS SQL DATA
			RETURN (SELECT COUNT(*) FROM orders WHERE customer_id = cid)`,
		`CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE
			DO DELETE FROM audit WHERE id < 0`,
		`CREATE SEQUENCE invoice_no START WITH 1000`,
		`SELECT SETVAL(invoice_no, 4242)`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	_, err := db.ExecContext(ctx, `
		INSERT INTO customers (name, note, balance)
		WITH RECURSIVE seq (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		SELECT CONCAT(?, ' #', i),
		       IF(i % 7 = 0, NULL, REPEAT(CONCAT('note ', i, '\n\t''"\\ ', 'DEFINER=`+"`root`@`localhost`"+`'), i % 5)),
		       IF(i % 11 = 0, NULL, i * 1.25)
		FROM seq`, rows, nonASCII)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(ctx, `
		INSERT INTO orders (customer_id, payload, tags)
		WITH RECURSIVE seq (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		SELECT 1 + i % ?, IF(i % 13 = 0, NULL, UNHEX(CONCAT(MD5(i), MD5(i + 1)))), JSON_ARRAY(CONCAT('t', i), ?)
		FROM seq`, 2*rows, rows, nonASCII)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO orders (customer_id, payload) VALUES (1, ?), (2, '')`, allBytes()); err != nil {
		t.Fatal(err)
	}
	// Push the counters past max(id): deleted rows' ids are not reused.
	if _, err := db.ExecContext(ctx, `INSERT INTO customers (name) VALUES ('gone1'), ('gone2')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM customers WHERE name LIKE 'gone%'`); err != nil {
		t.Fatal(err)
	}
}

// mariaRows returns every row of a query, fields joined, NULL as \N.
func mariaRows(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(testCtx(t), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString("|")
			}
			if v == nil {
				b.WriteString(`\N`)
			} else {
				fmt.Fprintf(&b, "%q", v)
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mariaScalar[T any](t *testing.T, db *sql.DB, query string, args ...any) T {
	t.Helper()
	var v T
	if err := db.QueryRowContext(testCtx(t), query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

func TestRoundTrip_MariaDB(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	src := newTenant(t, cellar.MariaDB, "bk_msrc")
	dst := newTenant(t, cellar.MariaDB, "bk_mdst")
	mariaFill(t, src, 3000)

	store := newStore(t)
	var reports []int64
	key, size, _ := dumpToStore(t, Tools{}, store, src, func(n int64) { reports = append(reports, n) })
	if len(reports) == 0 || reports[len(reports)-1] != size || !slices.IsSorted(reports) {
		t.Fatalf("progress reports %v, want ascending, ending at %d", reports, size)
	}
	f, err := store.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	script := gunzip(t, f)
	f.Close()
	t.Logf("dump: %d bytes compressed, %d bytes of SQL", size, len(script))
	// A dump of the one database: no CREATE DATABASE, no USE; and the
	// definers are the source owner's.
	for _, bad := range []string{"CREATE DATABASE", "\nUSE ", src.db + "`."} {
		if bytes.Contains(script, []byte(bad)) {
			t.Errorf("dump contains %q", bad)
		}
	}
	if !bytes.Contains(script, []byte("DEFINER=`"+src.user+"`@`%`")) {
		t.Error("dump has no DEFINER clause of the source owner")
	}

	f, err = store.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := (Tools{}).Verify(ctx, cellar.MariaDB, f); err != nil {
		t.Fatalf("Verify of a good dump: %v", err)
	}
	f.Close()
	f, err = store.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := (Tools{}).Restore(ctx, cellar.MariaDB, as(t, dst), dst.db, dst.user, f); err != nil {
		t.Fatalf("Restore: %v", err)
	}

	a, b := mariaAsAdmin(t, src.db), mariaAsAdmin(t, dst.db)
	for _, q := range []string{
		`SELECT * FROM customers ORDER BY id`,
		`SELECT id, customer_id, HEX(payload), payload, tags FROM orders ORDER BY id`,
		`SELECT * FROM audit ORDER BY id`,
		`SELECT * FROM customer_totals ORDER BY id`,
		`SELECT * FROM big_customers ORDER BY id`,
		`SELECT order_count(1)`,
		`SELECT TABLE_NAME, TABLE_COMMENT, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`,
		`SELECT INDEX_NAME, COLUMN_NAME, SEQ_IN_INDEX FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
		`SELECT CONSTRAINT_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()`,
		`SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`,
		`SELECT ROUTINE_NAME, ROUTINE_DEFINITION, SECURITY_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY ROUTINE_NAME`,
		`SELECT EVENT_NAME, EVENT_DEFINITION, STATUS, STARTS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()`,
		`SELECT TABLE_NAME, SECURITY_TYPE FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`,
	} {
		want, got := mariaRows(t, a, q), mariaRows(t, b, q)
		if len(want) == 0 {
			t.Errorf("%s: no rows in the source", q)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: restored %d rows differ from the source's %d", q, len(got), len(want))
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("first difference at row %d:\n got %s\nwant %s", i, got[i], want[i])
					break
				}
			}
		}
	}
	if n := mariaScalar[int](t, b, `SELECT COUNT(*) FROM customers`); n != 3000 {
		t.Errorf("restored %d customers, want 3000", n)
	}
	if got := mariaScalar[[]byte](t, b, `SELECT payload FROM orders WHERE LENGTH(payload) = 256`); !bytes.Equal(got, allBytes()) {
		t.Errorf("binary column: got %x", got)
	}
	if got := mariaScalar[string](t, b, `SELECT name FROM customers WHERE id = 1`); got != nonASCII+" #1" {
		t.Errorf("non-ASCII text: got %q", got)
	}
	// The AUTO_INCREMENT counters survive: the next rows get the same ids,
	// past max(id) + 1 (two deleted rows are in between).
	maxID := mariaScalar[int64](t, b, `SELECT MAX(id) FROM customers`)
	for _, ins := range []string{
		`INSERT INTO customers (name) VALUES ('next')`,
		`INSERT INTO orders (customer_id) VALUES (1)`,
	} {
		ra, err := a.ExecContext(ctx, ins)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.ExecContext(ctx, ins)
		if err != nil {
			t.Fatal(err)
		}
		ida, _ := ra.LastInsertId()
		idb, _ := rb.LastInsertId()
		if ida != idb {
			t.Errorf("%s: id %d in the restored database, %d in the source", ins, idb, ida)
		}
	}
	if next := mariaScalar[int64](t, b, `SELECT MAX(id) FROM customers`); next <= maxID+1 {
		t.Errorf("next customer id %d, want more than max(id) + 1 = %d: the counter was reset", next, maxID+1)
	}
	// A sequence with a cache is dumped at its next uncached value: the
	// restored one never hands out a number the source already did.
	na, nb := mariaScalar[int64](t, a, `SELECT NEXTVAL(invoice_no)`), mariaScalar[int64](t, b, `SELECT NEXTVAL(invoice_no)`)
	if nb < na || nb < 4243 {
		t.Errorf("sequence: restored NEXTVAL %d, source %d", nb, na)
	}

	// Every definer is the new owner's account.
	definers := mariaRows(t, b, `
		SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()
		UNION SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()
		UNION SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
		UNION SELECT DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()`)
	if want := []string{fmt.Sprintf("%q", dst.user+"@%")}; !slices.Equal(definers, want) {
		t.Errorf("definers %v, want %v", definers, want)
	}
	// The comment in the procedure's body, which merely looks like a
	// DEFINER clause, is data and is left alone.
	if body := mariaScalar[string](t, b, `SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = 'add_customer'`); !strings.Contains(body, "DEFINER=`x`@`y`") {
		t.Errorf("procedure body changed: %q", body)
	}

	// The new owner can use everything: its views, trigger, routines.
	own := mariaConnect(t, dst.user, dst.password, dst.db)
	for _, s := range []string{
		`SELECT COUNT(*) FROM customer_totals`,
		`SELECT COUNT(*) FROM big_customers`,
		`INSERT INTO orders (customer_id, payload) VALUES (1, x'00ff')`, // fires the trigger
		`CALL add_customer('via procedure')`,
		`SELECT order_count(1)`,
		`UPDATE customers SET note = 'changed' WHERE id = 2`,
		`DELETE FROM audit WHERE id = 1`,
		`ALTER EVENT nightly DISABLE`,
		`SELECT NEXTVAL(invoice_no)`,
		`CREATE TABLE more (id INT)`,
		`DROP VIEW big_customers`,
	} {
		if _, err := own.ExecContext(ctx, s); err != nil {
			t.Errorf("as the new owner: %s: %v", s, err)
		}
	}
	if got := mariaScalar[string](t, own, `SELECT what FROM audit ORDER BY id DESC LIMIT 1`); !strings.HasPrefix(got, "order ") {
		t.Errorf("trigger did not fire for the new owner: %q", got)
	}
}

func gunzip(t *testing.T, r io.Reader) []byte {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// mariaSmallDump makes a tenant with some data and returns its dump.
func mariaSmallDump(t *testing.T, rows int) []byte {
	t.Helper()
	src := newTenant(t, cellar.MariaDB, "bk_msmall")
	mariaFill(t, src, rows)
	return dumpBytes(t, src)
}

func TestVerify_MariaDB(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	good := mariaSmallDump(t, 3000)
	tools := Tools{}
	if err := tools.Verify(ctx, cellar.MariaDB, bytes.NewReader(good)); err != nil {
		t.Fatalf("good dump: %v", err)
	}
	corrupt := bytes.Clone(good)
	for i := len(corrupt) / 2; i < len(corrupt)/2+16; i++ {
		corrupt[i] ^= 0x5a
	}
	script := gunzip(t, bytes.NewReader(good))
	cases := map[string][]byte{
		"truncated":          good[:len(good)/2],
		"corrupt":            corrupt,
		"trailing garbage":   append(bytes.Clone(good), "garbage"...),
		"empty":              nil,
		"not gzip":           []byte("-- MariaDB dump\n-- Dump completed\n"),
		"incomplete script":  gzipBytes(script[:len(script)/2]),
		"not a dump":         gzipBytes([]byte("SELECT 1;\n-- Dump completed on 2026-01-01\n")),
		"postgresql archive": pgMagic(),
	}
	for name, dump := range cases {
		err := tools.Verify(ctx, cellar.MariaDB, bytes.NewReader(dump))
		if err == nil {
			t.Errorf("%s: Verify accepted it", name)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	if err := tools.Verify(ctx, cellar.MariaDB, bytes.NewReader(gzipBytes(script[:len(script)/2]))); !errors.Is(err, ErrIncomplete) {
		t.Errorf("incomplete script: %v, want ErrIncomplete", err)
	}
}

func pgMagic() []byte { return append([]byte("PGDMP"), bytes.Repeat([]byte{1}, 100)...) }

func TestDump_MariaDB_MissingDatabase(t *testing.T) {
	t.Parallel()
	c := admin(t, cellar.MariaDB)
	var buf bytes.Buffer
	err := (Tools{}).Dump(testCtx(t), cellar.MariaDB, c, "bk_no_such_db", &buf, nil)
	if err == nil {
		t.Fatal("Dump of a missing database succeeded")
	}
	var te *ToolError
	if !errors.As(err, &te) || te.Tool != "mariadb-dump" {
		t.Fatalf("want a *ToolError from mariadb-dump, got %v", err)
	}
	if !strings.Contains(err.Error(), "Unknown database 'bk_no_such_db'") {
		t.Errorf("error does not say the database is missing: %v", err)
	}
	if strings.Contains(err.Error(), c.Password) {
		t.Error("error contains the password")
	}
	t.Logf("%v", err)
}

func TestRestore_MariaDB_Failures(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	good := mariaSmallDump(t, 3000)
	c := admin(t, cellar.MariaDB)
	script := gunzip(t, bytes.NewReader(good))

	// A syntax error in the middle of the script: the client's message.
	i := bytes.Index(script, []byte("INSERT INTO `orders`"))
	if i < 0 {
		t.Fatal("no INSERT INTO `orders` in the dump")
	}
	broken := append(bytes.Clone(script[:i]), "INSERT INTO `orders` VALUES (1,,2);\n"...)
	broken = append(broken, script[i:]...)
	corrupt := bytes.Clone(good)
	for i := len(corrupt) * 3 / 4; i < len(corrupt)*3/4+16; i++ {
		corrupt[i] ^= 0x5a
	}
	for _, tc := range []struct {
		name, want string
		dump       []byte
	}{
		{"sql error", "ERROR 1064 (42000)", gzipBytes(broken)},
		// Corrupt deflate data may decode to garbage that the client
		// rejects before gzip's checksum at the end is reached.
		{"corrupt gzip", "", corrupt},
		{"truncated gzip", "read dump:", good[:len(good)/2]},
		{"incomplete script", "no completion trailer", gzipBytes(script[:len(script)*3/4])},
		{"not gzip", "read dump:", []byte("SELECT 1;")},
	} {
		dst := newTenant(t, cellar.MariaDB, "bk_mbad")
		err := (Tools{}).Restore(ctx, cellar.MariaDB, as(t, dst), dst.db, dst.user, bytes.NewReader(tc.dump))
		if err == nil {
			t.Errorf("%s: Restore succeeded", tc.name)
			continue
		}
		if tc.want == "" {
			var te *ToolError
			if !strings.Contains(err.Error(), "read dump:") && !errors.As(err, &te) {
				t.Errorf("%s: error %q is neither a read error nor the client's", tc.name, err)
			}
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not contain %q", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), c.Password) {
			t.Errorf("%s: error contains the password", tc.name)
		}
		t.Logf("%s: %v", tc.name, err)
	}

	// Targets that are refused before anything is loaded.
	full := newTenant(t, cellar.MariaDB, "bk_mfull")
	own := mariaConnect(t, full.user, full.password, full.db)
	if _, err := own.ExecContext(ctx, `CREATE TABLE customers (keep INT)`); err != nil {
		t.Fatal(err)
	}
	if err := (Tools{}).Restore(ctx, cellar.MariaDB, as(t, full), full.db, full.user, bytes.NewReader(good)); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("restore into a non-empty database: %v, want ErrNotEmpty", err)
	}
	if err := (Tools{}).Restore(ctx, cellar.MariaDB, as(t, full), "bk_no_such_db", full.user, bytes.NewReader(good)); !errors.Is(err, provision.ErrNoSuchDatabase) {
		t.Errorf("restore into a missing database: %v, want ErrNoSuchDatabase", err)
	}
	empty := newTenant(t, cellar.MariaDB, "bk_mempty")
	if err := (Tools{}).Restore(ctx, cellar.MariaDB, as(t, empty), empty.db, "bk_no_such_user", bytes.NewReader(good)); !errors.Is(err, provision.ErrNoSuchUser) {
		t.Errorf("restore for a missing owner: %v, want ErrNoSuchUser", err)
	}
}

// TestRestore_MariaDB_RestrictedOwner restores for an owner without a '%'
// account (an allowlisted database): the session logs in over TCP loopback,
// so the definer is the account it runs as, owner@127.0.0.1.
func TestRestore_MariaDB_RestrictedOwner(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	good := mariaSmallDump(t, 100)
	dst := newTenant(t, cellar.MariaDB, "bk_mrestr")
	adm := mariaAsAdmin(t, "")
	for _, s := range []string{
		"CREATE USER `" + dst.user + "`@`localhost` IDENTIFIED BY '" + dst.password + "'",
		"CREATE USER `" + dst.user + "`@`127.0.0.1` IDENTIFIED BY '" + dst.password + "'",
		"GRANT ALL ON `" + dst.db + "`.* TO `" + dst.user + "`@`localhost`",
		"GRANT ALL ON `" + dst.db + "`.* TO `" + dst.user + "`@`127.0.0.1`",
		"DROP USER `" + dst.user + "`@`%`",
	} {
		if _, err := adm.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := (Tools{}).Restore(ctx, cellar.MariaDB, as(t, dst), dst.db, dst.user, bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	b := mariaAsAdmin(t, dst.db)
	definers := mariaRows(t, b, `
		SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()
		UNION SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`)
	if want := []string{fmt.Sprintf("%q", dst.user+"@127.0.0.1")}; !slices.Equal(definers, want) {
		t.Errorf("definers %v, want %v", definers, want)
	}
}

// TestDump_MariaDB_NoUseStatements checks the script line by line: nothing
// in it switches databases or names the source database.
func TestDump_MariaDB_NoUseStatements(t *testing.T) {
	t.Parallel()
	src := newTenant(t, cellar.MariaDB, "bk_muse")
	mariaFill(t, src, 10)
	script := gunzip(t, bytes.NewReader(dumpBytes(t, src)))
	sc := bufio.NewScanner(bytes.NewReader(script))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.ToUpper(line), "USE ") || strings.Contains(line, "CREATE DATABASE") ||
			strings.Contains(line, "`"+src.db+"`") {
			t.Errorf("dump line %q", line)
		}
	}
}
