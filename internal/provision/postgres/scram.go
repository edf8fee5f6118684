package postgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
)

// SCRAM-SHA-256 verifier parameters, as PostgreSQL's own client tools use them
// (src/common/scram-common.c, SCRAM_SHA_256_DEFAULT_ITERATIONS and
// SCRAM_DEFAULT_SALT_LEN).
const (
	scramIterations = 4096
	scramSaltLen    = 16
	scramKeyLen     = sha256.Size
)

// scramVerifierRE is the exact shape of a verifier this package produces:
// 16-byte salt and two 32-byte keys, standard base64 with padding. A verifier
// is spliced into CREATE/ALTER ROLE as a string literal (PostgreSQL accepts no
// bind parameter there), so before that it must match this pattern, which
// admits no quote, backslash or whitespace.
var scramVerifierRE = regexp.MustCompile(`^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$`)

// SCRAMVerifier returns a PostgreSQL SCRAM-SHA-256 verifier for password with
// a fresh random salt, in the form stored in pg_authid.rolpassword:
//
//	SCRAM-SHA-256$<iterations>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>
//
// Sending the verifier instead of the plaintext is what psql's \password does:
// the server stores it as is, and the plaintext never reaches the server, its
// logs or pg_stat_statements.
func SCRAMVerifier(password string) (string, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("scram salt: %w", err)
	}
	return scramVerifierWithSalt(password, salt, scramIterations)
}

// scramVerifierWithSalt computes the verifier for a given salt and iteration
// count, per RFC 5802 section 3 and RFC 7677:
//
//	SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations)
//	ClientKey      = HMAC(SaltedPassword, "Client Key")
//	StoredKey      = SHA-256(ClientKey)
//	ServerKey      = HMAC(SaltedPassword, "Server Key")
//
// PostgreSQL first runs the password through SASLprep unless it is pure ASCII;
// ValidPassword restricts passwords to printable ASCII so no normalization is
// needed here.
func scramVerifierWithSalt(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, scramKeyLen)
	if err != nil {
		return "", fmt.Errorf("scram pbkdf2: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(iterations) + ":" + b64(salt) +
		"$" + b64(storedKey[:]) + ":" + b64(serverKey), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
