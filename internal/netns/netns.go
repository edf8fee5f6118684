// Package netns gives integration tests hosts of their own: Linux network
// namespaces joined by veth pairs, with private addresses, and optionally a
// private ufw. Everything it makes is removed at t.Cleanup, even when the
// test fails.
//
// Safety rules (see DESIGN-NOTES "Testing across a network, safely"): tests
// send traffic only over links they built. Never connect from the root
// namespace to an address that exists only inside a namespace (the root
// namespace would route it out through the real network); give the root
// namespace its own end of a veth with Link(t, nil, ...) or run both sides
// in namespaces.
//
// Everything this package creates on the host is named with NamePrefix
// ("cel-"): namespaces "cel-<prefix>-<unix time, hex>-<random>", their
// private /etc/netns/<name> directories, and veth interfaces
// "cel-<8 hex>a"/"cel-<8 hex>b". If a test process is killed before its
// cleanups run, the leftovers are recognisable by that prefix; New removes
// namespaces of this package that are more than an hour old and have no
// process left inside (and their /etc/netns directories).
//
// Everything here needs root and iproute2; use Skip (or let New call it) so
// that tests skip with a visible reason where namespaces are unavailable.
// Set CELLAR_NETNS_REQUIRED=1 to turn such skips into failures (for CI
// machines that are expected to run them).
package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NamePrefix starts the name of every namespace, veth interface and
// /etc/netns directory this package creates.
const NamePrefix = "cel-"

// RequireEnv names the environment variable that, when set to a non-empty
// value, makes Skip fail the test instead of skipping it.
const RequireEnv = "CELLAR_NETNS_REQUIRED"

// staleAfter is how old a leftover namespace of this package must be before
// New removes it.
const staleAfter = time.Hour

// etcNetns is where `ip netns exec NAME` looks for per-namespace files to
// bind-mount over /etc.
const etcNetns = "/etc/netns"

var (
	availOnce sync.Once
	availErr  error
	sweepOnce sync.Once
)

// Available reports whether namespaces can be made here: Linux, root, the
// ip (iproute2) and bash commands, and a namespace can actually be
// created and deleted. The error says why not. The result is cached.
func Available() error {
	availOnce.Do(func() { availErr = probe() })
	return availErr
}

func probe() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("network namespaces need Linux, this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root (this process runs as uid " + strconv.Itoa(os.Geteuid()) + ")")
	}
	for _, cmd := range []string{"ip", "bash"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return fmt.Errorf("command %q not found: %w", cmd, err)
		}
	}
	name := newName("probe")
	if err := ip(context.Background(), "netns", "add", name); err != nil {
		return fmt.Errorf("cannot create a network namespace: %w", err)
	}
	if err := ip(context.Background(), "netns", "del", name); err != nil {
		return fmt.Errorf("cannot delete the probe namespace %s: %w", name, err)
	}
	return nil
}

// Skip skips the test under -short, and, with the reason, when Available
// fails. With CELLAR_NETNS_REQUIRED set the latter fails the test instead.
func Skip(t testing.TB) {
	t.Helper()
	if testing.Short() {
		// Namespaces, veths and firewalls are integration work, whatever
		// RequireEnv says.
		t.Skip("needs network namespaces (run without -short)")
	}
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("network namespaces are required (%s is set) but unavailable: %v", RequireEnv, err)
	}
	t.Skipf("SKIPPED: this test needs network namespaces, which are unavailable here: %v (set %s=1 to make this a failure)", err, RequireEnv)
}

// Namespace is a network namespace made by New.
type Namespace struct {
	Name string
}

var prefixRE = regexp.MustCompile(`^[a-z0-9]{1,12}$`)

