package provision

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidIdentifier(t *testing.T) {
	tests := []struct {
		name    string
		ok      bool
		errWant string // substring of the error
	}{
		{"cust_a", true, ""},
		{"a", true, ""},
		{"0", true, ""},
		{"_", true, ""},
		{"cust_0123456789_abcdefghijklmnopqrstuvwxyz", true, ""},
		{strings.Repeat("a", 63), true, ""},
		{"", false, "empty"},
		{strings.Repeat("a", 64), false, "at most 63"},
		{strings.Repeat("a", 200), false, "at most 63"},
		{"Cust_a", false, "uppercase"},
		{"custA", false, "uppercase"},
		{"cust-a", false, "'-'"},
		{"cust'a", false, `'\''`},
		{`cust"a`, false, `'"'`},
		{"cust`a", false, "'`'"},
		{"cust;a", false, "';'"},
		{"cust a", false, "' '"},
		{" cust", false, "' '"},
		{"cust\ta", false, `'\t'`},
		{"cust\x00", false, `'\x00'`},
		{"cust.a", false, "'.'"},
		{"cust%a", false, "'%'"},
		{`cust\a`, false, `'\\'`},
		{"cust$a", false, "'$'"},
		{"cust_é", false, "only ASCII"},
		{"cust_ä", false, "only ASCII"},
		{"ｃust", false, "only ASCII"}, // fullwidth c
		{"cust\xff", false, "not valid UTF-8"},
		{"a;DROP DATABASE x", false, "';'"},
	}
	for _, tt := range tests {
		err := ValidIdentifier(tt.name)
		if tt.ok {
			if err != nil {
				t.Errorf("ValidIdentifier(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidIdentifier(%q) = nil, want error", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.errWant) {
			t.Errorf("ValidIdentifier(%q) = %q, want it to mention %q", tt.name, err, tt.errWant)
		}
	}
}

func TestValidPassword(t *testing.T) {
	for _, ok := range []string{"x", "correct horse battery staple", `!"#$%&'()*+,-./:;<=>?@[\]^_{|}~` + "`", strings.Repeat("p", MaxPasswordLen)} {
		if err := validPassword(ok); err != nil {
			t.Errorf("validPassword(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "pässword", "tab\there", "nl\n", "nul\x00", strings.Repeat("p", MaxPasswordLen+1)} {
		err := validPassword(bad)
		if err == nil {
			t.Errorf("validPassword(%q) = nil, want error", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("validPassword error %q contains the password", err)
		}
	}
}

// TestMethodsValidateBeforeSQL calls every exported method with bad names on
// drivers that have no connection at all: a method that built or sent SQL
// before validating would panic on the nil pool.
func TestMethodsValidateBeforeSQL(t *testing.T) {
	ctx := context.Background()
	bad := []string{"", "Bad", "a-b", "a'b", "a`b", "a;b", "a b", strings.Repeat("a", 64), "ü"}
	for _, d := range []Driver{&Postgres{dropSem: make(chan struct{}, 1)}, &MariaDB{}} {
		for _, name := range bad {
			calls := map[string]error{
				"EnsureUser":          d.EnsureUser(ctx, name, "pw"),
				"EnsureDatabase/name": d.EnsureDatabase(ctx, name, "owner"),
				"EnsureDatabase/own":  d.EnsureDatabase(ctx, "db", name),
				"DropDatabase":        d.DropDatabase(ctx, name),
				"DropUser":            d.DropUser(ctx, name),
			}
			_, calls["DatabaseExists"] = d.DatabaseExists(ctx, name)
			_, calls["UserExists"] = d.UserExists(ctx, name)
			calls["SetConnectionLimit/name"] = d.SetConnectionLimit(ctx, name, "owner", 10)
			calls["SetConnectionLimit/own"] = d.SetConnectionLimit(ctx, "db", name, 10)
			_, calls["UserSessions"] = d.UserSessions(ctx, name)
			_, calls["EndSessions"] = d.EndSessions(ctx, name, []int64{1, 2})
			_, calls["EndDatabaseSessions/name"] = d.EndDatabaseSessions(ctx, name, "owner")
			_, calls["EndDatabaseSessions/own"] = d.EndDatabaseSessions(ctx, "db", name)
			_, calls["DatabaseInfo/name"] = d.DatabaseInfo(ctx, name, "owner")
			_, calls["DatabaseInfo/own"] = d.DatabaseInfo(ctx, "db", name)
			_, calls["ApplyAccess/name"] = d.ApplyAccess(ctx, AccessPolicy{Databases: map[string]DatabaseAccess{name: {Owner: "owner"}}}, nil)
			_, calls["ApplyAccess/own"] = d.ApplyAccess(ctx, AccessPolicy{Databases: map[string]DatabaseAccess{"db": {Owner: name}}}, nil)
			if name != "" { // the empty prefix is valid: list everything
				_, calls["ListDatabases"] = d.ListDatabases(ctx, name)
				_, calls["ListUsers"] = d.ListUsers(ctx, name)
			}
			for method, err := range calls {
				if err == nil || !strings.Contains(err.Error(), "invalid identifier") {
					t.Errorf("%s %s(%q) = %v, want invalid identifier error", d.Engine(), method, name, err)
				}
			}
		}
		// Bad connection limits are rejected before SQL too.
		for _, limit := range []int{0, -2, -1000, math.MinInt, math.MaxInt32 + 1, math.MaxInt} {
			err := d.SetConnectionLimit(ctx, "cust_ok", "cust_ok", limit)
			if err == nil || !strings.Contains(err.Error(), "invalid connection limit") {
				t.Errorf("%s SetConnectionLimit(limit %d) = %v, want invalid connection limit", d.Engine(), limit, err)
			}
		}
		// Bad passwords are rejected before SQL too, and never echoed.
		for _, pw := range []string{"", "pässwörd-secret"} {
			err := d.EnsureUser(ctx, "cust_ok", pw)
			if err == nil || (pw != "" && strings.Contains(err.Error(), pw)) {
				t.Errorf("%s EnsureUser(bad password) = %v", d.Engine(), err)
			}
		}
	}
}

func TestOpenUnknownEngine(t *testing.T) {
	d, err := Open(context.Background(), "oracle", "x")
	if err == nil || d != nil {
		t.Fatalf("Open(oracle) = %v, %v; want nil, error", d, err)
	}
}

func TestWithholdSecrets(t *testing.T) {
	v := "SCRAM-SHA-256$4096:iSmI2v31fWVTG+75TPEG5g==$zgR8Im04Zjty+bnoq9vkcIt8kfTwYy0x5k3xvGdVj1g=:qI/BhO4bzEaXa9P/gwEVoOO/qHpCEviBD6ruYgpwSIM="
	plain := errors.New(`role "x" already exists`)
	if got := withholdSecrets(plain, "42710", v, "hunter2hunter2"); got != plain {
		t.Errorf("withholdSecrets changed an innocent error: %v", got)
	}
	leaky := errors.New(`syntax error at or near "zgR8Im04Zjty+bnoq9vkcIt8kfTwYy0x5k3xvGdVj1g="`)
	got := withholdSecrets(leaky, "42601", v)
	if strings.Contains(got.Error(), "zgR8") || errors.Is(got, leaky) || !strings.Contains(got.Error(), "42601") {
		t.Errorf("withholdSecrets(leaky) = %v", got)
	}
	if got := withholdSecrets(errors.New("bad: hunter2hunter2"), "x", "hunter2hunter2"); strings.Contains(got.Error(), "hunter2") {
		t.Errorf("withholdSecrets kept the password: %v", got)
	}
}
