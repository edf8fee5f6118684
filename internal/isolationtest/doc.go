// Package isolationtest proves tenant isolation on the shared servers as a
// whole: it creates databases for two customers through the API, logs in
// as a tenant with the credentials the API returned, and tries the known
// ways out of a tenant's database — other tenants' data, server files and
// programs, role and privilege changes, untrusted extensions, server
// settings, other sessions. Each attempt is a named test that asserts the
// server refused it and, checked as the admin, that its intended effect did
// not happen.
//
// The package holds tests only; it never ships.
package isolationtest
