package provision

// Where a connection limit is enforced, and why there.
//
// PostgreSQL: a database's owner may run ALTER DATABASE … CONNECTION LIMIT
// on its own database (an owner's right that cannot be revoked), so a
// database-level limit alone is one the tenant lifts at will. ALTER ROLE …
// CONNECTION LIMIT needs CREATEROLE, which tenant roles never have (see
// pgRoleAttrs), so the limit that binds is the one on the owner role. The
// database-level limit is kept at the same value: it is what the standard
// tools show (\l, pg_database), it is what an in-place restore copies to
// the new database, and a tenant who lifts it gains nothing but shows up as
// drift that the reconciler sets back.
//
// MariaDB: MAX_USER_CONNECTIONS is an account attribute. Changing it needs
// CREATE USER, UPDATE on the mysql schema, or GRANT OPTION (GRANT … WITH
// MAX_USER_CONNECTIONS); a tenant holds none of them, only ALL PRIVILEGES on
// its own database, which does not include GRANT OPTION.

// LimitSetting is one place on a server where a connection limit is set.
type LimitSetting struct {
	// Object names it for logs, e.g. `role "u"` or `account 'u'@'%'`.
	Object string
	// User is the role or account whose sessions the limit counts; for
	// PostgreSQL's database-level limit it is the database's owner.
	User string
	// Database is set for PostgreSQL's database-level limit only.
	Database string
	// Limit is the limit, or Unlimited.
	Limit int
}

// TighterLimit combines two limits that both apply: the smaller one, where
// Unlimited (any negative value) counts as none.
func TighterLimit(a, b int) int {
	switch {
	case a < 0:
		return max(b, Unlimited)
	case b < 0:
		return a
	default:
		return min(a, b)
	}
}
