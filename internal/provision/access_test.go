package provision

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Unit tests of the engine-independent access code, and the helpers the
// integration tests use to connect from a chosen loopback source address
// (Linux routes all of 127.0.0.0/8 to lo, so 127.0.0.2 and 127.0.0.3 are
// distinct clients to the servers).

func TestCheckSource(t *testing.T) {
	type want int
	const (
		ok want = iota
		invalid
		unsupported
	)
	cases := []struct {
		src         string
		pg, mariadb want
	}{
		{"203.0.113.7/32", ok, ok},
		{"203.0.113.0/24", ok, ok},
		{"10.0.0.0/8", ok, ok},
		{"0.0.0.0/0", ok, ok},
		{"127.0.0.2/32", ok, ok},
		{"203.0.113.7/24", invalid, invalid}, // host bits set
		{"10.1.2.3/16", invalid, invalid},
		{"fd00:203:1::2/128", ok, ok},
		{"2001:db8::1/128", ok, ok},
		{"2001:db8::/64", ok, unsupported},
		{"::/0", ok, unsupported},
		{"2001:db8::1/64", invalid, unsupported}, // host bits set (MariaDB refuses the network first)
		{"::ffff:192.0.2.1/128", unsupported, unsupported},
		{"::192.0.2.1/128", ok, unsupported}, // IPv4-compatible: MariaDB prints it as ::192.0.2.1
		{"::1/128", ok, ok},
		{"::ffff:192.0.2.0/120", unsupported, unsupported},
	}
	check := func(t *testing.T, engine, src string, err error, w want) {
		t.Helper()
		switch w {
		case ok:
			if err != nil {
				t.Errorf("CheckSource(%s, %s) = %v, want nil", engine, src, err)
			}
		case invalid:
			if err == nil || errors.Is(err, ErrSourceUnsupported) {
				t.Errorf("CheckSource(%s, %s) = %v, want an invalid-source error", engine, src, err)
			}
		case unsupported:
			if !errors.Is(err, ErrSourceUnsupported) {
				t.Errorf("CheckSource(%s, %s) = %v, want ErrSourceUnsupported", engine, src, err)
			}
		}
	}
	for _, c := range cases {
		p := netip.MustParsePrefix(c.src)
		check(t, EnginePostgres, c.src, CheckSource(EnginePostgres, p), c.pg)
		check(t, EngineMariaDB, c.src, CheckSource(EngineMariaDB, p), c.mariadb)
	}
	if err := CheckSource(EngineMariaDB, netip.MustParsePrefix("2001:db8::/64")); err == nil || !strings.Contains(err.Error(), "IPv6") {
		t.Errorf("MariaDB IPv6 network: message does not explain: %v", err)
	}
	if err := CheckSource(EnginePostgres, netip.MustParsePrefix("10.1.2.3/16")); err == nil || !strings.Contains(err.Error(), "10.1.0.0/16") {
		t.Errorf("host bits: message does not suggest the network: %v", err)
	}
	if err := CheckSource(EnginePostgres, netip.Prefix{}); err == nil {
		t.Error("CheckSource(zero Prefix) = nil")
	}
	if err := CheckSource("oracle", netip.MustParsePrefix("10.0.0.0/8")); err == nil {
		t.Error("CheckSource(unknown engine) = nil")
	}
}

