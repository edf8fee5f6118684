package netns

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listenEnv makes the test binary a plain TCP listener (see listen).
const listenEnv = "CELLAR_NETNS_TEST_LISTEN"

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

// listen runs a TCP listener on every address of ns (IPv4 and IPv6) by
// re-running this test binary there, until the test ends.
func listen(t *testing.T, ns *Namespace, port int) {
	t.Helper()
	cmd := ns.Command(context.Background(), os.Args[0])
	cmd.Env = append(os.Environ(), listenEnv+"=:"+strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	local := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ns.CanConnect(context.Background(), local) {
			return
		}
	}
	t.Fatalf("listener in %s did not come up", ns.Name)
}

func nth(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

func cidr(p netip.Prefix, n int) string { return netip.PrefixFrom(nth(p, n), p.Bits()).String() }

func namespaces(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	return string(out)
}

func rootLinks(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link show: %v\n%s", err, out)
	}
	return string(out)
}

func TestNameTime(t *testing.T) {
	name := newName("ab1")
	if !strings.HasPrefix(name, NamePrefix+"ab1-") {
		t.Fatalf("name %q", name)
	}
	at, ok := nameTime(name)
	if !ok || time.Since(at) > time.Minute || time.Since(at) < -time.Minute {
		t.Fatalf("nameTime(%q) = %v, %t", name, at, ok)
	}
	for _, bad := range []string{"cel-", "cel-ab", "cel-ab-zz-123456", "other-ab-6000000-123456", "cel-ab-6000000-12345", "cel-a-b-6000000-123456", "cel-ab-6000000-12345g"} {
		if _, ok := nameTime(bad); ok {
			t.Errorf("nameTime(%q) accepted", bad)
		}
	}
}

func TestNew_MakesANamespaceAndRemovesItAtCleanup(t *testing.T) {
	Skip(t)
	var name string
	t.Run("inner", func(t *testing.T) {
		n := New(t, "nt")
		name = n.Name
		if !strings.Contains(namespaces(t), name) {
			t.Fatalf("namespace %s not listed", name)
		}
		out, err := n.Command(context.Background(), "ip", "-o", "link", "show", "lo").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "LOOPBACK,UP") {
			t.Fatalf("lo in %s not up: %v\n%s", name, err, out)
		}
		n.WithPrivateUFW(t)
		if _, err := os.Stat(filepath.Join(etcNetns, name, "ufw", "user.rules")); err != nil {
			t.Fatal(err)
		}
	})
	if strings.Contains(namespaces(t), name) {
		t.Errorf("namespace %s left after cleanup", name)
	}
	if _, err := os.Stat(filepath.Join(etcNetns, name)); !os.IsNotExist(err) {
		t.Errorf("%s/%s left after cleanup: %v", etcNetns, name, err)
	}
}

func TestLink_BetweenNamespaces(t *testing.T) {
	Skip(t)
	var aIf, bIf string
	t.Run("inner", func(t *testing.T) {
		a, b := New(t, "la"), New(t, "lb")
		v4, v6 := Subnet(t)
		aIf, bIf = Link(t, a, []string{cidr(v4, 1), cidr(v6, 1)}, b, []string{cidr(v4, 2), cidr(v6, 2)})
		for _, ifc := range []string{aIf, bIf} {
			if len(ifc) > 15 || !strings.HasPrefix(ifc, NamePrefix) {
				t.Errorf("interface name %q", ifc)
			}
		}
		if strings.Contains(rootLinks(t), aIf) || strings.Contains(rootLinks(t), bIf) {
			t.Errorf("a namespace-to-namespace link has an end in the root namespace")
		}
		listen(t, b, 7000)
		ctx := context.Background()
		for _, addr := range []netip.Addr{nth(v4, 2), nth(v6, 2)} {
			if !a.CanConnect(ctx, netip.AddrPortFrom(addr, 7000)) {
				t.Errorf("a cannot connect to %s:7000 in b", addr)
			}
			if a.CanConnect(ctx, netip.AddrPortFrom(addr, 7001)) {
				t.Errorf("a connected to %s:7001 where nothing listens", addr)
			}
		}
	})
	if links := rootLinks(t); strings.Contains(links, aIf) || strings.Contains(links, bIf) {
		t.Errorf("veth %s/%s left after cleanup", aIf, bIf)
	}
}

