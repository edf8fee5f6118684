package firewall

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/netns"
)

// listenEnv makes the test binary a plain TCP listener (see listen).
const listenEnv = "CELLAR_FIREWALL_TEST_LISTEN"

func TestMain(m *testing.M) {
	if addr := os.Getenv(listenEnv); addr != "" {
		serve(addr)
		return
	}
	os.Exit(m.Run())
}

// serve accepts and closes connections until killed.
func serve(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		c.Close()
	}
}

// site is the test network, all in namespaces: fw runs a private ufw and a
// listener on port; clients a and b each have their own veth link to fw
// with IPv4 and IPv6 addresses. The root namespace takes no part.
type site struct {
	fw, a, b       *netns.Namespace
	ufw            []string
	drv            *UFW
	port           int
	a4, a6, b4, b6 netip.Addr     // the clients' addresses
	fwA4, fwA6     netip.AddrPort // the listener as a reaches it
	fwB4, fwB6     netip.AddrPort // the listener as b reaches it
	a6net          netip.Prefix   // a's IPv6 /64
}

func nth(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

func cidr(p netip.Prefix, n int) string { return netip.PrefixFrom(nth(p, n), p.Bits()).String() }

func newSite(t *testing.T) *site {
	t.Helper()
	netns.Skip(t)
	s := &site{port: 15432}
	s.fw = netns.New(t, "fw")
	s.ufw = s.fw.WithPrivateUFW(t)
	s.a, s.b = netns.New(t, "ca"), netns.New(t, "cb")
	for _, c := range []struct {
		ns       *netns.Namespace
		v4, v6   *netip.Addr
		fw4, fw6 *netip.AddrPort
	}{{s.a, &s.a4, &s.a6, &s.fwA4, &s.fwA6}, {s.b, &s.b4, &s.b6, &s.fwB4, &s.fwB6}} {
		v4, v6 := netns.Subnet(t)
		netns.Link(t, s.fw, []string{cidr(v4, 1), cidr(v6, 1)}, c.ns, []string{cidr(v4, 2), cidr(v6, 2)})
		*c.v4, *c.v6 = nth(v4, 2), nth(v6, 2)
		*c.fw4 = netip.AddrPortFrom(nth(v4, 1), uint16(s.port))
		*c.fw6 = netip.AddrPortFrom(nth(v6, 1), uint16(s.port))
		if c.ns == s.a {
			s.a6net = v6
		}
	}
	s.hand(t, "default", "deny", "incoming")
	s.hand(t, "--force", "enable")
	s.listen(t)
	s.drv = NewUFW(s.ufw)
	return s
}

// hand runs ufw in fw directly, as an administrator would.
func (s *site) hand(t *testing.T, args ...string) string {
	t.Helper()
	argv := append(append([]string(nil), s.ufw...), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// listen runs a TCP listener on every address of fw (IPv4 and IPv6) by
// re-running this test binary there, until the test ends.
func (s *site) listen(t *testing.T) {
	t.Helper()
	cmd := s.fw.Command(context.Background(), os.Args[0])
	cmd.Env = append(os.Environ(), listenEnv+"=:"+strconv.Itoa(s.port))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Probe from inside fw itself, over its loopback (ufw admits lo).
	local := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(s.port))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if s.fw.CanConnect(context.Background(), local) {
			return
		}
	}
	t.Fatal("listener in the firewall namespace did not come up")
}

// reach is the set of expectations "client over IP version can connect".
type reach struct{ a4, a6, b4, b6 bool }

// expect checks all four paths at once (a refused path takes the whole
// connect timeout).
func (s *site) expect(t *testing.T, want reach, why string) {
	t.Helper()
	paths := []struct {
		name string
		ns   *netns.Namespace
		to   netip.AddrPort
		want bool
	}{
		{"A over IPv4", s.a, s.fwA4, want.a4},
		{"A over IPv6", s.a, s.fwA6, want.a6},
		{"B over IPv4", s.b, s.fwB4, want.b4},
		{"B over IPv6", s.b, s.fwB6, want.b6},
	}
	got := make([]bool, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() { got[i] = p.ns.CanConnect(context.Background(), p.to) })
	}
	wg.Wait()
	for i, p := range paths {
		if got[i] != p.want {
			t.Errorf("%s: %s to %s connects = %t, want %t\n%s", why, p.name, p.to, got[i], p.want, s.hand(t, "show", "added"))
		}
	}
}

func (s *site) apply(t *testing.T, desired ...Rule) []Change {
	t.Helper()
	ch, err := s.drv.Apply(context.Background(), desired)
	if err != nil {
		t.Fatalf("Apply(%v): %v", desired, err)
	}
	return ch
}

func (s *site) expectRules(t *testing.T, want ...Rule) {
	t.Helper()
	got, err := s.drv.Rules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Rules() = %v, want %v\n%s", got, want, s.hand(t, "show", "added"))
	}
}

