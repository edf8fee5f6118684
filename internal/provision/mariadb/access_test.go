package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// mariaLoginFrom opens one pinned connection as user to db from the local
// address src.
func mariaLoginFrom(ctx context.Context, src, user, password, db string) (*sql.Conn, func(), error) {
	cfg, err := mysql.ParseDSN(mariaDSN(user, password, db))
	if err != nil {
		return nil, nil, err
	}
	cfg.Net = mariaNetFrom(src)
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, nil, err
	}
	pool := sql.OpenDB(connector)
	conn, err := pool.Conn(ctx)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return conn, func() { conn.Close(); pool.Close() }, nil
}

// mariaHostsOf returns the user's account hosts, sorted.
func mariaHostsOf(t *testing.T, ctx context.Context, admin *sql.DB, user string) []string {
	t.Helper()
	rows, err := admin.QueryContext(ctx, "SELECT Host FROM mysql.user WHERE User = ?", user)
	must(t, "list hosts", err)
	hosts, err := scanStrings(rows)
	must(t, "list hosts", err)
	slices.Sort(hosts)
	return hosts
}

// mariaRefused reports whether err is the server refusing the login: access
// denied (1045) or no account for the host at all (1130).
func mariaRefused(err error) bool {
	n := mariaErrNo(err)
	return n == 1045 || n == 1130
}