// TestLink_RootEnd gives the root namespace its own end of a link, so a
// listener in this process is reached over it (the only way the root
// namespace takes part in test traffic).
func TestLink_RootEnd(t *testing.T) {
	Skip(t)
	var rootIf string
	t.Run("inner", func(t *testing.T) {
		n := New(t, "lr")
		v4, v6 := Subnet(t)
		rootIf, _ = Link(t, nil, []string{cidr(v4, 1), cidr(v6, 1)}, n, []string{cidr(v4, 2), cidr(v6, 2)})
		if !strings.Contains(rootLinks(t), rootIf) {
			t.Fatalf("root end %s not in the root namespace", rootIf)
		}
		for _, addr := range []netip.Addr{nth(v4, 1), nth(v6, 1)} {
			l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			ap := netip.MustParseAddrPort(l.Addr().String())
			if !n.CanConnect(context.Background(), ap) {
				t.Errorf("%s cannot reach the root end %s", n.Name, ap)
			}
			l.Close()
		}
	})
	if strings.Contains(rootLinks(t), rootIf) {
		t.Errorf("veth %s left after cleanup", rootIf)
	}
}

func TestSubnet(t *testing.T) {
	Skip(t)
	host, err := hostPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	a4, a6 := Subnet(t)
	b4, b6 := Subnet(t)
	for _, p := range []netip.Prefix{a4, b4} {
		if p.Bits() != 24 || !v4Pool.Contains(p.Addr()) || p.Masked() != p {
			t.Errorf("IPv4 subnet %s", p)
		}
	}
	for _, p := range []netip.Prefix{a6, b6} {
		if p.Bits() != 64 || !netip.MustParsePrefix("fd00::/8").Contains(p.Addr()) || p.Masked() != p {
			t.Errorf("IPv6 subnet %s", p)
		}
	}
	if a4.Overlaps(b4) || a6.Overlaps(b6) {
		t.Errorf("two calls gave overlapping subnets: %s %s, %s %s", a4, b4, a6, b6)
	}
	for _, p := range []netip.Prefix{a4, a6, b4, b6} {
		if overlapsAny(p, host) {
			t.Errorf("%s overlaps the host's addresses or routes", p)
		}
		if _, err := os.Stat(reserveFile(p)); err != nil {
			t.Errorf("%s not held: %v", p, err)
		}
	}
}

// TestWithPrivateUFW_LeavesTheHostAlone runs ufw in a namespace and checks
// the host's ufw files did not change.
func TestWithPrivateUFW_LeavesTheHostAlone(t *testing.T) {
	Skip(t)
	files := []string{"/etc/ufw/user.rules", "/etc/ufw/user6.rules", "/etc/ufw/ufw.conf", "/etc/default/ufw"}
	sums := func() string {
		h := sha256.New()
		for _, f := range files {
			raw, _ := os.ReadFile(f)
			h.Write(raw)
		}
		return fmt.Sprintf("%x", h.Sum(nil))
	}
	before := sums()
	n := New(t, "ufw")
	ufw := n.WithPrivateUFW(t)
	if want := []string{"ip", "netns", "exec", n.Name, "ufw"}; strings.Join(ufw, " ") != strings.Join(want, " ") {
		t.Fatalf("command %q, want %q", ufw, want)
	}
	run := func(args ...string) string {
		t.Helper()
		full := append(append([]string(nil), ufw...), args...)
		out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(full, " "), err, out)
		}
		return string(out)
	}
	if out := run("status"); !strings.Contains(out, "inactive") {
		t.Fatalf("a fresh private ufw should be inactive:\n%s", out)
	}
	run("--force", "enable")
	run("allow", "from", "10.201.2.3", "to", "any", "port", "22", "proto", "tcp", "comment", "netns-test")
	if out := run("show", "added"); !strings.Contains(out, "netns-test") {
		t.Fatalf("rule not stored in the namespace:\n%s", out)
	}
	if out := run("status"); !strings.Contains(out, "Status: active") {
		t.Fatalf("ufw not active in the namespace:\n%s", out)
	}
	if after := sums(); after != before {
		t.Fatal("the host's ufw files changed")
	}
}
