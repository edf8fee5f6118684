package postgres

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// FuzzAccessSource checks how an access rule's network reaches PostgreSQL.
// Invariants, for every source CheckSource accepts for the engine:
//   - nothing panics;
//   - the pg_hba.conf line names exactly that network (its address field
//     parses back to the same prefix) and is one line of five fields, so
//     no source can add a line or a field.
//
// The seeds run in plain `go test`; explore with
// go test -short -run='^$' -fuzz=FuzzAccessSource ./internal/provision/postgres
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
		if provision.CheckSource(cellar.PostgreSQL, p) == nil {
			lines := pgHBASection("cellar_admin", true, []provision.AccessEntry{{Name: "cust_a_pg_x", Owner: "cust_a_pg_x", Sources: []netip.Prefix{p}}})
			line := lines[len(lines)-4] // the source's line, before the database's reject, the catch-all and the end marker
			f := strings.Fields(line)
			if strings.ContainsAny(line, "\r\n") || len(f) != 5 || f[0] != "host" || f[1] != "cust_a_pg_x" || f[4] != "scram-sha-256" {
				t.Fatalf("pg_hba.conf line for %v is %q", p, line)
			}
			if back, err := netip.ParsePrefix(f[3]); err != nil || back != p {
				t.Fatalf("pg_hba.conf address %q for %v parses to %v (%v)", f[3], p, back, err)
			}
		}
	})
}
