package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// pgLoginFrom connects as user to db from the local address src.
func pgLoginFrom(ctx context.Context, src, user, password, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(pgDSN(user, password, db))
	if err != nil {
		return nil, err
	}
	cfg.DialFunc = dialFrom(src).DialContext
	return pgx.ConnectConfig(ctx, cfg)
}

// pgAdminFrom connects as the admin to db from the local address src.
func pgAdminFrom(ctx context.Context, src, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(pgAdminDSN)
	if err != nil {
		return nil, err
	}
	cfg.Database = db
	cfg.DialFunc = dialFrom(src).DialContext
	return pgx.ConnectConfig(ctx, cfg)
}

// pgHBARejects reports whether err is pg_hba.conf refusing the connection
// through a reject line.
func pgHBARejects(err error) bool {
	return err != nil && sqlState(err) == "28000" && strings.Contains(err.Error(), "pg_hba.conf rejects connection")
}

// pgHBASetup prepares the test server's pg_hba.conf for an access test:
// the operator's own lines get a generic line accepting SCRAM logins from
// all of 127.0.0.0/8 (as a server open to a network would, so that an open
// policy lets 127.0.0.2 in), and the original file is put back (and
// loaded) when the test ends. It returns the file's path.
func pgHBASetup(t *testing.T, d *Driver) string {
	t.Helper()
	ctx := testCtx(t)
	var path string
	must(t, "SHOW hba_file", d.pool.QueryRow(ctx, "SHOW hba_file").Scan(&path))
	orig, err := readHBAFile(path)
	must(t, "read pg_hba.conf", err)
	if strings.Contains(string(orig.content), pgHBABeginPrefix) {
		t.Fatalf("pg_hba.conf already has a Cellar section (left by another test?)")
	}
	open := string(orig.content) + "host all all 127.0.0.0/8 scram-sha-256\n"
	must(t, "write pg_hba.conf", writeHBAFile(orig, []byte(open)))
	must(t, "reload", d.reloadAndWait(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f, err := readHBAFile(path)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		if err := writeHBAFile(f, orig.content); err != nil {
			t.Errorf("cleanup: restore pg_hba.conf: %v", err)
			return
		}
		if err := d.reloadAndWait(ctx); err != nil {
			t.Errorf("cleanup: reload: %v", err)
		}
	})
	return path
}

// pgSectionOf returns the Cellar section of the file (markers included),
// and how many BEGIN markers the file has.
func pgSectionOf(t *testing.T, path string) ([]string, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, "read pg_hba.conf", err)
	lines := strings.Split(string(b), "\n")
	var sec []string
	begins := 0
	in := false
	for _, l := range lines {
		if strings.HasPrefix(l, pgHBABeginPrefix) {
			begins++
			in = true
		}
		if in && begins == 1 {
			sec = append(sec, l)
		}
		if strings.HasPrefix(l, pgHBAEndPrefix) {
			in = false
		}
	}
	return sec, begins
}

// pgWantSection is the section ApplyAccess should write for the policy.
func pgWantSection(t *testing.T, p provision.AccessPolicy) []string {
	t.Helper()
	es, err := provision.CheckPolicy(cellar.PostgreSQL, p, pgReservedDatabases)
	must(t, "CheckPolicy", err)
	return pgHBASection("postgres", p.Closed, es)
}

