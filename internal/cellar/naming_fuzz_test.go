package cellar_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// safeName is what every database and user name must look like on the
// servers: unquoted-safe in SQL on both engines, in pg_hba.conf and in
// MariaDB GRANT patterns (no quote, backtick, wildcard or upper case).
var safeName = regexp.MustCompile(`^[a-z0-9_]+$`)

// FuzzNames checks the naming rules with arbitrary customer ids and
// requested names. Invariants:
//   - nothing panics;
//   - a normalized requested name is a fixed point of normalization;
//   - whenever both parts are accepted, the database name is a safe
//     identifier of at most 63 bytes (PostgreSQL's limit: longer names are
//     silently truncated and could collide), which the provision layer
//     accepts too, and it parses back to the same customer for its engine
//     and to no customer for the other engine;
//   - ParseDatabaseName accepts only names that DatabaseName can build.
//
// The seeds run in plain `go test`; explore with
// go test -run='^$' -fuzz=FuzzNames ./internal/cellar
func FuzzNames(f *testing.F) {
	for _, s := range [][2]string{
		{"acme", "orders"}, {"a", "A"}, {strings.Repeat("z", 24), strings.Repeat("Q", 30)},
		{strings.Repeat("z", 25), "x"}, {"acme", strings.Repeat("x", 31)}, {"", ""}, {"ACME", "x"},
		{"ac_me", "x"}, {"acme", "x_pg_y"}, {"acme", "ünï"}, {"acme", "K"}, {"acme", "a`b"},
		{"acme", "x\n"}, {"acme\n", "x"}, {"acme", "_"}, {"0", "0"}, {"acme", "ſ"},
	} {
		f.Add(s[0], s[1], "cust_"+s[0]+"_pg_"+s[1])
	}
	f.Add("acme", "x", "cust_acme_my_x")
	f.Add("acme", "x", "cust__pg_x")
	f.Add("acme", "x", "cust_acme_pg_x\n")
	f.Fuzz(func(t *testing.T, customer, requested, parsed string) {
		norm, nerr := cellar.NormalizeRequestedName(requested)
		if nerr == nil {
			if again, err := cellar.NormalizeRequestedName(norm); err != nil || again != norm {
				t.Fatalf("normalizing %q gave %q, which normalizes to %q (%v)", requested, norm, again, err)
			}
			if len(norm) > cellar.MaxRequestedNameLen {
				t.Fatalf("normalized name %q is longer than %d", norm, cellar.MaxRequestedNameLen)
			}
		}
		cerr := cellar.ValidateCustomerID(customer)
		if cerr == nil && nerr == nil {
			for _, engine := range cellar.Engines {
				name := cellar.DatabaseName(customer, engine, norm)
				checkSafe(t, name)
				got, err := cellar.ParseDatabaseName(engine, name)
				if err != nil || got != customer {
					t.Fatalf("%s: %q parses to customer %q (%v), want %q", engine, name, got, err, customer)
				}
				for _, other := range cellar.Engines {
					if other != engine {
						if _, err := cellar.ParseDatabaseName(other, name); err == nil {
							t.Fatalf("%q is accepted as a %s name too", name, other)
						}
					}
				}
			}
		}
		for _, engine := range cellar.Engines {
			c, err := cellar.ParseDatabaseName(engine, parsed)
			if err != nil {
				continue
			}
			checkSafe(t, parsed)
			suffix := strings.TrimPrefix(parsed, "cust_"+c+"_"+engine.Short()+"_")
			if cellar.ValidateCustomerID(c) != nil || cellar.DatabaseName(c, engine, suffix) != parsed {
				t.Fatalf("%s: %q parsed to customer %q, which does not build it back", engine, parsed, c)
			}
		}
	})
}

func checkSafe(t *testing.T, name string) {
	t.Helper()
	if len(name) > provision.MaxIdentifierLen || !safeName.MatchString(name) {
		t.Fatalf("%q is not a safe identifier of at most %d bytes", name, provision.MaxIdentifierLen)
	}
	if err := provision.ValidIdentifier(name); err != nil {
		t.Fatalf("%q is refused by the provision layer: %v", name, err)
	}
}

// The generated suffix is always a valid requested name.
func TestGeneratedSuffix_IsAValidRequestedName(t *testing.T) {
	for range 200 {
		s := cellar.GeneratedSuffix(time.Now())
		if n, err := cellar.NormalizeRequestedName(s); err != nil || n != s {
			t.Fatalf("generated suffix %q: %q, %v", s, n, err)
		}
	}
}
