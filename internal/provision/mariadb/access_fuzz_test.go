package mariadb

import (
	"math/bits"
	"net/netip"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// parseMariaHost reads a host pattern as mariaHost writes it (a bare
// address, or IPv4 address/netmask) back into a network.
func parseMariaHost(h string) (netip.Prefix, bool) {
	addr, mask, found := strings.Cut(h, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	if !found {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || !m.Is4() || !a.Is4() {
		return netip.Prefix{}, false
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := bits.LeadingZeros32(^v)
	if ones < 32 && v<<ones != 0 { // not a contiguous netmask
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

// FuzzAccessSource checks how an access rule's network reaches MariaDB.
// Invariants, for every source CheckSource accepts for the engine:
//   - nothing panics;
//   - the account host pattern parses back to exactly that network, never
//     a wider one, and contains no wildcard;
//   - a client address:port lets a session in (mariaOwnerPlan.allows)
//     exactly when the network contains the address or it is loopback.
//
// The seeds run in plain `go test`; explore with
// go test -short -run='^$' -fuzz=FuzzAccessSource ./internal/provision/mariadb
func FuzzAccessSource(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.0/24", "10.0.0.7"}, {"10.0.0.0/24", "10.0.1.7"}, {"0.0.0.0/0", "1.2.3.4"}, {"192.0.2.10/32", "192.0.2.10"},
		{"2001:db8::1/128", "2001:db8::1"}, {"2001:db8::/32", "2001:db8::5"}, {"::ffff:10.0.0.0/120", "10.0.0.1"},
		{"10.0.0.1/24", "10.0.0.1"}, {"::/0", "::1"}, {"::a0b:c0d/128", "10.11.12.13"}, {"128.0.0.0/1", "127.0.0.1"},
		{"10.0.0.0/31", "10.0.0.1"}, {"10.0.0.0/8", "::ffff:10.1.2.3"}, {"2001:db8::1/128", "2001:db8::2"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, source, client string) {
		p, err := netip.ParsePrefix(source)
		if err != nil {
			return
		}
		if provision.CheckSource(cellar.MariaDB, p) == nil {
			h := mariaHost(p)
			if strings.ContainsAny(h, "%_`'\" \n") {
				t.Fatalf("MariaDB host pattern %q for %v holds a wildcard or quote", h, p)
			}
			if back, ok := parseMariaHost(h); !ok || back != p {
				t.Fatalf("MariaDB host pattern %q for %v reads back as %v", h, p, back)
			}
			// PROCESSLIST shows a TCP client as address:port.
			pl := &mariaOwnerPlan{owner: "cust_a_my_x", sources: []netip.Prefix{p}}
			if addr, err := netip.ParseAddr(client); err == nil && addr.Zone() == "" {
				host := addr.String() + ":3306"
				addr = addr.Unmap()
				want := p.Contains(addr) || addr == provision.Loopback4.Addr() || addr == provision.Loopback6.Addr()
				if got := pl.allows(host); got != want {
					t.Fatalf("allows(%q) with source %v = %t, want %t", host, p, got, want)
				}
			}
		}
	})
}