func pgNoHBAErrors(t *testing.T, ctx context.Context, c *pgx.Conn) {
	t.Helper()
	var n int
	must(t, "pg_hba_file_rules", c.QueryRow(ctx, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL").Scan(&n))
	if n != 0 {
		t.Errorf("pg_hba.conf has %d error(s)", n)
	}
}

// TestPostgresAccess walks one pair of tenants through closed and open
// policies, with clients on 127.0.0.2 and 127.0.0.3.
func TestPostgresAccess(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	const ua, da, pa = "cust_acc_a_u", "cust_acc_a", "pw-acc-a"
	const ub, db, pb = "cust_acc_b_u", "cust_acc_b", "pw-acc-b"
	pgCleanup(t, d, []string{da, db}, []string{ua, ub})
	must(t, "EnsureUser a", d.EnsureUser(ctx, ua, pa))
	must(t, "EnsureUser b", d.EnsureUser(ctx, ub, pb))
	must(t, "EnsureDatabase a", d.EnsureDatabase(ctx, da, ua))
	must(t, "EnsureDatabase b", d.EnsureDatabase(ctx, db, ub))
	path := pgHBASetup(t, d)
	before, err := os.Stat(path)
	must(t, "stat", err)

	login := func(src, user, pw, database string) error {
		c, err := pgLoginFrom(ctx, src, user, pw, database)
		if err == nil {
			_, err = c.Exec(ctx, "SELECT 1")
			c.Close(ctx)
		}
		return err
	}
	allowed := func(what, src, user, pw, database string) {
		t.Helper()
		if err := login(src, user, pw, database); err != nil {
			t.Errorf("%s: %s from %s to %s refused: %v", what, user, src, database, err)
		}
	}
	rejected := func(what, src, user, pw, database string) {
		t.Helper()
		if err := login(src, user, pw, database); !pgHBARejects(err) {
			t.Errorf("%s: %s from %s to %s: got %v, want pg_hba.conf rejects connection", what, user, src, database, err)
		}
	}
	apply := func(p provision.AccessPolicy) []string {
		t.Helper()
		repairs, err := d.ApplyAccess(ctx, p, nil)
		if err != nil {
			t.Fatalf("ApplyAccess: %v", err)
		}
		t.Logf("repairs: %q", repairs)
		if sec, n := pgSectionOf(t, path); n != 1 || !slices.Equal(sec, pgWantSection(t, p)) {
			t.Fatalf("section after ApplyAccess (%d sections):\n%s", n, strings.Join(sec, "\n"))
		}
		return repairs
	}

	// Before any policy the operator's 127.0.0.0/8 line lets everyone in.
	allowed("no policy", "127.0.0.3", ua, pa, da)
	// A session from 127.0.0.3 that the closed policy must end.
	early, err := pgLoginFrom(ctx, "127.0.0.3", ua, pa, da)
	must(t, "login from 127.0.0.3", err)
	defer early.Close(ctx)

	closed := provision.AccessPolicy{Closed: true, Databases: map[string]provision.DatabaseAccess{
		da: {Owner: ua, Sources: pfx("127.0.0.2/32")},
		db: {Owner: ub},
	}}
	repairs := apply(closed)
	if !hasRepair(repairs, "added the Cellar section") {
		t.Errorf("repairs do not report the new section: %q", repairs)
	}
	if !hasRepair(repairs, "ended session", ua, "127.0.0.3") || pgAlive(ctx, early) {
		t.Errorf("the session from 127.0.0.3 was not ended and reported: %q", repairs)
	}
	// The section is at the very top, and the file kept owner, group and mode.
	content, err := os.ReadFile(path)
	must(t, "read", err)
	if !strings.HasPrefix(string(content), pgHBABegin+"\n") {
		t.Errorf("section is not at the top of the file")
	}
	after, err := os.Stat(path)
	must(t, "stat", err)
	bs, as := before.Sys().(*syscall.Stat_t), after.Sys().(*syscall.Stat_t)
	if after.Mode() != before.Mode() || bs.Uid != as.Uid || bs.Gid != as.Gid {
		t.Errorf("file mode/owner changed: %v %d:%d -> %v %d:%d", before.Mode(), bs.Uid, bs.Gid, after.Mode(), as.Uid, as.Gid)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".pg_hba.conf.cellar-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	pgNoHBAErrors(t, ctx, admin)

	allowed("closed, rule", "127.0.0.2", ua, pa, da)
	rejected("closed, rule", "127.0.0.3", ua, pa, da)
	allowed("closed, loopback", "127.0.0.1", ua, pa, da)
	rejected("closed, no rules", "127.0.0.2", ub, pb, db)
	allowed("closed, no rules, loopback", "127.0.0.1", ub, pb, db)
	// Allowed on A from 127.0.0.2 is not allowed on B from there.
	rejected("closed, other tenant's database", "127.0.0.2", ua, pa, db)
	// The admin works from anywhere (backups).
	if c, err := pgAdminFrom(ctx, "127.0.0.3", da); err != nil {
		t.Errorf("admin from 127.0.0.3 refused: %v", err)
	} else {
		c.Close(ctx)
	}

	// Converged: nothing to repair.
	if repairs := apply(closed); len(repairs) != 0 {
		t.Errorf("second ApplyAccess reported repairs: %q", repairs)
	}

	// A session from the allowed source, ended when the source goes.
	kept, err := pgLoginFrom(ctx, "127.0.0.2", ua, pa, da)
	must(t, "login from 127.0.0.2", err)
	defer kept.Close(ctx)
	local, err := pgLoginFrom(ctx, "127.0.0.1", ua, pa, da)
	must(t, "login from 127.0.0.1", err)
	defer local.Close(ctx)
	closedNoRules := provision.AccessPolicy{Closed: true, Databases: map[string]provision.DatabaseAccess{da: {Owner: ua}, db: {Owner: ub}}}
	repairs = apply(closedNoRules)
	if !hasRepair(repairs, "removed line", "127.0.0.2/32") || !hasRepair(repairs, "ended session", "127.0.0.2") {
		t.Errorf("repairs: %q", repairs)
	}
	if pgAlive(ctx, kept) {
		t.Error("session from the removed source 127.0.0.2 still alive")
	}
	if !pgAlive(ctx, local) {
		t.Error("loopback session was ended")
	}
	rejected("closed, rule removed", "127.0.0.2", ua, pa, da)

	// Open without rules: the operator's lines decide again.
	openNoRules := provision.AccessPolicy{Databases: closedNoRules.Databases}
	apply(openNoRules)
	allowed("open, no rules", "127.0.0.2", ua, pa, da)
	allowed("open, no rules", "127.0.0.3", ub, pb, db)

	// Open with a rule on A: A is restricted, B stays open.
	early2, err := pgLoginFrom(ctx, "127.0.0.3", ua, pa, da)
	must(t, "login from 127.0.0.3", err)
	defer early2.Close(ctx)
	bSession, err := pgLoginFrom(ctx, "127.0.0.3", ub, pb, db)
	must(t, "login from 127.0.0.3", err)
	defer bSession.Close(ctx)
	open := provision.AccessPolicy{Databases: map[string]provision.DatabaseAccess{da: {Owner: ua, Sources: pfx("127.0.0.2/32")}, db: {Owner: ub}}}
	repairs = apply(open)
	if pgAlive(ctx, early2) || !hasRepair(repairs, "ended session", "127.0.0.3") {
		t.Errorf("session on A from 127.0.0.3 not ended: %q", repairs)
	}
	if !pgAlive(ctx, bSession) {
		t.Error("session on B (open, no rules) was ended")
	}
	allowed("open, rule", "127.0.0.2", ua, pa, da)
	rejected("open, rule", "127.0.0.3", ua, pa, da)
	allowed("open, no rules", "127.0.0.3", ub, pb, db)
	// A's owner from an allowed source still cannot use B (no CONNECT).
	if err := login("127.0.0.2", ua, pa, db); err == nil {
		t.Error("A's owner from 127.0.0.2 got into B")
	}
	// Open again without rules: 127.0.0.2 and 127.0.0.3 allowed again.
	apply(openNoRules)
	allowed("open, rule removed", "127.0.0.3", ua, pa, da)
}

// TestPostgresAccessRepairsEdits: hand edits of the section are undone and
// reported, the section goes back to the top, and a file changed on disk
// since the last load is loaded.
func TestPostgresAccessRepairsEdits(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	const ua, da, pa = "cust_edit_u", "cust_edit", "pw-edit"
	pgCleanup(t, d, []string{da}, []string{ua})
	must(t, "EnsureUser", d.EnsureUser(ctx, ua, pa))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, da, ua))
	path := pgHBASetup(t, d)
	p := provision.AccessPolicy{Closed: true, Databases: map[string]provision.DatabaseAccess{da: {Owner: ua, Sources: pfx("127.0.0.2/32")}}}
	_, err := d.ApplyAccess(ctx, p, nil)
	must(t, "ApplyAccess", err)
	want := pgWantSection(t, p)

	edit := func(fn func(string) string) {
		t.Helper()
		f, err := readHBAFile(path)
		must(t, "read", err)
		must(t, "write", writeHBAFile(f, []byte(fn(string(f.content)))))
	}
	// Add a line inside the section (and reload it, as a careless
	// operator would): 127.0.0.3 gets in.
	evil := "host all all 127.0.0.3/32 scram-sha-256"
	edit(func(s string) string { return strings.Replace(s, pgHBANote, pgHBANote+"\n"+evil, 1) })
	must(t, "reload", d.reloadAndWait(ctx))
	if c, err := pgLoginFrom(ctx, "127.0.0.3", ua, pa, da); err != nil {
		t.Fatalf("the hand edit did not take effect: %v", err)
	} else {
		c.Close(ctx)
	}
	repairs, err := d.ApplyAccess(ctx, p, nil)
	must(t, "ApplyAccess", err)
	if !hasRepair(repairs, "removed line", evil) {
		t.Errorf("repairs do not report the removed line: %q", repairs)
	}
	if sec, _ := pgSectionOf(t, path); !slices.Equal(sec, want) {
		t.Errorf("section not repaired:\n%s", strings.Join(sec, "\n"))
	}
	if _, err := pgLoginFrom(ctx, "127.0.0.3", ua, pa, da); !pgHBARejects(err) {
		t.Errorf("127.0.0.3 after the repair: %v", err)
	}

	// A line put above the section: the section goes back to the top, the
	// operator's line is kept below it.
	edit(func(s string) string { return "host all all 127.0.0.3/32 scram-sha-256\n" + s })
	repairs, err = d.ApplyAccess(ctx, p, nil)
	must(t, "ApplyAccess", err)
	content, err := os.ReadFile(path)
	must(t, "read", err)
	if !strings.HasPrefix(string(content), pgHBABegin+"\n") || !strings.Contains(string(content), pgHBAEnd+"\nhost all all 127.0.0.3/32") {
		t.Errorf("section not moved back to the top:\n%s", content)
	}
	if !hasRepair(repairs, "moved the Cellar section back to the top") {
		t.Errorf("repairs: %q", repairs)
	}
	if _, err := pgLoginFrom(ctx, "127.0.0.3", ua, pa, da); !pgHBARejects(err) {
		t.Errorf("127.0.0.3 with the operator's line below the section: %v", err)
	}
	if repairs, err := d.ApplyAccess(ctx, p, nil); err != nil || len(repairs) != 0 {
		t.Errorf("converged ApplyAccess = %q, %v", repairs, err)
	}

	// The right content on disk, but changed after the last load (say, a
	// crash between rename and reload): loaded, and reported.
	now := time.Now()
	must(t, "touch", os.Chtimes(path, now, now))
	repairs, err = d.ApplyAccess(ctx, p, nil)
	must(t, "ApplyAccess", err)
	if !hasRepair(repairs, "reloaded") {
		t.Errorf("a file newer than the last load was not reloaded: %q", repairs)
	}
	// Markers the driver cannot make sense of are an error, not a guess.
	edit(func(s string) string { return strings.Replace(s, pgHBAEnd+"\n", "", 1) })
	if _, err := d.ApplyAccess(ctx, p, nil); err == nil || !strings.Contains(err.Error(), "END marker") {
		t.Errorf("unterminated section: %v", err)
	}
}

// TestPostgresAccessValidation: a file the server cannot parse is never
// left in place (and never loaded), and the admin can still connect.
func TestPostgresAccessValidation(t *testing.T) {
	d := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	path := pgHBASetup(t, d)
	f, err := readHBAFile(path)
	must(t, "read", err)
	broken := "host all all 999.0.0.1/32 scram-sha-256\n" + string(f.content)
	err = installHBA(ctx, admin, f, []byte(broken))
	t.Logf("installHBA(broken): %v", err)
	if err == nil || !strings.Contains(err.Error(), "line 1") || !strings.Contains(err.Error(), "999.0.0.1") {
		t.Errorf("installHBA(broken) = %v, want an error naming line 1 and the bad address", err)
	}
	now, err := os.ReadFile(path)
	must(t, "read", err)
	if string(now) != string(f.content) {
		t.Errorf("the broken file was left in place:\n%s", now)
	}
	pgNoHBAErrors(t, ctx, admin)
	must(t, "reload", d.reloadAndWait(ctx))
	c, err := pgx.Connect(ctx, pgAdminDSN)
	must(t, "admin connects after the refused file", err)
	c.Close(ctx)

	// A broken line of the operator's: ApplyAccess neither writes its
	// section next to it nor reloads, and leaves the file as it was.
	mangled := string(f.content) + "host all all 10.0.0.0/8 no-such-method\n"
	must(t, "write", writeHBAFile(f, []byte(mangled)))
	p := provision.AccessPolicy{Databases: map[string]provision.DatabaseAccess{"cust_val": {Owner: "cust_val_u", Sources: pfx("10.0.0.0/8")}}}
	if _, err := d.ApplyAccess(ctx, p, nil); err == nil || !strings.Contains(err.Error(), "previous file restored") {
		t.Errorf("ApplyAccess with a broken operator line = %v", err)
	}
	if now, _ := os.ReadFile(path); string(now) != mangled {
		t.Errorf("file changed:\n%s", now)
	}
	must(t, "write", writeHBAFile(f, f.content))
	_, err = d.ApplyAccess(ctx, p, nil)
	must(t, "ApplyAccess after the fix", err)

	// The file this process reads must be the server's.
	other := filepath.Join(t.TempDir(), "pg_hba.conf")
	must(t, "write", os.WriteFile(other, []byte("# not the server's\n"), 0o600))
	of, err := readHBAFile(other)
	must(t, "read", err)
	if err := checkSameFile(ctx, admin, path, of); !errors.Is(err, provision.ErrAccessUnsupported) {
		t.Errorf("checkSameFile(other file) = %v, want provision.ErrAccessUnsupported", err)
	}
	if _, err := readHBAFile("/nonexistent/pg_hba.conf"); !errors.Is(err, provision.ErrAccessUnsupported) {
		t.Errorf("readHBAFile(missing) = %v, want provision.ErrAccessUnsupported", err)
	}

	// Policies that cannot be written are refused before anything is done.
	for _, bad := range []provision.AccessPolicy{
		{Databases: map[string]provision.DatabaseAccess{"all": {Owner: "cust_u"}}},
		{Databases: map[string]provision.DatabaseAccess{"cust_x": {Owner: "sameuser"}}},
		{Databases: map[string]provision.DatabaseAccess{"postgres": {Owner: "cust_u"}}},
		{Databases: map[string]provision.DatabaseAccess{"cust_x": {Owner: "cust_u", Sources: pfx("::ffff:10.0.0.1/128")}}},
	} {
		if _, err := d.ApplyAccess(ctx, bad, nil); err == nil {
			t.Errorf("ApplyAccess(%v) = nil", bad)
		}
	}
}

// TestPostgresAccessConcurrent: racing ApplyAccess calls with different
// policies, through two drivers, end with exactly one of the sections.
func TestPostgresAccessConcurrent(t *testing.T) {
	d1 := newPG(t)
	d2 := newPG(t)
	ctx := testCtx(t)
	admin := pgAdmin(t)
	path := pgHBASetup(t, d1)
	const n = 8
	policies := make([]provision.AccessPolicy, n)
	for i := range policies {
		dbs := map[string]provision.DatabaseAccess{}
		for j := 0; j <= i; j++ {
			dbs[fmt.Sprintf("cust_conc_%d", j)] = provision.DatabaseAccess{Owner: fmt.Sprintf("cust_conc_%d_u", j),
				Sources: pfx(fmt.Sprintf("10.%d.%d.0/24", i, j))}
		}
		policies[i] = provision.AccessPolicy{Closed: i%2 == 0, Databases: dbs}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range policies {
		d := d1
		if i%2 == 1 {
			d = d2
		}
		wg.Go(func() { _, errs[i] = d.ApplyAccess(ctx, policies[i], nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("ApplyAccess %d: %v", i, err)
		}
	}
	sec, begins := pgSectionOf(t, path)
	if begins != 1 {
		t.Fatalf("%d sections after concurrent ApplyAccess", begins)
	}
	match := -1
	for i, p := range policies {
		if slices.Equal(sec, pgWantSection(t, p)) {
			match = i
		}
	}
	if match < 0 {
		t.Fatalf("section matches none of the policies:\n%s", strings.Join(sec, "\n"))
	}
	pgNoHBAErrors(t, ctx, admin)
	if repairs, err := d2.ApplyAccess(ctx, policies[match], nil); err != nil || len(repairs) != 0 {
		t.Errorf("ApplyAccess with the winning policy = %q, %v; want no repairs", repairs, err)
	}
}
