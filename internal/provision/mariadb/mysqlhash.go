package mariadb

import (
	"crypto/sha1"
	"encoding/hex"
	"regexp"
	"strings"
)

// nativeHashRE is the exact shape of a mysql_native_password hash. The hash
// is spliced into CREATE/ALTER USER ... IDENTIFIED BY PASSWORD '...' as a
// string literal (MariaDB accepts no placeholder there), so it must match
// this pattern first, which admits no quote or backslash.
var nativeHashRE = regexp.MustCompile(`^\*[0-9A-F]{40}$`)

// MySQLNativeHash returns the mysql_native_password hash of password, the
// value MariaDB's PASSWORD() function returns and stores in
// mysql.global_priv: "*" followed by the uppercase hex of SHA1(SHA1(password)).
//
// Sending this with IDENTIFIED BY PASSWORD keeps the plaintext off the wire
// and out of the general log, the binary log and replicas. SHA-1 is what the
// mysql_native_password plugin mandates; it is not a choice made here.
func MySQLNativeHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}
