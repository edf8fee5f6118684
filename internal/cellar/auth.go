package cellar

import "fmt"

// Permission is a capability an API key grants.
type Permission string

// Permissions. The database ones are those of the reference API; admin
// covers key management and other operator endpoints.
const (
	PermDatabaseCreate Permission = "database:create"
	PermDatabaseRead   Permission = "database:read"
	PermDatabaseUpdate Permission = "database:update"
	PermDatabaseDelete Permission = "database:delete"
	PermAdmin          Permission = "admin"
)

// AllPermissions lists every permission, in display order.
var AllPermissions = []Permission{PermDatabaseCreate, PermDatabaseRead, PermDatabaseUpdate, PermDatabaseDelete, PermAdmin}

// ParsePermission validates a permission name.
func ParsePermission(s string) (Permission, error) {
	for _, p := range AllPermissions {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown permission %q", s)
}

// Principal is the authenticated caller of a request: an API key and what it
// may do.
type Principal struct {
	KeyID       string
	KeyPrefix   string // the visible part of the key, safe to log and audit
	CustomerID  string
	Permissions []Permission
	// Internal keys belong to Cellar's operators and other internal systems:
	// they may act for another customer.
	Internal bool
}

// Can reports whether the principal holds perm.
func (p Principal) Can(perm Permission) bool {
	for _, have := range p.Permissions {
		if have == perm {
			return true
		}
	}
	return false
}

// Require returns a forbidden error unless the principal holds perm.
func (p Principal) Require(perm Permission) error {
	if !p.Can(perm) {
		return Errorf(CodeForbidden, "this API key lacks the %q permission", perm)
	}
	return nil
}

// CustomerFor returns the customer a request acts for. Internal keys may
// name another customer; for other keys the override is ignored, as the
// reference API specifies.
func (p Principal) CustomerFor(override string) (string, error) {
	if override == "" || !p.Internal {
		return p.CustomerID, nil
	}
	if err := ValidateCustomerID(override); err != nil {
		return "", Invalid(FieldError{Field: "customer_id", Message: err.Error()})
	}
	return override, nil
}

// IsOperator reports whether the principal is an internal admin key:
// Cellar's operators, who manage every customer's keys and quotas. A
// customer's own admin key is not one; it manages only its customer's keys.
func (p Principal) IsOperator() bool { return p.Internal && p.Can(PermAdmin) }

// RequireOperator returns a forbidden error unless the principal is an
// internal admin key.
func (p Principal) RequireOperator() error {
	if !p.IsOperator() {
		return Errorf(CodeForbidden, "only an internal admin key may do this")
	}
	return nil
}

// MayMint returns a forbidden error unless the principal may create a key
// for customer with perms and the internal flag. Only internal admin keys
// may make internal keys or keys of another customer; a customer's admin
// key may make keys of its own customer holding only permissions it holds
// itself, so no key ever gets more than the key that made it.
func (p Principal) MayMint(customer string, perms []Permission, internal bool) error {
	if err := p.Require(PermAdmin); err != nil {
		return err
	}
	if p.IsOperator() {
		return nil
	}
	if internal {
		return Errorf(CodeForbidden, "only an internal admin key may create internal keys")
	}
	if customer != p.CustomerID {
		return Errorf(CodeForbidden, "this key may create keys only for its own customer %q", p.CustomerID)
	}
	for _, perm := range perms {
		if !p.Can(perm) {
			return Errorf(CodeForbidden, "this key may not grant the %q permission, which it does not hold itself", perm)
		}
	}
	return nil
}
