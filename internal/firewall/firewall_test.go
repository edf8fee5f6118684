package firewall

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var pfx = netip.MustParsePrefix

func TestParseAdded(t *testing.T) {
	out := `Added user rules (see 'ufw status' for running firewall):
ufw allow from 10.204.1.0/24 to any port 5432 proto tcp comment 'cellar:aaa'
ufw allow from 10.204.1.7 to any port 5432 proto tcp comment 'cellar:c32'
ufw allow 5433/tcp comment 'cellar:open-a'
ufw allow from 10.9.9.9 to any port 22 proto tcp
ufw allow from fd12:3456::/64 to any port 5433 proto tcp comment 'cellar:v6'
ufw allow from fd12:3456::5 to any port 5433 proto tcp comment 'cellar:v6b'
ufw deny from 10.1.1.1 to any port 3306 proto tcp
ufw limit log 22/tcp
ufw allow log-all from 10.2.0.0/16 to any port 80 proto tcp comment 'web, with spaces'
ufw allow OpenSSH
ufw allow 80
ufw allow 53/udp
ufw allow 6000:6007/tcp
ufw allow out 25/tcp
ufw allow in on eth0 from 10.3.3.3 to any port 5432 proto tcp comment 'cellar:iface'
ufw allow from 10.4.4.4 to 10.0.0.1 port 5432 proto tcp comment 'cellar:dst'
ufw allow from 10.5.5.5 port 1000 to any port 5432 proto tcp
ufw allow from 10.6.6.6 to any port 5432
ufw route allow from 10.7.7.7 to any port 5432 proto tcp comment 'cellar:route'
ufw allow from 10.8.8.8 to any app OpenSSH
`
	got, err := parseAdded(out)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		action, log string
		port        int
		source      string
		spec        string
		comment     string
	}
	var rows []row
	for _, e := range got {
		src := "any"
		if e.source.IsValid() {
			src = e.source.String()
		}
		rows = append(rows, row{e.action, e.log, e.port, src, e.spec, e.comment})
	}
	want := []row{
		{"allow", "", 5432, "10.204.1.0/24", "10.204.1.0/24", "cellar:aaa"},
		{"allow", "", 5432, "10.204.1.7/32", "10.204.1.7", "cellar:c32"},
		{"allow", "", 5433, "any", "", "cellar:open-a"},
		{"allow", "", 22, "10.9.9.9/32", "10.9.9.9", ""},
		{"allow", "", 5433, "fd12:3456::/64", "fd12:3456::/64", "cellar:v6"},
		{"allow", "", 5433, "fd12:3456::5/128", "fd12:3456::5", "cellar:v6b"},
		{"deny", "", 3306, "10.1.1.1/32", "10.1.1.1", ""},
		{"limit", "log", 22, "any", "", ""},
		{"allow", "log-all", 80, "10.2.0.0/16", "10.2.0.0/16", "web, with spaces"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("parsed:\n%v\nwant:\n%v", rows, want)
	}
	managed := 0
	for _, e := range got {
		if e.managed() {
			managed++
		}
	}
	if managed != 4 { // the any-source one is managed only once its IP version is known
		t.Errorf("%d managed rules, want 4", managed)
	}
}

func TestParseAdded_None(t *testing.T) {
	for _, out := range []string{
		"Added user rules (see 'ufw status' for running firewall):\n(None)\n",
		"Added user rules (see 'ufw status' for running firewall):\n(None)",
		"Added user rules (see 'ufw status' for running firewall):\n",
	} {
		got, err := parseAdded(out)
		if err != nil || len(got) != 0 {
			t.Errorf("parseAdded(%q) = %v, %v", out, got, err)
		}
	}
}