// New creates a namespace named NamePrefix+prefix+"-"+time+"-"+random
// (prefix: 1-12 lowercase letters or digits), brings its loopback up, and
// registers a cleanup that deletes it and its /etc/netns directory. It skips
// the test (see Skip) when namespaces are unavailable.
func New(t testing.TB, prefix string) *Namespace {
	t.Helper()
	Skip(t)
	if !prefixRE.MatchString(prefix) {
		t.Fatalf("netns.New: prefix %q must be 1-12 lowercase letters or digits", prefix)
	}
	sweepOnce.Do(func() { sweepStale(t) })
	n := &Namespace{Name: newName(prefix)}
	ctx := context.Background()
	if err := ip(ctx, "netns", "add", n.Name); err != nil {
		t.Fatalf("netns.New: %v", err)
	}
	t.Cleanup(func() { n.remove(t) })
	if err := ip(ctx, "-n", n.Name, "link", "set", "lo", "up"); err != nil {
		t.Fatalf("netns.New: %v", err)
	}
	return n
}

// remove deletes the namespace and its /etc/netns directory. Processes a
// test left running inside it (they can only be the test's own) are killed
// first so the namespace really goes away.
func (n *Namespace) remove(t testing.TB) {
	ctx := context.Background()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "pids", n.Name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				if p, err := os.FindProcess(pid); err == nil {
					t.Logf("netns: killing process %d left in namespace %s", pid, n.Name)
					_ = p.Kill()
				}
			}
		}
	}
	if err := ip(ctx, "netns", "del", n.Name); err != nil {
		t.Errorf("netns cleanup: %v", err)
	}
	if err := removeEtc(n.Name); err != nil {
		t.Errorf("netns cleanup: %v", err)
	}
}

// removeEtc removes /etc/netns/NAME, only for names of this package.
// /etc/netns itself is left in place.
func removeEtc(name string) error {
	if !strings.HasPrefix(name, NamePrefix) || strings.ContainsAny(name, "/.") || len(name) <= len(NamePrefix) {
		return fmt.Errorf("refusing to remove %s/%q: not a name of this package", etcNetns, name)
	}
	return os.RemoveAll(filepath.Join(etcNetns, name))
}

