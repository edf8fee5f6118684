package cellar_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// FuzzParseSource checks how an access rule's ip_address is read.
// Invariants:
//   - nothing panics;
//   - an accepted source is a valid network without host bits, zone or
//     IPv4-mapped form, and formatting it parses back to the same network
//     (what is stored and written to pg_hba.conf or MariaDB is what the
//     client meant, never wider);
//   - the PostgreSQL engine can enforce every accepted source; MariaDB
//     refuses only with ErrSourceUnsupported (a source it cannot express),
//     never by disagreeing about validity;
//   - a single address becomes a host network (/32 or /128).
//
// The seeds run in plain `go test`; explore with
// go test -run='^$' -fuzz=FuzzParseSource ./internal/cellar
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{
		"192.0.2.10", "10.0.0.0/24", "10.0.0.1/24", "0.0.0.0/0", "::/0", "2001:db8::/32", "2001:db8::1",
		"::ffff:10.0.0.1", "::ffff:10.0.0.0/120", "fe80::1%eth0", "fe80::1%eth0/128", " 10.0.0.0/8 ", "",
		"10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "/24", "10.0.0", "010.0.0.1", "1.2.3.4/32\n", "::1.2.3.4",
		"10.0.0.0/8,10.0.0.0/16", "10.0.0.0 /8", "2001:DB8::/32", "1e0::/16",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := cellar.ParseSource(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p.Masked() != p || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("ParseSource(%q) accepted %v", s, p)
		}
		if back, err := cellar.ParseSource(p.String()); err != nil || back != p {
			t.Fatalf("ParseSource(%q) = %v, whose text parses to %v (%v)", s, p, back, err)
		}
		if back, err := netip.ParsePrefix(p.String()); err != nil || back != p {
			t.Fatalf("%v does not survive netip.ParsePrefix: %v (%v)", p, back, err)
		}
		if !strings.Contains(s, "/") && p.Bits() != p.Addr().BitLen() {
			t.Fatalf("single address %q became %v", s, p)
		}
		if err := provision.CheckSource(cellar.PostgreSQL, p); err != nil {
			t.Fatalf("accepted %v, which the PostgreSQL engine refuses: %v", p, err)
		}
		if err := provision.CheckSource(cellar.MariaDB, p); err != nil && !errors.Is(err, provision.ErrSourceUnsupported) {
			t.Fatalf("accepted %v, which the MariaDB engine calls invalid: %v", p, err)
		}
	})
}
