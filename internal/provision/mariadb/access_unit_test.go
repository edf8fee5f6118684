package mariadb

import (
	"net/netip"
	"slices"
	"testing"
)

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
