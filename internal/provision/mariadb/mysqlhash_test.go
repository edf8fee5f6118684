package mariadb

import "testing"

// TestMySQLNativeHash uses values of MariaDB's PASSWORD() function (the
// live comparison is in TestMariaDBHashMatchesServer).
func TestMySQLNativeHash(t *testing.T) {
	for _, tt := range []struct{ password, hash string }{
		{"password", "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"},
	} {
		got := MySQLNativeHash(tt.password)
		if got != tt.hash {
			t.Errorf("MySQLNativeHash(%q) = %s, want %s", tt.password, got, tt.hash)
		}
		if !nativeHashRE.MatchString(got) {
			t.Errorf("hash %s does not match nativeHashRE", got)
		}
	}
	for _, bad := range []string{"*2470c0c06dee42fd1618bb99005adca2ec9d1e19", "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1'", "2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", ""} {
		if nativeHashRE.MatchString(bad) {
			t.Errorf("nativeHashRE accepts %q", bad)
		}
	}
}

func TestMariaGrantPattern(t *testing.T) {
	for in, want := range map[string]string{
		"cust_a_my_b": "`cust\\_a\\_my\\_b`",
		"plain":       "`plain`",
		"a%b":         "`a\\%b`",
		`a\b`:         "`a\\\\b`",
		"a`b":         "`a``b`",
	} {
		if got := mariaGrantDB(in); got != want {
			t.Errorf("mariaGrantDB(%q) = %s, want %s", in, got, want)
		}
	}
	if got := mariaQuote("a`b"); got != "`a``b`" {
		t.Errorf("mariaQuote = %s", got)
	}
	if got := mariaAccount("u", "%"); got != "`u`@`%`" {
		t.Errorf("mariaAccount = %s", got)
	}
}
