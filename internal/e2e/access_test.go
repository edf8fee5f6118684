package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cellar/cellar/internal/netns"
	"github.com/cellar/cellar/internal/testenv"
)

// site is the test network: the database servers in the root namespace,
// two client hosts A and B in namespaces of their own, each on its own veth
// link, so the servers see two distinct client addresses (IPv4 and IPv6).
type site struct {
	env        *testenv.Env
	a, b       *client
	fw         *netns.Namespace // runs ufw and a listener standing in for the database host's firewall
	fwA, fwB   netip.Addr       // A's and B's addresses on their links to fw
	fwListener netip.Addr
}

// client is one host: a namespace, its addresses, and the server addresses it dials.
type client struct {
	ns         *netns.Namespace
	v4, v6     netip.Addr // the client's own addresses
	srv4, srv6 netip.Addr // the root namespace's end of the client's link
}

func newSite(t *testing.T, config map[string]string) *site {
	t.Helper()
	if testing.Short() {
		// Before building namespaces and a firewall for nothing.
		t.Skip("integration test: needs real servers and network namespaces (run without -short)")
	}
	netns.Skip(t)
	s := &site{}
	var listen []string
	for i, name := range []string{"ca", "cb"} {
		v4, v6 := netns.Subnet(t)
		c := &client{ns: netns.New(t, name)}
		c.srv4, c.v4 = nth(v4, 1), nth(v4, 2)
		c.srv6, c.v6 = nth(v6, 1), nth(v6, 2)
		netns.Link(t, nil, []string{pfx(c.srv4, v4), pfx(c.srv6, v6)}, c.ns, []string{pfx(c.v4, v4), pfx(c.v6, v6)})
		listen = append(listen, c.srv4.String(), c.srv6.String())
		if i == 0 {
			s.a = c
		} else {
			s.b = c
		}
	}
	// The firewall host: linked to A and B only (never reached from the root namespace).
	s.fw = netns.New(t, "cf")
	ufw := s.fw.WithPrivateUFW(t)
	for i, c := range []*client{s.a, s.b} {
		v4, _ := netns.Subnet(t)
		fwEnd, clientEnd := nth(v4, 1), nth(v4, 2)
		netns.Link(t, s.fw, []string{pfx(fwEnd, v4)}, c.ns, []string{pfx(clientEnd, v4)})
		if i == 0 {
			s.fwA, s.fwListener = clientEnd, fwEnd
		} else {
			s.fwB = clientEnd
		}
	}
	cfg := map[string]string{
		"CELLAR_FIREWALL":         "ufw",
		"CELLAR_FIREWALL_COMMAND": strings.Join(ufw, " "),
	}
	for k, v := range config {
		cfg[k] = v
	}
	if out, err := s.fw.Command(context.Background(), "ufw", "--force", "enable").CombinedOutput(); err != nil {
		t.Fatalf("enable ufw in %s: %v\n%s", s.fw.Name, err, out)
	}
	s.env = testenv.Start(t, testenv.Options{ExtraListen: listen, Config: cfg})
	return s
}

