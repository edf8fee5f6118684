package cellar

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ParseSource reads an address or CIDR block. A single address is a /32 or
// /128. A block with host bits set (10.0.0.1/24) is refused rather than
// silently widened or narrowed: the caller says what it means.
func ParseSource(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("is required: an IPv4 or IPv6 address or CIDR block, e.g. 192.0.2.10 or 10.0.0.0/24")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("%q is not an IP address or CIDR block", s)
		}
		if p.Masked() != p {
			return p, fmt.Errorf("%s has host bits set; the network is %s", s, p.Masked())
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an IP address or CIDR block", s)
		}
		if a.Zone() != "" {
			return p, errors.New("must not carry an IPv6 zone")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	switch a := p.Addr(); {
	case a.Is4In6():
		return p, fmt.Errorf("is an IPv4-mapped IPv6 address; write the IPv4 form %s", a.Unmap())
	}
	return p, nil
}
