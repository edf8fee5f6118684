package postgres

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/provision"
)

func TestSpliceHBA(t *testing.T) {
	section := []string{pgHBABegin, "host all admin all scram-sha-256", pgHBAEnd}
	sec := strings.Join(section, "\n") + "\n"
	own := "# operator\nlocal all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
	cases := []struct {
		name, in, out string
		found         int
		bad           bool
	}{
		{"none", own, sec + own, 0, false},
		{"at top", sec + own, sec + own, 1, false},
		{"in the middle", "# operator\n" + sec + "local all all scram-sha-256\n", sec + "# operator\nlocal all all scram-sha-256\n", 1, false},
		{"edited", pgHBABegin + "\nhost all all all trust\n" + pgHBAEnd + "\n" + own, sec + own, 1, false},
		{"twice", sec + own + sec, sec + own, 2, false},
		{"no newline at end", "local all all scram-sha-256", sec + "local all all scram-sha-256", 0, false},
		{"mangled marker tail", "# BEGIN CELLAR MANAGED SECTION -- do not edit\nx\n# END CELLAR MANAGED SECTION\n" + own, sec + own, 1, false},
		{"empty", "", sec, 0, false},
		{"unterminated", pgHBABegin + "\n" + own, "", 0, true},
		{"END alone", own + pgHBAEnd + "\n", "", 0, true},
		{"nested", pgHBABegin + "\n" + pgHBABegin + "\n" + pgHBAEnd + "\n", "", 0, true},
	}
	for _, c := range cases {
		out, found, err := spliceHBA(c.in, section)
		if c.bad {
			if err == nil {
				t.Errorf("%s: no error", c.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if out != c.out || len(found) != c.found {
			t.Errorf("%s: got %q (%d sections found), want %q (%d)", c.name, out, len(found), c.out, c.found)
		}
	}

	// The report of changes.
	want := []string{pgHBABegin, "a", "b", "c", pgHBAEnd}
	if got := hbaChanges("/x", nil, want); len(got) != 1 || !strings.Contains(got[0], "added the Cellar section") {
		t.Errorf("new section: %v", got)
	}
	got := hbaChanges("/x", [][]string{{"a", "c", "evil"}}, want)
	if !slices.Equal(got, []string{`pg_hba.conf: added line "b"`, `pg_hba.conf: removed line "evil"`}) {
		t.Errorf("diff: %v", got)
	}
	if got := hbaChanges("/x", [][]string{{"c", "b", "a"}}, want); len(got) != 1 || !strings.Contains(got[0], "moved") {
		t.Errorf("reordered: %v", got)
	}
	if got := hbaChanges("/x", [][]string{{"a"}, {"b", "c"}}, want); len(got) != 1 || !strings.Contains(got[0], "merged 2") {
		t.Errorf("two sections: %v", got)
	}
}

func TestPGHBASection(t *testing.T) {
	es := []provision.AccessEntry{
		{Name: "cust_a", Owner: "cust_a_u", Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::2/128")}},
		{Name: "cust_b", Owner: "cust_b_u"},
	}
	want := []string{
		pgHBABegin,
		pgHBANote,
		"host all postgres all scram-sha-256",
		"host all +cellar_load_logins all scram-sha-256",
		"host all all 127.0.0.1/32 scram-sha-256",
		"host all all ::1/128 scram-sha-256",
		"host cust_a cust_a_u 10.0.0.0/8 scram-sha-256",
		"host cust_a cust_a_u fd00::2/128 scram-sha-256",
		"host cust_a all all reject",
		"host all all all reject",
		pgHBAEnd,
	}
	if got := pgHBASection("postgres", true, es); !slices.Equal(got, want) {
		t.Errorf("closed section:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	open := slices.Delete(slices.Clone(want), len(want)-2, len(want)-1)
	if got := pgHBASection("postgres", false, es); !slices.Equal(got, open) {
		t.Errorf("open section:\n%s", strings.Join(got, "\n"))
	}
	for _, n := range []string{"all", "sameuser", "samerole", "replication"} {
		if pgHBAName("database", n) == nil {
			t.Errorf("pgHBAName(%q) = nil", n)
		}
	}
}