func TestMariaHost(t *testing.T) {
	for src, want := range map[string]string{
		"203.0.113.7/32":           "203.0.113.7",
		"203.0.113.0/24":           "203.0.113.0/255.255.255.0",
		"10.0.0.0/8":               "10.0.0.0/255.0.0.0",
		"172.16.0.0/12":            "172.16.0.0/255.240.0.0",
		"127.0.0.0/29":             "127.0.0.0/255.255.255.248",
		"0.0.0.0/0":                "0.0.0.0/0.0.0.0",
		"fd00:203:1::2/128":        "fd00:203:1::2",
		"2001:DB8:0:0:0:0:0:1/128": "2001:db8::1",
	} {
		if got := mariaHost(netip.MustParsePrefix(src)); got != want {
			t.Errorf("mariaHost(%s) = %q, want %q", src, got, want)
		}
	}
	if got := mariaAccessHosts(false, nil); !slices.Equal(got, []string{"%"}) {
		t.Errorf("open, no sources: %v", got)
	}
	if got := mariaAccessHosts(true, nil); !slices.Equal(got, []string{"127.0.0.1", "::1", "localhost"}) {
		t.Errorf("closed, no sources: %v", got)
	}
	got := mariaAccessHosts(false, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")})
	if !slices.Equal(got, []string{"10.0.0.0/255.0.0.0", "127.0.0.1", "::1", "localhost"}) {
		t.Errorf("open, sources: %v", got)
	}
}

func TestMariaPlanAllows(t *testing.T) {
	pl := &mariaOwnerPlan{sources: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::2/128")}}
	for host, want := range map[string]bool{
		"localhost":       true,
		"127.0.0.1:4321":  true,
		"::1:4321":        true,
		"[::1]:4321":      true,
		"10.1.200.3:5555": true,
		"10.2.0.1:5555":   false,
		"fd00::2:5555":    true,
		"fd00::3:5555":    false,
		"127.0.0.2:4321":  false,
		"somehost:4321":   false,
		"":                false,
	} {
		if got := pl.allows(host); got != want {
			t.Errorf("allows(%q) = %v, want %v", host, got, want)
		}
	}
	if !(&mariaOwnerPlan{anyHost: true}).allows("192.0.2.1:1") {
		t.Error("'%' plan refuses a host")
	}
}

func TestCheckPolicy(t *testing.T) {
	p := AccessPolicy{Databases: map[string]DatabaseAccess{
		"cust_b": {Owner: "cust_b_u"},
		"cust_a": {Owner: "cust_a_u", Sources: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"),
			netip.MustParsePrefix("10.0.0.0/16"),
		}},
	}}
	es, err := checkPolicy(EnginePostgres, p, pgReservedDatabases)
	must(t, "checkPolicy", err)
	if len(es) != 2 || es[0].name != "cust_a" || es[1].name != "cust_b" {
		t.Fatalf("entries not sorted by name: %+v", es)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("192.0.2.1/32")}
	if !slices.Equal(es[0].sources, want) {
		t.Errorf("sources = %v, want %v (sorted, deduplicated)", es[0].sources, want)
	}
	bad := []AccessPolicy{
		{Databases: map[string]DatabaseAccess{"Cust": {Owner: "u"}}},
		{Databases: map[string]DatabaseAccess{"cust": {Owner: ""}}},
		{Databases: map[string]DatabaseAccess{"cust": {Owner: "u", Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")}}}},
		{Databases: map[string]DatabaseAccess{"cust": {Owner: "u", Sources: []netip.Prefix{{}}}}},
	}
	for i, b := range bad {
		if _, err := checkPolicy(EnginePostgres, b, pgReservedDatabases); err == nil {
			t.Errorf("bad policy %d accepted", i)
		}
	}
	if _, err := checkPolicy(EnginePostgres, AccessPolicy{Databases: map[string]DatabaseAccess{"postgres": {Owner: "u"}}},
		pgReservedDatabases); !errors.Is(err, ErrReserved) {
		t.Errorf("reserved database: %v", err)
	}
}

func TestSpliceHBA(t *testing.T) {
	section := []string{pgHBABegin, "host all admin all scram-sha-256", pgHBAEnd}
	sec := strings.Join(section, "\n") + "\n"
	own := "# operator\nlocal all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
	cases := []struct {
		name, in, out string
		found         int
		bad           bool
	}{
		{"none", own, sec + own, 0, false},
		{"at top", sec + own, sec + own, 1, false},
		{"in the middle", "# operator\n" + sec + "local all all scram-sha-256\n", sec + "# operator\nlocal all all scram-sha-256\n", 1, false},
		{"edited", pgHBABegin + "\nhost all all all trust\n" + pgHBAEnd + "\n" + own, sec + own, 1, false},
		{"twice", sec + own + sec, sec + own, 2, false},
		{"no newline at end", "local all all scram-sha-256", sec + "local all all scram-sha-256", 0, false},
		{"mangled marker tail", "# BEGIN CELLAR MANAGED SECTION -- do not edit\nx\n# END CELLAR MANAGED SECTION\n" + own, sec + own, 1, false},
		{"empty", "", sec, 0, false},
		{"unterminated", pgHBABegin + "\n" + own, "", 0, true},
		{"END alone", own + pgHBAEnd + "\n", "", 0, true},
		{"nested", pgHBABegin + "\n" + pgHBABegin + "\n" + pgHBAEnd + "\n", "", 0, true},
	}
	for _, c := range cases {
		out, found, err := spliceHBA(c.in, section)
		if c.bad {
			if err == nil {
				t.Errorf("%s: no error", c.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if out != c.out || len(found) != c.found {
			t.Errorf("%s: got %q (%d sections found), want %q (%d)", c.name, out, len(found), c.out, c.found)
		}
	}

	// The report of changes.
	want := []string{pgHBABegin, "a", "b", "c", pgHBAEnd}
	if got := hbaChanges("/x", nil, want); len(got) != 1 || !strings.Contains(got[0], "added the Cellar section") {
		t.Errorf("new section: %v", got)
	}
	got := hbaChanges("/x", [][]string{{"a", "c", "evil"}}, want)
	if !slices.Equal(got, []string{`pg_hba.conf: added line "b"`, `pg_hba.conf: removed line "evil"`}) {
		t.Errorf("diff: %v", got)
	}
	if got := hbaChanges("/x", [][]string{{"c", "b", "a"}}, want); len(got) != 1 || !strings.Contains(got[0], "moved") {
		t.Errorf("reordered: %v", got)
	}
	if got := hbaChanges("/x", [][]string{{"a"}, {"b", "c"}}, want); len(got) != 1 || !strings.Contains(got[0], "merged 2") {
		t.Errorf("two sections: %v", got)
	}
}

func TestPGHBASection(t *testing.T) {
	es := []accessEntry{
		{name: "cust_a", owner: "cust_a_u", sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::2/128")}},
		{name: "cust_b", owner: "cust_b_u"},
	}
	want := []string{
		pgHBABegin,
		pgHBANote,
		"host all postgres all scram-sha-256",
		"host all +cellar_load_logins all scram-sha-256",
		"host all all 127.0.0.1/32 scram-sha-256",
		"host all all ::1/128 scram-sha-256",
		"host cust_a cust_a_u 10.0.0.0/8 scram-sha-256",
		"host cust_a cust_a_u fd00::2/128 scram-sha-256",
		"host cust_a all all reject",
		"host all all all reject",
		pgHBAEnd,
	}
	if got := pgHBASection("postgres", true, es); !slices.Equal(got, want) {
		t.Errorf("closed section:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	open := slices.Delete(slices.Clone(want), len(want)-2, len(want)-1)
	if got := pgHBASection("postgres", false, es); !slices.Equal(got, open) {
		t.Errorf("open section:\n%s", strings.Join(got, "\n"))
	}
	for _, n := range []string{"all", "sameuser", "samerole", "replication"} {
		if pgHBAName("database", n) == nil {
			t.Errorf("pgHBAName(%q) = nil", n)
		}
	}
}

// dialFrom returns a dialer whose connections come from the local address
// src (e.g. "127.0.0.2").
func dialFrom(src string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
}

var (
	mariaNetsMu sync.Mutex
	mariaNets   = map[string]bool{}
)

// mariaNetFrom registers (once) a go-sql-driver network whose connections
// come from src, and returns its name for Config.Net.
func mariaNetFrom(src string) string {
	name := "tcp-from-" + src
	mariaNetsMu.Lock()
	defer mariaNetsMu.Unlock()
	if !mariaNets[name] {
		d := dialFrom(src)
		mysql.RegisterDialContext(name, func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		})
		mariaNets[name] = true
	}
	return name
}