func expectChanges(t *testing.T, got []Change, want ...Change) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

func added(r Rule) Change   { return Change{Added: true, Rule: r} }
func removed(r Rule) Change { return Change{Added: false, Rule: r} }

func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// TestUFW_Enforcement runs the driver against a real ufw in a namespace and
// checks, with real connections from two client hosts over IPv4 and IPv6,
// that the rules it writes are the ones enforced.
func TestUFW_Enforcement(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	ruleA4 := Rule{Port: s.port, Source: host(s.a4), Comment: "cellar:a4"}
	ruleA6 := Rule{Port: s.port, Source: s.a6net, Comment: "cellar:a6-net"}

	t.Run("no rules: nobody passes", func(t *testing.T) {
		if on, err := s.drv.Active(ctx); err != nil || !on {
			t.Fatalf("Active = %t, %v", on, err)
		}
		s.expectRules(t)
		s.expect(t, reach{}, "no rules")
	})

	t.Run("an IPv4 address admits only that client", func(t *testing.T) {
		expectChanges(t, s.apply(t, ruleA4), added(ruleA4))
		s.expect(t, reach{a4: true}, "rule for A's IPv4 address")
		s.expectRules(t, ruleA4)
		expectChanges(t, s.apply(t, ruleA4)) // idempotent
		if out := s.hand(t, "show", "added"); !strings.Contains(out, "ufw allow from "+s.a4.String()+" to any port "+strconv.Itoa(s.port)+" proto tcp comment 'cellar:a4'") {
			t.Fatalf("ufw does not show the rule as expected:\n%s", out)
		}
	})

	t.Run("an IPv6 /64 admits only that client", func(t *testing.T) {
		expectChanges(t, s.apply(t, ruleA6), added(ruleA6), removed(ruleA4))
		s.expect(t, reach{a6: true}, "rule for A's IPv6 /64")
		s.expectRules(t, ruleA6)
		expectChanges(t, s.apply(t, ruleA6))
	})

	t.Run("the empty set removes every Cellar rule", func(t *testing.T) {
		expectChanges(t, s.apply(t), removed(ruleA6))
		s.expect(t, reach{}, "no rules again")
		s.expectRules(t)
		expectChanges(t, s.apply(t))
	})

	t.Run("rules not Cellar's are left alone", func(t *testing.T) {
		s.hand(t, "allow", "from", s.b4.String(), "to", "any", "port", strconv.Itoa(s.port), "proto", "tcp")
		s.hand(t, "allow", "from", s.b6.String(), "to", "any", "port", "22", "proto", "tcp", "comment", "admin: ssh")
		defer s.hand(t, "delete", "allow", "from", s.b4.String(), "to", "any", "port", strconv.Itoa(s.port), "proto", "tcp")
		defer s.hand(t, "delete", "allow", "from", s.b6.String(), "to", "any", "port", "22", "proto", "tcp")
		expectChanges(t, s.apply(t, ruleA4), added(ruleA4))
		s.expect(t, reach{a4: true, b4: true}, "Cellar's rule for A and a hand rule for B")
		s.expectRules(t, ruleA4)
		expectChanges(t, s.apply(t), removed(ruleA4))
		s.expect(t, reach{b4: true}, "Cellar's rules gone, the hand rule stays")
		out := s.hand(t, "show", "added")
		for _, want := range []string{"ufw allow from " + s.b4.String() + " to any port " + strconv.Itoa(s.port) + " proto tcp\n", "comment 'admin: ssh'"} {
			if !strings.Contains(out+"\n", want) {
				t.Fatalf("hand rule %q disturbed:\n%s", want, out)
			}
		}
		// A Cellar rule for B's address finds the hand rule already admitting
		// B: nothing to do, and the hand rule keeps its (empty) comment.
		ruleB4 := Rule{Port: s.port, Source: host(s.b4), Comment: "cellar:b4"}
		expectChanges(t, s.apply(t, ruleB4))
		expectChanges(t, s.apply(t, ruleB4))
		if out := s.hand(t, "show", "added"); strings.Contains(out, "cellar:b4") {
			t.Fatalf("Apply took over a hand rule:\n%s", out)
		}
	})

	t.Run("a conflicting hand rule is reported, not replaced", func(t *testing.T) {
		s.hand(t, "deny", "from", s.a4.String(), "to", "any", "port", strconv.Itoa(s.port), "proto", "tcp")
		defer s.hand(t, "delete", "deny", "from", s.a4.String(), "to", "any", "port", strconv.Itoa(s.port), "proto", "tcp")
		ch, err := s.drv.Apply(ctx, []Rule{ruleA4, ruleA6})
		if err == nil || !strings.Contains(err.Error(), "does not manage") {
			t.Fatalf("Apply = %v, want a conflict error", err)
		}
		expectChanges(t, ch, added(ruleA6)) // the rest is still applied
		s.expect(t, reach{a6: true}, "A's IPv4 denied by hand, A's IPv6 admitted")
		if out := s.hand(t, "show", "added"); !strings.Contains(out, "ufw deny from "+s.a4.String()) {
			t.Fatalf("the deny rule was replaced:\n%s", out)
		}
		expectChanges(t, s.apply(t), removed(ruleA6))
	})

	t.Run("collapsed duplicates and comments round-trip", func(t *testing.T) {
		zzz := Rule{Port: s.port, Source: host(s.a4), Comment: "cellar:zzz"}
		bbb := Rule{Port: s.port, Source: host(s.a4), Comment: "cellar:bbb"}
		uuid := Rule{Port: s.port, Source: s.a6net, Comment: "cellar:6f9619ff-8b86-d011-b42d-00c04fc964ff"}
		expectChanges(t, s.apply(t, zzz, uuid, bbb), added(bbb), added(uuid))
		s.expectRules(t, bbb, uuid)
		expectChanges(t, s.apply(t, bbb, zzz, uuid))
		// A new comment for the same source and port replaces the old one in place.
		ccc := Rule{Port: s.port, Source: host(s.a4), Comment: "cellar:ccc"}
		expectChanges(t, s.apply(t, ccc), removed(bbb), added(ccc), removed(uuid))
		s.expectRules(t, ccc)
		s.expect(t, reach{a4: true}, "A's re-commented IPv4 rule")
		expectChanges(t, s.apply(t), removed(ccc))
	})

	t.Run("open to everyone, per IP version", func(t *testing.T) {
		open4 := Rule{Port: s.port, Source: netip.MustParsePrefix("0.0.0.0/0"), Comment: "cellar:open-pg1"}
		open6 := Rule{Port: s.port, Source: netip.MustParsePrefix("::/0"), Comment: "cellar:open-pg1"}
		expectChanges(t, s.apply(t, open4, open6), added(open4), added(open6))
		s.expect(t, reach{true, true, true, true}, "open to all")
		s.expectRules(t, open4, open6)
		expectChanges(t, s.apply(t, open6, open4))
		// ufw lists an IPv4-only and an IPv6-only "anywhere" rule alike;
		// the driver must still tell them apart.
		expectChanges(t, s.apply(t, open4), removed(open6))
		s.expect(t, reach{a4: true, b4: true}, "open over IPv4 only")
		s.expectRules(t, open4)
		expectChanges(t, s.apply(t, open4))
		other6 := Rule{Port: s.port, Source: netip.MustParsePrefix("::/0"), Comment: "cellar:open-six"}
		expectChanges(t, s.apply(t, other6), added(other6), removed(open4))
		s.expect(t, reach{a6: true, b6: true}, "open over IPv6 only")
		s.expectRules(t, other6)
		expectChanges(t, s.apply(t, other6))
		expectChanges(t, s.apply(t), removed(other6))
	})

	t.Run("a rule deleted by hand is restored", func(t *testing.T) {
		expectChanges(t, s.apply(t, ruleA4), added(ruleA4))
		s.hand(t, "delete", "allow", "from", s.a4.String(), "to", "any", "port", strconv.Itoa(s.port), "proto", "tcp")
		s.expect(t, reach{}, "deleted by hand")
		expectChanges(t, s.apply(t, ruleA4), added(ruleA4))
		s.expect(t, reach{a4: true}, "restored")
		expectChanges(t, s.apply(t), removed(ruleA4))
	})

	t.Run("concurrent calls are serialised", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var all []Change
		for range 4 {
			wg.Go(func() {
				ch, err := NewUFW(s.ufw).Apply(ctx, []Rule{ruleA4, ruleA6})
				if err != nil {
					t.Error(err)
				}
				if _, err := s.drv.Rules(ctx); err != nil {
					t.Error(err)
				}
				mu.Lock()
				all = append(all, ch...)
				mu.Unlock()
			})
		}
		wg.Wait()
		expectChanges(t, all, added(ruleA4), added(ruleA6))
		s.expectRules(t, ruleA4, ruleA6)
		expectChanges(t, s.apply(t), removed(ruleA4), removed(ruleA6))
	})

	t.Run("an inactive ufw stores rules without enforcing them", func(t *testing.T) {
		s.hand(t, "disable")
		if on, err := s.drv.Active(ctx); err != nil || on {
			t.Fatalf("Active after disable = %t, %v", on, err)
		}
		expectChanges(t, s.apply(t, ruleA4), added(ruleA4))
		s.expectRules(t, ruleA4)
		expectChanges(t, s.apply(t, ruleA4))
		s.expect(t, reach{true, true, true, true}, "ufw disabled")
		s.hand(t, "--force", "enable")
		if on, err := s.drv.Active(ctx); err != nil || !on {
			t.Fatalf("Active after enable = %t, %v", on, err)
		}
		s.expect(t, reach{a4: true}, "ufw enabled again")
		expectChanges(t, s.apply(t), removed(ruleA4))
	})
}
