package isolationtest

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// These tests try to gain privileges through role attributes, role
// membership and session identity.

func TestTenant_PostgreSQL_CannotAlterOwnRoleAttributes(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	self := pgx.Identifier{tn.User}.Sanitize()
	for _, attr := range []string{"SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"} {
		t.Run(attr, func(t *testing.T) {
			refusedPG(t, "ALTER ROLE self "+attr, execPG(conn, "ALTER ROLE "+self+" "+attr))
			refusedPG(t, "ALTER ROLE CURRENT_USER "+attr, execPG(conn, "ALTER ROLE CURRENT_USER WITH "+attr))
		})
	}
	expectPlainRole(t, e, tn.User)
}

func TestTenant_PostgreSQL_CannotCreateRole(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	name := tn.User + "_evil"
	refusedPG(t, "CREATE ROLE", execPG(conn, "CREATE ROLE "+pgx.Identifier{name}.Sanitize()+" LOGIN SUPERUSER PASSWORD 'x'"))
	refusedPG(t, "CREATE ROLE (plain)", execPG(conn, "CREATE ROLE "+pgx.Identifier{name}.Sanitize()))
	if n := pgScalar[int64](t, e.PG(t), "SELECT count(*) FROM pg_roles WHERE rolname = $1", name); n != 0 {
		t.Fatalf("HOLE: role %s exists", name)
	}
}

func TestTenant_PostgreSQL_CannotGrantPredefinedRolesToSelf(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	self := pgx.Identifier{tn.User}.Sanitize()
	for _, role := range []string{
		"pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend",
		"pg_read_all_data", "pg_write_all_data", "pg_read_all_settings", "pg_read_all_stats", "pg_monitor",
		"pg_database_owner", "postgres",
	} {
		t.Run(role, func(t *testing.T) {
			refusedPG(t, "GRANT "+role+" TO self", execPG(conn, "GRANT "+role+" TO "+self), pgInsufficientPrivilege, "0LP01")
		})
	}
	expectPlainRole(t, e, tn.User)
}

func TestTenant_PostgreSQL_CannotSetRole(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "postgresql"), newTenant(t, e, "postgresql")
	conn := a.pg(t)
	for _, role := range []string{b.User, "postgres", "pg_read_server_files", "pg_execute_server_program"} {
		t.Run(role, func(t *testing.T) {
			refusedPG(t, "SET ROLE "+role, execPG(conn, "SET ROLE "+pgx.Identifier{role}.Sanitize()))
			if u := pgScalar[string](t, conn, "SELECT current_user"); u != a.User {
				t.Fatalf("HOLE: current_user is %s", u)
			}
		})
	}
}

func TestTenant_PostgreSQL_CannotSetSessionAuthorization(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "postgresql"), newTenant(t, e, "postgresql")
	conn := a.pg(t)
	for _, role := range []string{b.User, "postgres"} {
		t.Run(role, func(t *testing.T) {
			refusedPG(t, "SET SESSION AUTHORIZATION "+role,
				execPG(conn, "SET SESSION AUTHORIZATION "+pgx.Identifier{role}.Sanitize()))
			if u := pgScalar[string](t, conn, "SELECT session_user"); u != a.User {
				t.Fatalf("HOLE: session_user is %s", u)
			}
		})
	}
}

// A role with REPLICATION could copy the whole server (every tenant's
// data) through a walsender; a tenant must not be able to start one.
func TestTenant_PostgreSQL_CannotOpenReplicationConnection(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	for _, mode := range []string{"database", "true"} {
		t.Run("replication="+mode, func(t *testing.T) {
			u := tn.pgURL(t, tn.DB)
			if strings.Contains(u, "?") {
				u += "&replication=" + mode
			} else {
				u += "?replication=" + mode
			}
			err := connectOnly(u)
			refusedPG(t, "replication connection", err, pgInsufficientPrivilege, "28000")
		})
	}
}