// TestMariaDBAccess walks one pair of tenants through closed and open
// policies, with clients on 127.0.0.2 and 127.0.0.3.
func TestMariaDBAccess(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const ua, da, pa = "cust_macc_a_u", "cust_macc_a", "pw-macc-a"
	const ub, db, pb = "cust_macc_b_u", "cust_macc_b", "pw-macc-b"
	mariaCleanup(t, d, []string{da, db}, []string{ua, ub})
	must(t, "EnsureUser a", d.EnsureUser(ctx, ua, pa))
	must(t, "EnsureUser b", d.EnsureUser(ctx, ub, pb))
	must(t, "EnsureDatabase a", d.EnsureDatabase(ctx, da, ua))
	must(t, "EnsureDatabase b", d.EnsureDatabase(ctx, db, ub))

	login := func(src, user, pw, database string) error {
		c, done, err := mariaLoginFrom(ctx, src, user, pw, database)
		if err != nil {
			return err
		}
		defer done()
		_, err = c.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS t (id int)")
		return err
	}
	allowed := func(what, src, user, pw, database string) {
		t.Helper()
		if err := login(src, user, pw, database); err != nil {
			t.Errorf("%s: %s from %s to %s refused: %v", what, user, src, database, err)
		}
	}
	refused := func(what, src, user, pw, database string) {
		t.Helper()
		if err := login(src, user, pw, database); !mariaRefused(err) {
			t.Errorf("%s: %s from %s to %s: got %v, want error 1045 or 1130", what, user, src, database, err)
		}
	}
	apply := func(p provision.AccessPolicy, only []string) []string {
		t.Helper()
		repairs, err := d.ApplyAccess(ctx, p, only)
		if err != nil {
			t.Fatalf("ApplyAccess: %v", err)
		}
		t.Logf("repairs: %q", repairs)
		return repairs
	}
	hosts := func(user string, want ...string) {
		t.Helper()
		slices.Sort(want)
		if got := mariaHostsOf(t, ctx, admin, user); !slices.Equal(got, want) {
			t.Errorf("accounts of %s = %q, want %q", user, got, want)
		}
	}

	// Sessions from 127.0.0.2 and 127.0.0.3, let in by '%'.
	s2, done2, err := mariaLoginFrom(ctx, "127.0.0.2", ua, pa, da)
	must(t, "login from 127.0.0.2", err)
	defer done2()
	s3, done3, err := mariaLoginFrom(ctx, "127.0.0.3", ua, pa, da)
	must(t, "login from 127.0.0.3", err)
	defer done3()

	closed := provision.AccessPolicy{Closed: true, Databases: map[string]provision.DatabaseAccess{
		da: {Owner: ua, Sources: pfx("127.0.0.2/32")},
		db: {Owner: ub},
	}}
	repairs := apply(closed, nil)
	hosts(ua, "127.0.0.1", "127.0.0.2", "::1", "localhost")
	hosts(ub, "127.0.0.1", "::1", "localhost")
	for _, want := range [][]string{
		{"created account", ua, "127.0.0.2"}, {"created account", ub, "localhost"},
		{"granted ALL", da, "127.0.0.2"}, {"dropped account", ua, `"%"`},
		{"ended session", ua, "127.0.0.3"},
	} {
		if !hasRepair(repairs, want...) {
			t.Errorf("repairs lack %q", want)
		}
	}
	if mariaAlive(ctx, s3) {
		t.Error("session from 127.0.0.3 still alive")
	}
	if !mariaAlive(ctx, s2) {
		t.Error("session from the allowed 127.0.0.2 was ended")
	}
	allowed("closed, rule", "127.0.0.2", ua, pa, da)
	refused("closed, rule", "127.0.0.3", ua, pa, da)
	allowed("closed, loopback", "127.0.0.1", ua, pa, da)
	refused("closed, no rules", "127.0.0.2", ub, pb, db)
	allowed("closed, no rules, loopback", "127.0.0.1", ub, pb, db)
	// Allowed on A from 127.0.0.2 gives nothing on B.
	if err := login("127.0.0.2", ua, pa, db); mariaErrNo(err) != 1044 { // access denied to database
		t.Errorf("A's owner from 127.0.0.2 on B: got %v, want error 1044", err)
	}
	// Converged: nothing to repair.
	if repairs := apply(closed, nil); len(repairs) != 0 {
		t.Errorf("second ApplyAccess reported repairs: %q", repairs)
	}

	// Rotation reaches every host account, and adds none.
	const pa2 = "pw-macc-a-2"
	must(t, "EnsureUser (rotate)", d.EnsureUser(ctx, ua, pa2))
	hosts(ua, "127.0.0.1", "127.0.0.2", "::1", "localhost")
	rows, err := admin.QueryContext(ctx, "SELECT authentication_string FROM mysql.user WHERE User = ?", ua)
	must(t, "read hashes", err)
	hashes, err := scanStrings(rows)
	must(t, "read hashes", err)
	for _, h := range hashes {
		if h != MySQLNativeHash(pa2) {
			t.Errorf("an account of %s kept the old password", ua)
		}
	}
	refused("old password", "127.0.0.2", ua, pa, da)
	allowed("new password", "127.0.0.2", ua, pa2, da)

	// A connection limit set on the accounts is carried to a new one.
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, da, ua, 7))
	two := provision.AccessPolicy{Closed: true, Databases: map[string]provision.DatabaseAccess{
		da: {Owner: ua, Sources: pfx("127.0.0.2/32", "127.0.0.4/32")},
		db: {Owner: ub},
	}}
	apply(two, nil)
	hosts(ua, "127.0.0.1", "127.0.0.2", "127.0.0.4", "::1", "localhost")
	var minLimit, maxLimit int
	must(t, "read limits", admin.QueryRowContext(ctx,
		"SELECT MIN(max_user_connections), MAX(max_user_connections) FROM mysql.user WHERE User = ?", ua).Scan(&minLimit, &maxLimit))
	if minLimit != 7 || maxLimit != 7 {
		t.Errorf("limits of %s's accounts: %d..%d, want 7", ua, minLimit, maxLimit)
	}
	info, err := d.DatabaseInfo(ctx, da, ua)
	must(t, "DatabaseInfo", err)
	if info.ConnectionLimit != 7 || info.Owner != ua {
		t.Errorf("DatabaseInfo = %+v", info)
	}
	allowed("second source", "127.0.0.4", ua, pa2, da)
	must(t, "SetConnectionLimit", d.SetConnectionLimit(ctx, da, ua, provision.Unlimited))

	// UserSessions and EndSessions see sessions of every host account.
	s4, done4, err := mariaLoginFrom(ctx, "127.0.0.4", ua, pa2, da)
	must(t, "login from 127.0.0.4", err)
	defer done4()
	id2, id4 := mariaConnID(t, ctx, s2), mariaConnID(t, ctx, s4)
	sessions, err := d.UserSessions(ctx, ua)
	must(t, "UserSessions", err)
	if !slices.Equal(sessions, []int64{min(id2, id4), max(id2, id4)}) {
		t.Errorf("UserSessions = %v, want %d and %d", sessions, id2, id4)
	}
	if n, err := d.EndSessions(ctx, ua, []int64{id4}); n != 1 || err != nil || mariaAlive(ctx, s4) {
		t.Errorf("EndSessions(session from 127.0.0.4) = %d, %v", n, err)
	}

	// only: B is left alone when only A is named.
	bOpen := provision.AccessPolicy{Closed: false, Databases: map[string]provision.DatabaseAccess{da: two.Databases[da], db: {Owner: ub}}}
	apply(bOpen, []string{da})
	hosts(ub, "127.0.0.1", "::1", "localhost")
	apply(bOpen, []string{db})
	hosts(ub, "%")
	allowed("open, no rules", "127.0.0.3", ub, pb, db)
	refused("open, rule", "127.0.0.3", ua, pa2, da)

	// Removing the sources: closed, loopback only; the session from
	// 127.0.0.2 is ended.
	closedNoRules := provision.AccessPolicy{Closed: true, Databases: map[string]provision.DatabaseAccess{da: {Owner: ua}, db: {Owner: ub}}}
	repairs = apply(closedNoRules, nil)
	hosts(ua, "127.0.0.1", "::1", "localhost")
	if mariaAlive(ctx, s2) || !hasRepair(repairs, "ended session", ua, "127.0.0.2") {
		t.Errorf("session from the removed source not ended (repairs %q)", repairs)
	}
	refused("closed, rule removed", "127.0.0.2", ua, pa2, da)
	allowed("closed, loopback", "127.0.0.1", ua, pa2, da)

	// Open without rules: '%' again.
	apply(provision.AccessPolicy{Databases: closedNoRules.Databases}, nil)
	hosts(ua, "%")
	allowed("open, rule removed", "127.0.0.2", ua, pa2, da)
	allowed("open, rule removed", "127.0.0.3", ua, pa2, da)

	// The hashes copied to new accounts never reached the general log.
	logText, err := os.ReadFile(mariaLogPath)
	must(t, "read log", err)
	log := string(logText)
	if !strings.Contains(log, "DROP USER IF EXISTS `"+ua+"`@`127.0.0.2`") {
		t.Fatalf("general log does not show the driver's statements (%d bytes)", len(log))
	}
	for _, secret := range []string{MySQLNativeHash(pa), MySQLNativeHash(pa2), "CREATE USER IF NOT EXISTS `" + ua} {
		if strings.Contains(log, secret) {
			t.Errorf("general log contains a secret (%.12s...)", secret)
		}
	}
}