func TestParseAdded_Unexpected(t *testing.T) {
	for _, out := range []string{
		"",
		"ERROR: You need to be root to run this script\n",
		"Hinzugefügte Benutzerregeln:\nufw allow 22/tcp\n",
		"Added user rules (see 'ufw status' for running firewall):\nsomething else\n",
	} {
		if got, err := parseAdded(out); err == nil {
			t.Errorf("parseAdded(%q) = %v, want an error", out, got)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := []Rule{
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:6f9619ff-8b86-d011-b42d-00c04fc964ff"},
		{Port: 1, Source: pfx("10.0.0.1/32"), Comment: "cellar:a"},
		{Port: 65535, Source: pfx("0.0.0.0/0"), Comment: "cellar:open-pg_1"},
		{Port: 3306, Source: pfx("::/0"), Comment: "cellar:open-my"},
		{Port: 3306, Source: pfx("2001:db8::/64"), Comment: "cellar:x:y"},
		{Port: 3306, Source: pfx("2001:db8::7/128"), Comment: "cellar:" + strings.Repeat("a", 60)},
	}
	for _, r := range ok {
		if err := r.Validate(); err != nil {
			t.Errorf("%v: %v", r, err)
		}
	}
	bad := []Rule{
		{Port: 0, Source: pfx("10.0.0.0/24"), Comment: "cellar:a"},
		{Port: 65536, Source: pfx("10.0.0.0/24"), Comment: "cellar:a"},
		{Port: -1, Source: pfx("10.0.0.0/24"), Comment: "cellar:a"},
		{Port: 5432, Source: netip.Prefix{}, Comment: "cellar:a"},
		{Port: 5432, Source: pfx("10.0.0.1/24"), Comment: "cellar:a"},
		{Port: 5432, Source: pfx("2001:db8::1/64"), Comment: "cellar:a"},
		{Port: 5432, Source: pfx("::ffff:10.0.0.0/120"), Comment: "cellar:a"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: ""},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "other:a"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "Cellar:a"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:a b"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:a'b"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:a.b"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:a\n"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:" + strings.Repeat("a", 61)},
	}
	for _, r := range bad {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v: valid, want an error", r)
		}
	}
	if err := Validate(append(slices.Clone(ok), bad[0])); err == nil {
		t.Error("Validate accepted a list with an invalid rule")
	}
}

func TestCollapse_FirstCommentWins(t *testing.T) {
	in := []Rule{
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:zzz"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:bbb"},
		{Port: 5433, Source: pfx("10.0.0.0/24"), Comment: "cellar:ccc"},
		{Port: 5432, Source: pfx("::/0"), Comment: "cellar:open"},
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:mmm"},
	}
	want := []Rule{
		{Port: 5432, Source: pfx("10.0.0.0/24"), Comment: "cellar:bbb"},
		{Port: 5432, Source: pfx("::/0"), Comment: "cellar:open"},
		{Port: 5433, Source: pfx("10.0.0.0/24"), Comment: "cellar:ccc"},
	}
	got := Collapse(in)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Collapse = %v, want %v", got, want)
	}
	slices.Reverse(in)
	if got := Collapse(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("Collapse depends on input order: %v", got)
	}
	if in[0].Comment != "cellar:mmm" {
		t.Fatal("Collapse changed its input")
	}
}

func TestAddArgs(t *testing.T) {
	for _, tc := range []struct {
		rule Rule
		want string
	}{
		{Rule{5432, pfx("10.0.0.7/32"), "cellar:a"}, "allow from 10.0.0.7 to any port 5432 proto tcp comment cellar:a"},
		{Rule{5432, pfx("10.0.0.0/24"), "cellar:a"}, "allow from 10.0.0.0/24 to any port 5432 proto tcp comment cellar:a"},
		{Rule{3306, pfx("2001:db8::7/128"), "cellar:b"}, "allow from 2001:db8::7 to any port 3306 proto tcp comment cellar:b"},
		{Rule{3306, pfx("2001:db8::/64"), "cellar:b"}, "allow from 2001:db8::/64 to any port 3306 proto tcp comment cellar:b"},
		{Rule{3306, pfx("0.0.0.0/0"), "cellar:o"}, "allow from 0.0.0.0/0 to any port 3306 proto tcp comment cellar:o"},
		{Rule{3306, pfx("::/0"), "cellar:o"}, "allow from ::/0 to any port 3306 proto tcp comment cellar:o"},
	} {
		if got := strings.Join(addArgs(tc.rule), " "); got != tc.want {
			t.Errorf("addArgs(%v) = %q, want %q", tc.rule, got, tc.want)
		}
	}
}

