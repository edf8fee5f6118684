package provisiontest

// Small helpers the engines' tests share.

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Ctx is a test's context: a minute, cancelled when the test ends.
func Ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Must fails the test if err is set, naming what failed.
func Must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Prefixes parses networks, panicking on a bad one.
func Prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

// HasRepair reports whether one of ApplyAccess's repairs mentions all parts.
func HasRepair(repairs []string, parts ...string) bool {
	for _, r := range repairs {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(r, p)
		}
		if ok {
			return true
		}
	}
	return false
}
