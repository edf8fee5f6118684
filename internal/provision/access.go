package provision

import (
	"errors"
	"fmt"
	"github.com/cellar/cellar/internal/cellar"
	"net/netip"
	"slices"
	"strings"
)

// ErrAccessUnsupported is returned (wrapped) by ApplyAccess for a server
// whose network access this process cannot manage, e.g. a PostgreSQL server
// whose pg_hba.conf is not on this host or not writable by this process.
var ErrAccessUnsupported = errors.New("network access of this server cannot be managed")

// ErrSourceUnsupported is returned (wrapped) by CheckSource, and by
// ApplyAccess for a policy holding such a source, when the engine cannot
// express the source as an access rule (e.g. an IPv6 network on MariaDB).
var ErrSourceUnsupported = errors.New("source not supported by the engine")

// AccessPolicy is the desired network access to a server's Cellar databases.
type AccessPolicy struct {
	// Closed: databases without rules accept connections only from loopback.
	// Otherwise (open) they accept any source (that can reach the port at
	// all).
	Closed bool
	// Databases maps each Cellar database on the server (every live one,
	// not only those with rules) to its owner and allowed sources.
	Databases map[string]DatabaseAccess
}

// DatabaseAccess is one database's entry in an AccessPolicy.
type DatabaseAccess struct {
	Owner string
	// Sources are the allowed client networks; empty = the default (open or
	// closed). Loopback (127.0.0.1, ::1) is always allowed in addition.
	Sources []netip.Prefix
}

// Loopback addresses, always allowed by ApplyAccess.
var (
	Loopback4 = netip.MustParsePrefix("127.0.0.1/32")
	Loopback6 = netip.MustParsePrefix("::1/128")
)

// CheckSource reports whether p is a source that the engine (cellar.PostgreSQL
// or cellar.MariaDB) can enforce as an access rule, so that the service can
// refuse a rule before storing it. A source must be a valid prefix without
// host bits (10.0.0.0/24, not 10.0.0.1/24) and not an IPv4-mapped IPv6
// address (give the IPv4 form). MariaDB matches IPv6 client addresses as
// exact strings, so on MariaDB an IPv6 source must be a single address
// (/128), and not a deprecated IPv4-compatible one (::a.b.c.d, which the
// server prints in a form of its own); other IPv6 sources give
// ErrSourceUnsupported. The error explains the refusal in words fit for an
// API client.
func CheckSource(engine cellar.Engine, p netip.Prefix) error {
	if engine != cellar.PostgreSQL && engine != cellar.MariaDB {
		return fmt.Errorf("unknown engine %q (want %q or %q)", engine, cellar.PostgreSQL, cellar.MariaDB)
	}
	if !p.IsValid() {
		return errors.New("invalid source: not a valid IP network (want e.g. 203.0.113.0/24)")
	}
	a := p.Addr()
	if a.Zone() != "" {
		return fmt.Errorf("invalid source %s: an IPv6 zone is not allowed", p)
	}
	if a.Is4In6() {
		return fmt.Errorf("source %s is an IPv4-mapped IPv6 address: give it in IPv4 form (e.g. %s): %w",
			p, mappedHint(p), ErrSourceUnsupported)
	}
	if engine == cellar.MariaDB && a.Is6() && p.Bits() != 128 {
		return fmt.Errorf("source %s: MariaDB cannot restrict access to an IPv6 network (it matches IPv6 client "+
			"addresses as exact strings, with no IPv6 netmasks); give single IPv6 addresses (/128), or IPv4 networks: %w",
			p, ErrSourceUnsupported)
	}
	if engine == cellar.MariaDB && a.Is6() && isV4Compatible(a) {
		return fmt.Errorf("source %s: a deprecated IPv4-compatible IPv6 address, which MariaDB writes differently "+
			"(::a.b.c.d) from its canonical form, so it cannot be matched; give the IPv4 form: %w", p, ErrSourceUnsupported)
	}
	if m := p.Masked(); m != p {
		return fmt.Errorf("invalid source %s: host bits are set after the /%d prefix (did you mean %s?)", p, p.Bits(), m)
	}
	return nil
}

// isV4Compatible reports whether a is a deprecated IPv4-compatible IPv6
// address (::a.b.c.d, the first 96 bits zero), other than :: and ::1.
func isV4Compatible(a netip.Addr) bool {
	b := a.As16()
	for _, x := range b[:12] {
		if x != 0 {
			return false
		}
	}
	return a != netip.IPv6Unspecified() && a != netip.IPv6Loopback()
}

// mappedHint returns the IPv4 form of an IPv4-mapped prefix, for an error
// message.
func mappedHint(p netip.Prefix) string {
	bits := p.Bits() - 96
	if bits < 0 {
		bits = 0
	}
	if q, err := p.Addr().Unmap().Prefix(bits); err == nil {
		return q.String()
	}
	return p.Addr().Unmap().String()
}

// AccessEntry is one database of a validated policy, with its sources
// deduplicated and sorted.
type AccessEntry struct {
	Name, Owner string
	Sources     []netip.Prefix
}

// CheckPolicy validates a policy for engine (names with ValidIdentifier, no
// reserved databases, sources with CheckSource) and returns its databases
// sorted by name, each with sorted, deduplicated sources.
func CheckPolicy(engine cellar.Engine, p AccessPolicy, reserved map[string]bool) ([]AccessEntry, error) {
	var out []AccessEntry
	for name, da := range p.Databases {
		if err := ValidNames("database", name, "owner", da.Owner); err != nil {
			return nil, fmt.Errorf("access policy: database %q: %w", name, err)
		}
		if reserved[name] {
			return nil, fmt.Errorf("access policy: database %q: %w", name, ErrReserved)
		}
		srcs := slices.Clone(da.Sources)
		for _, s := range srcs {
			if err := CheckSource(engine, s); err != nil {
				return nil, fmt.Errorf("access policy: database %q: %w", name, err)
			}
		}
		slices.SortFunc(srcs, ComparePrefix)
		srcs = slices.Compact(srcs)
		out = append(out, AccessEntry{Name: name, Owner: da.Owner, Sources: srcs})
	}
	slices.SortFunc(out, func(a, b AccessEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ComparePrefix orders prefixes by address, then by length.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// AllowedBy reports whether addr lies in one of the prefixes.
func AllowedBy(addr netip.Addr, prefixes []netip.Prefix) bool {
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