// TestMariaDBAccessHostForms: IPv4 networks become netmask accounts that
// MariaDB enforces, IPv6 addresses their canonical form.
func TestMariaDBAccessHostForms(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const u, db, pw = "cust_mform_u", "cust_mform", "pw-mform"
	mariaCleanup(t, d, []string{db}, []string{u})
	must(t, "EnsureUser", d.EnsureUser(ctx, u, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, u))
	p := provision.AccessPolicy{Databases: map[string]provision.DatabaseAccess{db: {Owner: u,
		Sources: pfx("127.0.0.0/29", "10.1.0.0/16", "fd00:203:1::2/128", "192.0.2.7/32")}}}
	_, err := d.ApplyAccess(ctx, p, nil)
	must(t, "ApplyAccess", err)
	want := []string{"10.1.0.0/255.255.0.0", "127.0.0.0/255.255.255.248", "127.0.0.1", "192.0.2.7", "::1", "fd00:203:1::2", "localhost"}
	if got := mariaHostsOf(t, ctx, admin, u); !slices.Equal(got, want) {
		t.Errorf("hosts = %q, want %q", got, want)
	}
	for src, ok := range map[string]bool{"127.0.0.5": true, "127.0.0.7": true, "127.0.0.9": false} {
		c, done, err := mariaLoginFrom(ctx, src, u, pw, db)
		if err == nil {
			_ = c
			done()
		}
		if ok && err != nil {
			t.Errorf("login from %s (in 127.0.0.0/29) refused: %v", src, err)
		}
		if !ok && !mariaRefused(err) {
			t.Errorf("login from %s (outside 127.0.0.0/29): got %v, want refused", src, err)
		}
	}

	// Sources MariaDB cannot express, and owners with two policies, are
	// refused before anything is done.
	if _, err := d.ApplyAccess(ctx, provision.AccessPolicy{Databases: map[string]provision.DatabaseAccess{db: {Owner: u,
		Sources: pfx("fd00:203:1::/64")}}}, nil); !errors.Is(err, provision.ErrSourceUnsupported) {
		t.Errorf("IPv6 network: %v", err)
	}
	if _, err := d.ApplyAccess(ctx, provision.AccessPolicy{Databases: map[string]provision.DatabaseAccess{
		db: {Owner: u, Sources: pfx("10.0.0.0/8")}, "cust_mform_2": {Owner: u}}}, nil); err == nil {
		t.Error("one owner with two different allowlists accepted")
	}
	if got := mariaHostsOf(t, ctx, admin, u); !slices.Equal(got, want) {
		t.Errorf("hosts changed by a refused policy: %q", got)
	}
}