// WithPrivateUFW gives the namespace its own /etc/ufw and /etc/default
// (copies under /etc/netns/NAME/, which `ip netns exec` bind-mounts over
// /etc), so ufw run there reads and writes only the copies and only this
// namespace's tables. The copy starts as a fresh ufw: disabled, with no user
// rules (the rule files are reset from ufw's templates in /usr/share/ufw);
// defaults (policies, IPv6) are the host's. Returns the command that runs
// ufw there: ip netns exec NAME ufw. It skips the test when ufw is not
// installed (or fails it under CELLAR_NETNS_REQUIRED).
func (n *Namespace) WithPrivateUFW(t testing.TB) []string {
	t.Helper()
	if _, err := exec.LookPath("ufw"); err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("ufw is required (%s is set) but not installed: %v", RequireEnv, err)
		}
		t.Skipf("SKIPPED: this test needs ufw, which is not installed: %v", err)
	}
	dir := filepath.Join(etcNetns, n.Name)
	cmd := []string{"ip", "netns", "exec", n.Name, "ufw"}
	if _, err := os.Stat(filepath.Join(dir, "ufw")); err == nil {
		return cmd // already private
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("netns: %v", err)
	}
	for _, c := range [][]string{
		{"cp", "-a", "/etc/ufw", filepath.Join(dir, "ufw")},
		{"mkdir", "-p", filepath.Join(dir, "default")},
		{"cp", "-a", "/etc/default/.", filepath.Join(dir, "default")},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("netns: %s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	// A fresh ufw: no user rules copied from the host, not enabled.
	for _, f := range []string{"user.rules", "user6.rules"} {
		tmpl, err := os.ReadFile(filepath.Join("/usr/share/ufw/iptables", f))
		if err != nil {
			continue // no template: keep the host's copy
		}
		if err := os.WriteFile(filepath.Join(dir, "ufw", f), tmpl, 0o640); err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
	conf := filepath.Join(dir, "ufw", "ufw.conf")
	if raw, err := os.ReadFile(conf); err == nil {
		re := regexp.MustCompile(`(?m)^ENABLED=.*$`)
		if err := os.WriteFile(conf, re.ReplaceAll(raw, []byte("ENABLED=no")), 0o644); err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
	return cmd
}

// Command returns a command that runs name with args inside the namespace
// (ip netns exec NAME name args...). The process is killed if the test
// process dies first (Linux parent-death signal), so a killed test leaves no
// helper running in its namespaces.
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// connectTimeout bounds one CanConnect attempt. A firewall that drops
// packets makes a refused attempt last this long.
const connectTimeout = 3 * time.Second

// CanConnect reports whether a TCP connection from inside the namespace to
// addr succeeds within a few seconds. It runs bash's /dev/tcp there, so the
// traffic starts in this namespace; the caller must make sure addr is
// reachable over links the test built.
func (n *Namespace) CanConnect(ctx context.Context, addr netip.AddrPort) bool {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	// ip netns exec replaces itself with bash, so the context's kill (and
	// the parent-death signal) reach the process that is connecting.
	cmd := n.Command(ctx, "bash", "-c", `exec 3<>"/dev/tcp/$0/$1"`,
		addr.Addr().String(), strconv.Itoa(int(addr.Port())))
	cmd.WaitDelay = time.Second
	return cmd.Run() == nil
}

// Link joins namespaces a and b (nil: the root namespace) with a veth pair,
// assigns the addresses (CIDR notation, IPv4 and/or IPv6; IPv6 ones without
// duplicate address detection so they are usable at once), brings both ends
// up and registers a cleanup that deletes the pair. It returns the names of
// a's and b's interfaces.
func Link(t testing.TB, a *Namespace, aAddrs []string, b *Namespace, bAddrs []string) (aIf, bIf string) {
	t.Helper()
	Skip(t)
	if a == b || (a != nil && b != nil && a.Name == b.Name) {
		t.Fatal("netns.Link: both ends in the same namespace")
	}
	for _, s := range append(append([]string(nil), aAddrs...), bAddrs...) {
		if _, err := netip.ParsePrefix(s); err != nil {
			t.Fatalf("netns.Link: address %q is not in CIDR notation: %v", s, err)
		}
	}
	id := randHex(4)
	aIf, bIf = NamePrefix+id+"a", NamePrefix+id+"b" // 13 characters, within IFNAMSIZ-1
	ctx := context.Background()
	args := []string{"link", "add", aIf}
	if a != nil {
		args = append(args, "netns", a.Name)
	}
	args = append(args, "type", "veth", "peer", "name", bIf)
	if b != nil {
		args = append(args, "netns", b.Name)
	}
	if err := ip(ctx, args...); err != nil {
		t.Fatalf("netns.Link: %v", err)
	}
	t.Cleanup(func() {
		// Deleting one end deletes the pair. An end whose namespace is
		// already gone took the pair with it.
		if exists(a, aIf) {
			if err := ip(ctx, nsArgs(a, "link", "del", aIf)...); err != nil && exists(a, aIf) {
				t.Errorf("netns cleanup: %v", err)
			}
		}
		if exists(b, bIf) {
			if err := ip(ctx, nsArgs(b, "link", "del", bIf)...); err != nil && exists(b, bIf) {
				t.Errorf("netns cleanup: %v", err)
			}
		}
	})
	for _, end := range []struct {
		ns    *Namespace
		ifc   string
		addrs []string
	}{{a, aIf, aAddrs}, {b, bIf, bAddrs}} {
		for _, s := range end.addrs {
			p := netip.MustParsePrefix(s)
			args := nsArgs(end.ns, "addr", "add", s, "dev", end.ifc)
			if p.Addr().Is6() && !p.Addr().Is4In6() {
				args = append(args, "nodad")
			}
			if err := ip(ctx, args...); err != nil {
				t.Fatalf("netns.Link: %v", err)
			}
		}
		if err := ip(ctx, nsArgs(end.ns, "link", "set", end.ifc, "up")...); err != nil {
			t.Fatalf("netns.Link: %v", err)
		}
	}
	for _, end := range []struct {
		ns  *Namespace
		ifc string
	}{{a, aIf}, {b, bIf}} {
		waitCarrier(t, end.ns, end.ifc)
	}
	return aIf, bIf
}

// waitCarrier waits until the interface reports LOWER_UP.
func waitCarrier(t testing.TB, ns *Namespace, ifc string) {
	t.Helper()
	var out []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		out, err = exec.Command("ip", nsArgs(ns, "-o", "link", "show", "dev", ifc)...).CombinedOutput()
		if err == nil && bytes.Contains(out, []byte("LOWER_UP")) {
			return
		}
	}
	t.Fatalf("netns.Link: %s did not come up: %s", ifc, out)
}

func exists(ns *Namespace, ifc string) bool {
	return exec.Command("ip", nsArgs(ns, "link", "show", "dev", ifc)...).Run() == nil
}

// nsArgs prefixes ip arguments with -n NAME for a namespace (none for root).
func nsArgs(ns *Namespace, args ...string) []string {
	if ns == nil {
		return args
	}
	return append([]string{"-n", ns.Name}, args...)
}

// Test subnets: IPv4 /24s inside 10.200.0.0/13, IPv6 /64s with a random ULA
// prefix (fd00::/8).
var v4Pool = netip.MustParsePrefix("10.200.0.0/13")

// Subnet picks a fresh private IPv4 /24 (within 10.200.0.0/13) and IPv6 /64
// (random, within fd00::/8) for a test. They overlap no address or route of
// the root namespace, nor any subnet another Subnet call (in this process or
// another one on the host) holds; the hold is released at cleanup. Which
// addresses of them go where is up to the test (see Link).
func Subnet(t testing.TB) (v4 netip.Prefix, v6 netip.Prefix) {
	t.Helper()
	Skip(t)
	used, err := hostPrefixes()
	if err != nil {
		t.Fatalf("netns.Subnet: %v", err)
	}
	for range 200 {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		n := binary.BigEndian.Uint16(b[:2]) % (1 << (24 - v4Pool.Bits())) // which /24 of the pool
		base := v4Pool.Addr().As4()
		v4 = netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1] + byte(n>>8), byte(n), 0}), 24)
		var a16 [16]byte
		a16[0] = 0xfd
		copy(a16[1:8], b[2:9])
		v6 = netip.PrefixFrom(netip.AddrFrom16(a16), 64)
		if overlapsAny(v4, used) || overlapsAny(v6, used) {
			continue
		}
		release, ok := reserve(v4, v6)
		if !ok {
			continue
		}
		t.Cleanup(release)
		return v4, v6
	}
	t.Fatal("netns.Subnet: found no free subnet in 10.200.0.0/13 after 200 tries")
	return
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.Overlaps(p) {
			return true
		}
	}
	return false
}