func nth(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

func pfx(a netip.Addr, p netip.Prefix) string { return netip.PrefixFrom(a, p.Bits()).String() }

// db is a database made through the API, with what a client needs.
type db struct {
	Engine, Name, User, Password string
	Port                         int
}

func create(t *testing.T, c *testenv.Client, engine, name string) db {
	t.Helper()
	var out struct {
		DBName   string `json:"db_name"`
		Username string `json:"username"`
		Password string `json:"password"`
		Port     int    `json:"port"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": name}).Decode(t, &out)
	return db{Engine: engine, Name: out.DBName, User: out.Username, Password: out.Password, Port: out.Port}
}

// login runs the real client for the engine inside the client's namespace,
// dialling the server over the client's own link (v6 picks IPv6), and
// reports whether it got in.
func (c *client) login(t *testing.T, d db, v6 bool) (bool, string) {
	t.Helper()
	host := c.srv4.String()
	if v6 {
		host = c.srv6.String()
	}
	ctx := context.Background()
	var args []string
	var env []string
	name := "psql"
	if d.Engine == "postgresql" {
		u := url.URL{Scheme: "postgresql", User: url.UserPassword(d.User, d.Password),
			Host: netip.AddrPortFrom(netip.MustParseAddr(host), uint16(d.Port)).String(), Path: "/" + d.Name,
			RawQuery: "connect_timeout=5&sslmode=disable"}
		args = []string{u.String(), "-XqAtc", "SELECT 1"}
	} else {
		name = "mariadb"
		args = []string{"--no-defaults", "-h", host, "-P", strconv.Itoa(d.Port), "-u", d.User, "--connect-timeout=5", d.Name, "-Ne", "SELECT 1"}
		env = []string{"MYSQL_PWD=" + d.Password}
	}
	cmd := c.ns.Command(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return err == nil && strings.TrimSpace(string(out)) == "1", string(out)
}

func expectLogin(t *testing.T, c *client, d db, v6, want bool, why string) {
	t.Helper()
	got, out := c.login(t, d, v6)
	if got != want {
		t.Fatalf("%s: %s login to %s (ipv6=%t) = %t, want %t\n%s", why, c.ns.Name, d.Name, v6, got, want, out)
	}
}

type rule struct {
	RuleID    string `json:"rule_id"`
	IPAddress string `json:"ip_address"`
	Port      int    `json:"port"`
}

func addRule(t *testing.T, c *testenv.Client, d db, source string) rule {
	t.Helper()
	var r rule
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases/"+d.Engine+"/"+d.Name+"/firewall",
		map[string]any{"ip_address": source, "description": "test " + source}).Decode(t, &r)
	return r
}

func deleteRule(t *testing.T, c *testenv.Client, d db, r rule) {
	t.Helper()
	c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/"+d.Engine+"/"+d.Name+"/firewall/"+r.RuleID, nil)
}

// TestAccessRules_ClosedDefault_RulesAdmitOnlyTheirSources proves the
// engine layer with real clients from two addresses, for both engines and
// both IP versions.
func TestAccessRules_ClosedDefault_RulesAdmitOnlyTheirSources(t *testing.T) {
	s := newSite(t, map[string]string{"CELLAR_ACCESS_DEFAULT": "closed"})
	for _, engine := range []string{"postgresql", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			owner, other := s.env.NewCustomer(t), s.env.NewCustomer(t)
			dA := create(t, owner, engine, "guarded")
			dB := create(t, other, engine, "neighbour")

			// Closed by default: nobody from the network.
			expectLogin(t, s.a, dA, false, false, "no rules, closed default")
			expectLogin(t, s.b, dA, false, false, "no rules, closed default")

			rA := addRule(t, owner, dA, s.a.v4.String())
			expectLogin(t, s.a, dA, false, true, "A is allowed")
			expectLogin(t, s.b, dA, false, false, "B is not allowed")
			// A rule for database A never opens database B.
			expectLogin(t, s.a, dB, false, false, "A's rule is for the other database")

			// IPv6: a single address works on both engines; a /64 on PostgreSQL.
			v6 := s.a.v6.String()
			if engine == "postgresql" {
				v6 = netip.PrefixFrom(s.a.v6, 64).Masked().String()
			}
			r6 := addRule(t, owner, dA, v6)
			expectLogin(t, s.a, dA, true, true, "A over IPv6 is allowed")
			expectLogin(t, s.b, dA, true, false, "B over IPv6 is not allowed")

			// B's neighbour admits B, not A.
			addRule(t, other, dB, s.b.v4.String())
			expectLogin(t, s.b, dB, false, true, "B allowed on its own database")
			expectLogin(t, s.a, dB, false, false, "A still not allowed on B's database")

			deleteRule(t, owner, dA, rA)
			deleteRule(t, owner, dA, r6)
			expectLogin(t, s.a, dA, false, false, "rule deleted")
			expectLogin(t, s.a, dA, true, false, "IPv6 rule deleted")
			expectLogin(t, s.b, dB, false, true, "the neighbour's rule is untouched")
		})
	}
}

// TestAccessRules_OpenDefault: without rules anyone reaching the port may
// log in; the first rule restricts the database to its sources.
func TestAccessRules_OpenDefault(t *testing.T) {
	s := newSite(t, nil)
	for _, engine := range []string{"postgresql", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			c := s.env.NewCustomer(t)
			d := create(t, c, engine, "public")
			expectLogin(t, s.a, d, false, true, "open default")
			expectLogin(t, s.b, d, false, true, "open default")
			r := addRule(t, c, d, s.a.v4.String())
			expectLogin(t, s.a, d, false, true, "A allowed")
			expectLogin(t, s.b, d, false, false, "B not in the rules")
			deleteRule(t, c, d, r)
			expectLogin(t, s.b, d, false, true, "no rules: open again")
		})
	}
}

// TestAccessRules_UFWLayer proves the firewall layer: ufw runs in its own
// namespace with a listener on the database server's port, and A and B
// dial it over their own links; Cellar's rules decide who gets through.
func TestAccessRules_UFWLayer(t *testing.T) {
	s := newSite(t, map[string]string{"CELLAR_ACCESS_DEFAULT": "closed"})
	c := s.env.NewCustomer(t)
	d := create(t, c, "postgresql", "walled")
	stop := listen(t, s.fw, d.Port)
	defer stop()
	target := netip.AddrPortFrom(s.fwListener, uint16(d.Port))
	ctx := context.Background()
	if s.a.ns.CanConnect(ctx, target) || s.b.ns.CanConnect(ctx, target) {
		t.Fatal("the firewall lets traffic through before any rule")
	}
	r := addRule(t, c, d, s.fwA.String())
	if !s.a.ns.CanConnect(ctx, target) {
		t.Fatal("A's rule did not open the firewall for A")
	}
	if s.b.ns.CanConnect(ctx, target) {
		t.Fatal("A's rule opened the firewall for B")
	}
	// The ufw rule carries the Cellar rule id.
	out, err := s.fw.Command(ctx, "ufw", "show", "added").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cellar:"+r.RuleID) {
		t.Fatalf("ufw rules do not name rule %s: %v\n%s", r.RuleID, err, out)
	}
	// Drift: someone deletes the ufw rule by hand; the reconciler puts it back.
	if out, err := s.fw.Command(ctx, "ufw", "delete", "allow", "from", s.fwA.String(), "to", "any", "port", strconv.Itoa(d.Port), "proto", "tcp").CombinedOutput(); err != nil {
		t.Fatalf("delete by hand: %v\n%s", err, out)
	}
	if s.a.ns.CanConnect(ctx, target) {
		t.Fatal("hand deletion did not take")
	}
	if rep := s.env.Reconcile(t); !strings.Contains(rep, "repaired firewall: added") {
		t.Errorf("reconcile did not report the repair:\n%s", rep)
	}
	if !s.a.ns.CanConnect(ctx, target) {
		t.Fatal("the reconciler did not restore the firewall rule")
	}
	// Deleting the database removes its rules everywhere.
	c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/postgresql/"+d.Name, nil)
	if s.a.ns.CanConnect(ctx, target) {
		t.Fatal("the firewall still admits A after the database was deleted")
	}
	out, _ = s.fw.Command(ctx, "ufw", "show", "added").CombinedOutput()
	if strings.Contains(string(out), r.RuleID) {
		t.Fatalf("ufw still has the deleted database's rule:\n%s", out)
	}
}

// TestAccessRules_ConcurrentChangesKeepEveryLine: rules added at once to
// many databases on one server all end up enforced.
func TestAccessRules_ConcurrentChangesKeepEveryLine(t *testing.T) {
	s := newSite(t, map[string]string{"CELLAR_ACCESS_DEFAULT": "closed"})
	c := s.env.NewCustomer(t)
	const n = 8
	dbs := make([]db, n)
	for i := range dbs {
		dbs[i] = create(t, c, "postgresql", fmt.Sprintf("busy%d", i))
	}
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addRule(t, c, dbs[i], s.a.v4.String())
		}()
	}
	wg.Wait()
	for _, d := range dbs {
		expectLogin(t, s.a, d, false, true, "every concurrent rule is enforced")
	}
	expectLogin(t, s.b, dbs[0], false, false, "B was never allowed")
}

// TestAccessRules_DriftInTheEngineIsRepaired: a hand edit of Cellar's pg_hba
// section and a MariaDB account dropped by hand are put back by the
// reconciler, which reports them.
func TestAccessRules_DriftInTheEngineIsRepaired(t *testing.T) {
	s := newSite(t, map[string]string{"CELLAR_ACCESS_DEFAULT": "closed"})
	c := s.env.NewCustomer(t)
	pg := create(t, c, "postgresql", "drifty")
	my := create(t, c, "mariadb", "drifty")
	addRule(t, c, pg, s.a.v4.String())
	addRule(t, c, my, s.a.v4.String())

	// PostgreSQL: remove our allow line from the file by hand and reload.
	var hbaFile string
	conn := s.env.PG(t)
	if err := conn.QueryRow(context.Background(), "SHOW hba_file").Scan(&hbaFile); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(hbaFile)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.Contains(line, pg.Name) || strings.Contains(line, "reject") {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(hbaFile, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// MariaDB: drop the allowed host's account by hand.
	if _, err := s.env.MariaDB(t).Exec(fmt.Sprintf("DROP USER `%s`@`%s`", my.User, s.a.v4)); err != nil {
		t.Fatal(err)
	}
	expectLogin(t, s.a, pg, false, false, "hand edit removed the rule")
	expectLogin(t, s.a, my, false, false, "hand drop removed the account")

	rep := s.env.Reconcile(t)
	if strings.Count(rep, "repaired") < 2 {
		t.Errorf("reconcile reported:\n%s", rep)
	}
	expectLogin(t, s.a, pg, false, true, "pg_hba repaired")
	expectLogin(t, s.a, my, false, true, "MariaDB account repaired")
	expectLogin(t, s.b, pg, false, false, "repair opened nothing else")
}

// TestAccessRules_InterruptedChangeIsFinishedByTheReconciler: a rule whose
// application failed after it was recorded is enforced by the next
// reconcile, and deleting the database takes its lines out of pg_hba.conf.
func TestAccessRules_InterruptedChangeIsFinishedByTheReconciler(t *testing.T) {
	s := newSite(t, map[string]string{"CELLAR_ACCESS_DEFAULT": "closed"})
	c := s.env.NewCustomer(t)
	d := create(t, c, "postgresql", "halfway")
	addr, stop, err := s.env.StartServer(map[string]string{"CELLAR_FAILPOINTS": "access.after_intent=error"})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r := c.WithBaseURL("http://"+addr).Do(t, "POST", "/v1/databases/postgresql/"+d.Name+"/firewall", map[string]any{"ip_address": s.a.v4.String()})
	if r.Status != http.StatusInternalServerError {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	expectLogin(t, s.a, d, false, false, "recorded but not applied")
	s.env.Reconcile(t)
	expectLogin(t, s.a, d, false, true, "the reconciler applied the recorded rule")

	var hbaFile string
	if err := s.env.PG(t).QueryRow(context.Background(), "SHOW hba_file").Scan(&hbaFile); err != nil {
		t.Fatal(err)
	}
	c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/postgresql/"+d.Name, nil)
	raw, err := os.ReadFile(hbaFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), d.Name) {
		t.Fatalf("pg_hba.conf still names the deleted database:\n%s", raw)
	}
}