// TestMariaDBAccessLockedUser: an account added to a user locked by an
// interrupted DropUser is locked too, and a user without accounts is
// skipped.
func TestMariaDBAccessLockedUser(t *testing.T) {
	d := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const u, db, pw = "cust_mlock_u", "cust_mlock", "pw-mlock"
	mariaCleanup(t, d, []string{db}, []string{u})
	must(t, "EnsureUser", d.EnsureUser(ctx, u, pw))
	must(t, "EnsureDatabase", d.EnsureDatabase(ctx, db, u))
	_, err := admin.ExecContext(ctx, "ALTER USER "+mariaAccount(u, "%")+" ACCOUNT LOCK")
	must(t, "lock", err)
	p := provision.AccessPolicy{Databases: map[string]provision.DatabaseAccess{db: {Owner: u, Sources: pfx("127.0.0.2/32")}}}
	_, err = d.ApplyAccess(ctx, p, nil)
	must(t, "ApplyAccess", err)
	accts, err := d.userAccounts(ctx, u)
	must(t, "userAccounts", err)
	if len(accts) != 4 {
		t.Errorf("accounts: %+v", accts)
	}
	for _, a := range accts {
		if !a.locked {
			t.Errorf("account %s@%s is not locked", u, a.host)
		}
	}
	if _, done, err := mariaLoginFrom(ctx, "127.0.0.2", u, pw, db); err == nil {
		done()
		t.Error("a locked user got in")
	}
	must(t, "EnsureUser (unlocks)", d.EnsureUser(ctx, u, pw))
	must(t, "DropUser", d.DropUser(ctx, u))
	if repairs, err := d.ApplyAccess(ctx, p, nil); err != nil || len(repairs) != 0 {
		t.Errorf("ApplyAccess for a user without accounts = %q, %v", repairs, err)
	}
	if got := mariaHostsOf(t, ctx, admin, u); len(got) != 0 {
		t.Errorf("ApplyAccess created accounts for a dropped user: %q", got)
	}
}

// TestMariaDBAccessConcurrent: racing ApplyAccess calls (two drivers) and
// password rotations end with exactly one policy's accounts, all with the
// same password.
func TestMariaDBAccessConcurrent(t *testing.T) {
	d1 := newMaria(t)
	d2 := newMaria(t)
	ctx := testCtx(t)
	admin := mariaAdmin(t)
	const u, db, pw = "cust_mconc_u", "cust_mconc", "pw-mconc"
	mariaCleanup(t, d1, []string{db}, []string{u})
	must(t, "EnsureUser", d1.EnsureUser(ctx, u, pw))
	must(t, "EnsureDatabase", d1.EnsureDatabase(ctx, db, u))
	const n = 8
	policies := make([]provision.AccessPolicy, n)
	for i := range policies {
		var srcs []string
		for j := 0; j <= i; j++ {
			srcs = append(srcs, fmt.Sprintf("10.%d.%d.0/24", i, j))
		}
		policies[i] = provision.AccessPolicy{Closed: i%2 == 0, Databases: map[string]provision.DatabaseAccess{db: {Owner: u, Sources: pfx(srcs...)}}}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range policies {
		d := d1
		if i%2 == 1 {
			d = d2
		}
		wg.Go(func() { _, errs[i] = d.ApplyAccess(ctx, policies[i], nil) })
		wg.Go(func() { errs[n+i] = d.EnsureUser(ctx, u, fmt.Sprintf("pw-mconc-%d", i)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	got := mariaHostsOf(t, ctx, admin, u)
	match := -1
	for i, p := range policies {
		es, err := provision.CheckPolicy(cellar.MariaDB, p, mariaReservedDatabases)
		must(t, "CheckPolicy", err)
		want := mariaAccessHosts(p.Closed, es[0].Sources)
		slices.Sort(want)
		if slices.Equal(got, want) {
			match = i
		}
	}
	if match < 0 {
		t.Fatalf("accounts match no policy: %q", got)
	}
	// Every account has the same password, one of those set: no account
	// got a hash that a racing rotation had already replaced.
	accts, err := d1.userAccounts(ctx, u)
	must(t, "userAccounts", err)
	var valid []string
	for i := range n {
		valid = append(valid, MySQLNativeHash(fmt.Sprintf("pw-mconc-%d", i)))
	}
	for _, a := range accts {
		if a.hash != accts[0].hash || !slices.Contains(valid, a.hash) {
			t.Errorf("account %s has another password than %s", a.host, accts[0].host)
		}
	}
	if repairs, err := d1.ApplyAccess(ctx, policies[match], nil); err != nil || len(repairs) != 0 {
		t.Errorf("ApplyAccess with the winning policy = %q, %v", repairs, err)
	}
}