func TestMakePlan(t *testing.T) {
	e := func(action, log string, port int, src, comment string) entry {
		p := pfx(src)
		return entry{action: action, log: log, port: port, source: p, spec: sourceSpec(p), comment: comment, line: action + " ..."}
	}
	current := []entry{
		e("allow", "", 5432, "10.0.0.1/32", "cellar:keep"),
		e("allow", "", 5432, "10.0.0.2/32", "cellar:old"),
		e("allow", "", 5432, "10.0.0.3/32", "cellar:gone"),
		e("allow", "", 5432, "10.0.0.4/32", "admin"),
		e("allow", "", 5432, "10.0.0.5/32", ""),
		e("deny", "", 5432, "10.0.0.6/32", ""),
		e("allow", "log", 5432, "10.0.0.7/32", "cellar:logged"),
		e("allow", "", 22, "10.0.0.8/32", ""),
	}
	want := Collapse([]Rule{
		{5432, pfx("10.0.0.1/32"), "cellar:keep"},
		{5432, pfx("10.0.0.2/32"), "cellar:new"},
		{5432, pfx("10.0.0.4/32"), "cellar:a"}, // held by a plain non-Cellar allow: satisfied
		{5432, pfx("10.0.0.6/32"), "cellar:b"}, // held by a deny: conflict
		{5432, pfx("10.0.0.7/32"), "cellar:c"}, // held by a logging rule: conflict
		{5432, pfx("10.0.0.9/32"), "cellar:fresh"},
	})
	p := makePlan(want, current)
	var adds, removes []string
	for _, s := range p.add {
		a := s.rule.String()
		if s.replaces != nil {
			a += " replacing " + s.replaces.Comment
		}
		adds = append(adds, a)
	}
	for _, s := range p.remove {
		removes = append(removes, s.rule.String()+" by "+s.spec)
	}
	wantAdds := []string{"tcp/5432 from 10.0.0.2/32 (cellar:new) replacing cellar:old", "tcp/5432 from 10.0.0.9/32 (cellar:fresh)"}
	wantRemoves := []string{"tcp/5432 from 10.0.0.3/32 (cellar:gone) by 10.0.0.3"}
	if !reflect.DeepEqual(adds, wantAdds) || !reflect.DeepEqual(removes, wantRemoves) {
		t.Fatalf("plan adds %q removes %q\nwant adds %q removes %q", adds, removes, wantAdds, wantRemoves)
	}
	if len(p.conflicts) != 2 || !strings.Contains(p.conflicts[0].Error(), "10.0.0.6") || !strings.Contains(p.conflicts[1].Error(), "10.0.0.7") {
		t.Fatalf("conflicts %v", p.conflicts)
	}
	if p := makePlan(Collapse([]Rule{{5432, pfx("10.0.0.1/32"), "cellar:keep"}, {5432, pfx("10.0.0.2/32"), "cellar:old"}, {5432, pfx("10.0.0.3/32"), "cellar:gone"}}), current); len(p.add)+len(p.remove)+len(p.conflicts) != 0 {
		t.Fatalf("converged state plans work: %+v", p)
	}
}

func TestNew(t *testing.T) {
	d, err := New("ufw", []string{"ip", "netns", "exec", "x", "ufw"})
	if err != nil || d.Name() != "ufw" {
		t.Fatalf("New(ufw) = %v, %v", d, err)
	}
	if _, err := New("ufw", nil); err == nil {
		t.Error("New(ufw) without a command succeeded")
	}
	if _, err := New("iptables", []string{"ufw"}); err == nil {
		t.Error("New(iptables) succeeded")
	}
	a, b := NewUFW([]string{"ufw"}), NewUFW([]string{"ufw"})
	if a.mu != b.mu || a.mu == NewUFW([]string{"ip", "netns", "exec", "x", "ufw"}).mu {
		t.Error("drivers of one ufw command must share a lock, and only they")
	}
}

func TestNone(t *testing.T) {
	d, err := New("none", []string{"ufw"})
	if err != nil || d.Name() != "none" {
		t.Fatalf("New(none) = %v, %v", d, err)
	}
	ctx := context.Background()
	ch, err := d.Apply(ctx, []Rule{{5432, pfx("10.0.0.0/24"), "cellar:a"}})
	if ch != nil || err != nil {
		t.Errorf("Apply = %v, %v", ch, err)
	}
	if _, err := d.Apply(ctx, []Rule{{0, pfx("10.0.0.0/24"), "cellar:a"}}); err == nil {
		t.Error("Apply accepted an invalid rule")
	}
	if r, err := d.Rules(ctx); r != nil || err != nil {
		t.Errorf("Rules = %v, %v", r, err)
	}
	if a, err := d.Active(ctx); a || err != nil {
		t.Errorf("Active = %t, %v", a, err)
	}
}

// TestUFW_InvalidRulesRunNothing: validation fails before ufw is run (the
// command here does not exist).
func TestUFW_InvalidRulesRunNothing(t *testing.T) {
	u := NewUFW([]string{"/nonexistent/ufw"})
	_, err := u.Apply(context.Background(), []Rule{{5432, pfx("10.0.0.1/24"), "cellar:a"}})
	if err == nil || !strings.Contains(err.Error(), "host bits") {
		t.Fatalf("Apply = %v, want a validation error", err)
	}
	if _, err := u.Apply(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/ufw") {
		t.Fatalf("Apply with a missing ufw = %v, want an error naming the command", err)
	}
}
