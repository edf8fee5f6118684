package provision

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// MaxIdentifierLen is the longest database or user name Cellar accepts.
//
// PostgreSQL silently truncates identifiers longer than 63 bytes (NAMEDATALEN-1)
// with only a NOTICE, so two long names could collide on the server; MariaDB
// allows 64 for databases and 80 for users. 63 is the strictest of these and
// keeps a name valid on every engine, so a tenant can move between engines.
const MaxIdentifierLen = 63

// ValidIdentifier reports whether name may be used as a database or user name
// on a managed server: 1..63 characters, each a lowercase ASCII letter, a digit
// or an underscore (^[a-z0-9_]+$). The error says why a name is rejected.
//
// Every exported method of the drivers calls it on every name before any SQL
// is built, so quoting is defense in depth rather than the only barrier. The
// narrow alphabet also means names never need case folding, never contain a
// quote or backtick, and never contain the LIKE/GRANT wildcard '%'.
func ValidIdentifier(name string) error {
	if name == "" {
		return errors.New("invalid identifier: empty")
	}
	if len(name) > MaxIdentifierLen {
		return fmt.Errorf("invalid identifier %q: %d bytes long, at most %d allowed", name, len(name), MaxIdentifierLen)
	}
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			why := "only a-z, 0-9 and _ are allowed"
			switch {
			case r >= 'A' && r <= 'Z':
				why = "uppercase letters are not allowed"
			case r == utf8.RuneError && size == 1:
				why = "not valid UTF-8"
			case r >= utf8.RuneSelf:
				why = "only ASCII a-z, 0-9 and _ are allowed"
			}
			return fmt.Errorf("invalid identifier %q: character %q at byte %d: %s", name, r, i, why)
		}
		i += size
	}
	return nil
}

// ValidPrefix checks a name prefix given to ListDatabases/ListUsers. The empty
// prefix (list everything) is allowed; any other prefix must itself be a valid
// identifier, because no valid name could start with anything else.
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidIdentifier(prefix); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// MaxPasswordLen bounds passwords so that a mistaken caller cannot make us
// hash megabytes; generated passwords are far shorter.
const MaxPasswordLen = 1024

// ValidPassword checks a password before any hashing. Passwords are limited to
// printable ASCII (0x20-0x7E) because PostgreSQL and its clients run SCRAM
// passwords through SASLprep (Unicode normalization and mappings) except when
// the password is pure ASCII; a verifier computed here for a non-ASCII
// password could silently disagree with what a client sends. The same rule
// applies to MariaDB so the contract is identical for both engines. The error
// never contains the password.
func ValidPassword(password string) error {
	if password == "" {
		return errors.New("invalid password: empty")
	}
	if len(password) > MaxPasswordLen {
		return fmt.Errorf("invalid password: longer than %d bytes", MaxPasswordLen)
	}
	for i := 0; i < len(password); i++ {
		if c := password[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("invalid password: byte %d is not printable ASCII", i)
		}
	}
	return nil
}

// ValidNames runs ValidIdentifier over each name, labelling the error with
// the argument's role ("database", "user", ...).
func ValidNames(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := ValidIdentifier(pairs[i+1]); err != nil {
			return fmt.Errorf("%s: %w", pairs[i], err)
		}
	}
	return nil
}

// ValidLimit checks a connection limit for SetConnectionLimit: 1 up to the
// largest value both engines store (a 32-bit signed integer), or Unlimited.
// 0 is refused: it would lock the tenant out on PostgreSQL and mean
// "unlimited" on MariaDB.
func ValidLimit(limit int) error {
	if limit == Unlimited || limit >= 1 && limit <= math.MaxInt32 {
		return nil
	}
	return fmt.Errorf("invalid connection limit %d: want 1..%d, or %d for no limit", limit, math.MaxInt32, Unlimited)
}

// WithholdSecrets returns err unchanged unless its text quotes one of the
// secrets (or a base64/hex chunk of one), in which case it returns a new error
// that keeps only code (e.g. a SQLSTATE) and does not wrap the original: a
// caller that logs the error, or digs the server error out with errors.As,
// must not find a credential in it. Servers do not normally echo a literal
// from a well-formed statement, but a syntax error message quotes the token
// near the error, so this is cheap insurance.
func WithholdSecrets(err error, code string, secrets ...string) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	for _, s := range secrets {
		for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '$' || r == ':' || r == '*' }) {
			if len(part) >= 8 && strings.Contains(text, part) {
				return fmt.Errorf("server error %s (message withheld: it quoted a credential)", code)
			}
		}
	}
	return err
}
