package provision

import (
	"errors"
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
		if err := ValidPassword(ok); err != nil {
			t.Errorf("ValidPassword(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "pässword", "tab\there", "nl\n", "nul\x00", strings.Repeat("p", MaxPasswordLen+1)} {
		err := ValidPassword(bad)
		if err == nil {
			t.Errorf("ValidPassword(%q) = nil, want error", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("ValidPassword error %q contains the password", err)
		}
	}
}

func TestWithholdSecrets(t *testing.T) {
	v := "SCRAM-SHA-256$4096:iSmI2v31fWVTG+75TPEG5g==$zgR8Im04Zjty+bnoq9vkcIt8kfTwYy0x5k3xvGdVj1g=:qI/BhO4bzEaXa9P/gwEVoOO/qHpCEviBD6ruYgpwSIM="
	plain := errors.New(`role "x" already exists`)
	if got := WithholdSecrets(plain, "42710", v, "hunter2hunter2"); got != plain {
		t.Errorf("WithholdSecrets changed an innocent error: %v", got)
	}
	leaky := errors.New(`syntax error at or near "zgR8Im04Zjty+bnoq9vkcIt8kfTwYy0x5k3xvGdVj1g="`)
	got := WithholdSecrets(leaky, "42601", v)
	if strings.Contains(got.Error(), "zgR8") || errors.Is(got, leaky) || !strings.Contains(got.Error(), "42601") {
		t.Errorf("WithholdSecrets(leaky) = %v", got)
	}
	if got := WithholdSecrets(errors.New("bad: hunter2hunter2"), "x", "hunter2hunter2"); strings.Contains(got.Error(), "hunter2") {
		t.Errorf("WithholdSecrets kept the password: %v", got)
	}
}
