package cellar

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Limits of the naming scheme. With the longest customer id and requested
// name a database name is 5+24+4+30 = 63 bytes: PostgreSQL's identifier limit
// (it silently truncates longer names, so two long names could collide), and
// within MariaDB's 64 for databases and 80 for users.
const (
	MaxCustomerIDLen    = 24
	MaxRequestedNameLen = 30
)

var (
	customerIDPattern    = regexp.MustCompile(`^[a-z0-9]{1,24}$`)
	requestedNamePattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,30}$`)
	databaseNamePattern  = regexp.MustCompile(`^cust_([a-z0-9]{1,24})_(pg|my)_([a-z0-9_]{1,30})$`)
)

// ValidateCustomerID checks a customer id: 1 to 24 lowercase letters or
// digits. Underscores are excluded so a database name splits unambiguously.
func ValidateCustomerID(id string) error {
	if !customerIDPattern.MatchString(id) {
		return fmt.Errorf("must be 1 to %d lowercase letters or digits", MaxCustomerIDLen)
	}
	return nil
}

// NormalizeRequestedName validates a requested database name suffix and
// returns its canonical, lowercase form. Names are lowercased because
// mixed-case identifiers must be quoted forever after in PostgreSQL and are
// case-sensitive on MariaDB, which surprises everyone sooner or later.
func NormalizeRequestedName(name string) (string, error) {
	if !requestedNamePattern.MatchString(name) {
		if name == "" {
			return "", fmt.Errorf("must not be empty; omit it or send null to get a generated name")
		}
		if len(name) > MaxRequestedNameLen {
			return "", fmt.Errorf("must be at most %d characters, got %d", MaxRequestedNameLen, len(name))
		}
		return "", fmt.Errorf("may contain only letters, digits and underscores")
	}
	return strings.ToLower(name), nil
}

// DatabaseName is the deterministic name of a customer's database:
// cust_{customer_id}_pg_{suffix} or cust_{customer_id}_my_{suffix}. The
// database's user has the same name.
func DatabaseName(customerID string, engine Engine, suffix string) string {
	return "cust_" + customerID + "_" + engine.Short() + "_" + suffix
}

// GeneratedSuffix returns a name suffix for a create without requested_name:
// the UTC date and six random characters, e.g. 20251109_k3x9qa.
func GeneratedSuffix(now time.Time) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	return now.UTC().Format("20060102") + "_" + randomString(alphabet, 6)
}

// ParseDatabaseName checks that name is a well-formed Cellar database name of
// the given engine and returns the customer id embedded in it.
func ParseDatabaseName(engine Engine, name string) (customerID string, err error) {
	m := databaseNamePattern.FindStringSubmatch(name)
	if m == nil {
		return "", fmt.Errorf("is not a Cellar database name (cust_{customer_id}_%s_{name})", engine.Short())
	}
	if m[2] != engine.Short() {
		return "", fmt.Errorf("is not a %s database name (expected the _%s_ tag)", engine, engine.Short())
	}
	return m[1], nil
}

// randomString draws n characters uniformly from alphabet using crypto/rand.
func randomString(alphabet string, n int) string {
	// rand.Text would do for base32, but we want exact alphabets; rejection
	// sampling keeps the distribution uniform.
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	limit := 256 - 256%len(alphabet)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on Linux
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// NewPassword returns a 32-character password of letters and digits from
// crypto/rand (about 190 bits). Letters and digits only, so the password is
// safe in connection strings, shells and config files without escaping.
func NewPassword() string {
	return randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32)
}

// RandomToken returns n characters of letters and digits from crypto/rand.
func RandomToken(n int) string {
	return randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", n)
}
