package cellar

import (
	"strings"
	"testing"
	"time"
)

func TestNormalizeRequestedName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"webapp_prod_db", "webapp_prod_db", true},
		{"Orders", "orders", true},
		{"a", "a", true},
		{"_x_", "_x_", true},
		{strings.Repeat("a", 30), strings.Repeat("a", 30), true},
		{strings.Repeat("a", 31), "", false},
		{"", "", false},
		{"web-app", "", false},
		{"web app", "", false},
		{"x;drop", "", false},
		{`a"b`, "", false},
		{"a`b", "", false},
		{"ünï", "", false},
		{"a\x00b", "", false},
	} {
		got, err := NormalizeRequestedName(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizeRequestedName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDatabaseName_LongestFitsPostgresLimit(t *testing.T) {
	name := DatabaseName(strings.Repeat("c", MaxCustomerIDLen), PostgreSQL, strings.Repeat("n", MaxRequestedNameLen))
	if len(name) != 63 {
		t.Fatalf("longest name is %d bytes, want 63 (PostgreSQL's limit)", len(name))
	}
	owner, err := ParseDatabaseName(PostgreSQL, name)
	if err != nil || owner != strings.Repeat("c", MaxCustomerIDLen) {
		t.Fatalf("ParseDatabaseName: %q, %v", owner, err)
	}
}

func TestParseDatabaseName(t *testing.T) {
	for _, tc := range []struct {
		engine Engine
		name   string
		owner  string
	}{
		{PostgreSQL, "cust_6dd1d906_pg_webapp_prod_db", "6dd1d906"},
		{MariaDB, "cust_abc_my_x", "abc"},
		{PostgreSQL, "cust_abc_my_x", ""},
		{MariaDB, "cust_abc_pg_x", ""},
		{PostgreSQL, "postgres", ""},
		{PostgreSQL, "cust_ABC_pg_x", ""},
		{PostgreSQL, "cust_abc_pg_", ""},
		{PostgreSQL, "cust_abc_pg_x; DROP", ""},
	} {
		owner, err := ParseDatabaseName(tc.engine, tc.name)
		if owner != tc.owner || (err == nil) != (tc.owner != "") {
			t.Errorf("ParseDatabaseName(%s, %q) = %q, %v", tc.engine, tc.name, owner, err)
		}
	}
}

func TestGeneratedSuffix(t *testing.T) {
	s := GeneratedSuffix(time.Date(2025, 11, 9, 23, 0, 0, 0, time.UTC))
	if !strings.HasPrefix(s, "20251109_") || len(s) != 15 {
		t.Fatalf("suffix %q", s)
	}
	if _, err := NormalizeRequestedName(s); err != nil {
		t.Fatalf("generated suffix is not a valid name: %v", err)
	}
}

func TestNewPassword_LengthAlphabetAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		p := NewPassword()
		if len(p) != 32 || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("password %q", p)
		}
		if seen[p] {
			t.Fatal("duplicate password")
		}
		seen[p] = true
	}
}

func TestCustomerFor(t *testing.T) {
	regular := Principal{CustomerID: "me"}
	internal := Principal{CustomerID: "ops", Internal: true}
	if c, _ := regular.CustomerFor("other"); c != "me" {
		t.Errorf("regular key acted for %q", c)
	}
	if c, _ := internal.CustomerFor("other"); c != "other" {
		t.Errorf("internal key acted for %q", c)
	}
	if c, _ := internal.CustomerFor(""); c != "ops" {
		t.Errorf("internal key without override acted for %q", c)
	}
	if _, err := internal.CustomerFor("Bad-Id"); ErrorCode(err) != CodeInvalid {
		t.Errorf("bad override: %v", err)
	}
}

func TestConnectionString(t *testing.T) {
	c := Credentials{Engine: MariaDB, Host: "db.example", Port: 3306, Database: "cust_a_my_b", Username: "cust_a_my_b", Password: "pw"}
	if got := c.ConnectionString(); got != "mysql://cust_a_my_b:pw@db.example:3306/cust_a_my_b" {
		t.Errorf("got %s", got)
	}
	c.Engine, c.Password, c.Host = PostgreSQL, "", "::1"
	if got := c.ConnectionString(); got != "postgresql://cust_a_my_b@[::1]:3306/cust_a_my_b" {
		t.Errorf("got %s", got)
	}
}