// routeTypes are the words ip route may print before a destination.
var routeTypes = map[string]bool{
	"unicast": true, "local": true, "broadcast": true, "multicast": true, "anycast": true,
	"unreachable": true, "blackhole": true, "prohibit": true, "throw": true, "nat": true,
}

// hostPrefixes lists the root namespace's addresses (as their subnets) and
// route destinations (default routes excluded).
func hostPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	addrs, err := exec.Command("ip", "-o", "addr", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip addr show: %w", err)
	}
	for _, line := range strings.Split(string(addrs), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" || f[i] == "inet6" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					out = append(out, p.Masked())
				}
			}
		}
	}
	for _, family := range []string{"-4", "-6"} {
		routes, err := exec.Command("ip", family, "route", "show", "table", "all").Output()
		if err != nil {
			return nil, fmt.Errorf("ip %s route show table all: %w", family, err)
		}
		for _, line := range strings.Split(string(routes), "\n") {
			f := strings.Fields(line)
			if len(f) > 1 && routeTypes[f[0]] {
				f = f[1:]
			}
			if len(f) == 0 || f[0] == "default" {
				continue
			}
			if p, err := netip.ParsePrefix(f[0]); err == nil {
				out = append(out, p.Masked())
			} else if a, err := netip.ParseAddr(f[0]); err == nil {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	return out, nil
}

// reserveDir holds one file per subnet pair in use by some test process on
// this host, created exclusively, so parallel test binaries never pick the
// same subnets.
func reserveDir() string { return filepath.Join(os.TempDir(), "cellar-netns-subnets") }

func reserveFile(p netip.Prefix) string {
	return filepath.Join(reserveDir(), strings.NewReplacer("/", "_", ":", "-").Replace(p.String()))
}

func reserve(v4, v6 netip.Prefix) (release func(), ok bool) {
	if err := os.MkdirAll(reserveDir(), 0o700); err != nil {
		return func() {}, true // cannot coordinate; the host check still applies
	}
	var made []string
	release = func() {
		for _, f := range made {
			_ = os.Remove(f)
		}
		_ = os.Remove(reserveDir()) // only when empty; a racing reserve just retries
	}
	for _, p := range []netip.Prefix{v4, v6} {
		f, err := os.OpenFile(reserveFile(p), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			release()
			return nil, false
		}
		fmt.Fprintf(f, "pid %d\n", os.Getpid())
		f.Close()
		made = append(made, f.Name())
	}
	return release, true
}

// sweepStale removes what killed test processes left behind: namespaces of
// this package more than staleAfter old with no process inside, their
// /etc/netns directories, /etc/netns directories of this package whose
// namespace is gone and that are as old, and subnet holds as old.
func sweepStale(t testing.TB) {
	ctx := context.Background()
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return
	}
	live := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		name := f[0]
		live[name] = true
		created, ok := nameTime(name)
		if !ok || time.Since(created) < staleAfter {
			continue
		}
		if pids, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output(); err != nil || len(bytes.TrimSpace(pids)) > 0 {
			continue
		}
		if err := ip(ctx, "netns", "del", name); err == nil {
			delete(live, name)
			_ = removeEtc(name)
			t.Logf("netns: removed stale namespace %s (created %s)", name, created.Format(time.RFC3339))
		}
	}
	if entries, err := os.ReadDir(etcNetns); err == nil {
		for _, e := range entries {
			name := e.Name()
			if _, ok := nameTime(name); !ok || live[name] {
				continue
			}
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAfter {
				if removeEtc(name) == nil {
					t.Logf("netns: removed stale %s/%s", etcNetns, name)
				}
			}
		}
	}
	if entries, err := os.ReadDir(reserveDir()); err == nil {
		for _, e := range entries {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAfter {
				_ = os.Remove(filepath.Join(reserveDir(), e.Name()))
			}
		}
	}
}

// newName makes "cel-<prefix>-<unix seconds, hex>-<6 random hex>".
func newName(prefix string) string {
	return fmt.Sprintf("%s%s-%x-%s", NamePrefix, prefix, time.Now().Unix(), randHex(3))
}

// nameTime recovers the creation time from a name made by newName.
func nameTime(name string) (time.Time, bool) {
	if !strings.HasPrefix(name, NamePrefix) {
		return time.Time{}, false
	}
	f := strings.Split(strings.TrimPrefix(name, NamePrefix), "-")
	if len(f) != 3 || !prefixRE.MatchString(f[0]) || len(f[2]) != 6 {
		return time.Time{}, false
	}
	if _, err := hex.DecodeString(f[2]); err != nil {
		return time.Time{}, false
	}
	secs, err := strconv.ParseInt(f[1], 16, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ip runs the ip command; the error carries its output.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
