package provision

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
)

// Unit tests of the engine-independent access code.

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
	check := func(t *testing.T, engine cellar.Engine, src string, err error, w want) {
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
		check(t, cellar.PostgreSQL, c.src, CheckSource(cellar.PostgreSQL, p), c.pg)
		check(t, cellar.MariaDB, c.src, CheckSource(cellar.MariaDB, p), c.mariadb)
	}
	if err := CheckSource(cellar.MariaDB, netip.MustParsePrefix("2001:db8::/64")); err == nil || !strings.Contains(err.Error(), "IPv6") {
		t.Errorf("MariaDB IPv6 network: message does not explain: %v", err)
	}
	if err := CheckSource(cellar.PostgreSQL, netip.MustParsePrefix("10.1.2.3/16")); err == nil || !strings.Contains(err.Error(), "10.1.0.0/16") {
		t.Errorf("host bits: message does not suggest the network: %v", err)
	}
	if err := CheckSource(cellar.PostgreSQL, netip.Prefix{}); err == nil {
		t.Error("CheckSource(zero Prefix) = nil")
	}
	if err := CheckSource("oracle", netip.MustParsePrefix("10.0.0.0/8")); err == nil {
		t.Error("CheckSource(unknown engine) = nil")
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
	es, err := CheckPolicy(cellar.PostgreSQL, p, reservedPG)
	if err != nil {
		t.Fatalf("CheckPolicy: %v", err)
	}
	if len(es) != 2 || es[0].Name != "cust_a" || es[1].Name != "cust_b" {
		t.Fatalf("entries not sorted by name: %+v", es)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("192.0.2.1/32")}
	if !slices.Equal(es[0].Sources, want) {
		t.Errorf("sources = %v, want %v (sorted, deduplicated)", es[0].Sources, want)
	}
	bad := []AccessPolicy{
		{Databases: map[string]DatabaseAccess{"Cust": {Owner: "u"}}},
		{Databases: map[string]DatabaseAccess{"cust": {Owner: ""}}},
		{Databases: map[string]DatabaseAccess{"cust": {Owner: "u", Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")}}}},
		{Databases: map[string]DatabaseAccess{"cust": {Owner: "u", Sources: []netip.Prefix{{}}}}},
	}
	for i, b := range bad {
		if _, err := CheckPolicy(cellar.PostgreSQL, b, reservedPG); err == nil {
			t.Errorf("bad policy %d accepted", i)
		}
	}
	if _, err := CheckPolicy(cellar.PostgreSQL, AccessPolicy{Databases: map[string]DatabaseAccess{"postgres": {Owner: "u"}}},
		reservedPG); !errors.Is(err, ErrReserved) {
		t.Errorf("reserved database: %v", err)
	}
}

// reservedPG is PostgreSQL's set of reserved databases, as its driver
// passes it to CheckPolicy.
var reservedPG = map[string]bool{"postgres": true, "template0": true, "template1": true}
