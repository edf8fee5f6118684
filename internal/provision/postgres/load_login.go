package postgres

// Load logins: how tenant content is loaded into a PostgreSQL database
// without a privileged session (see the package comment's rule).

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/provision"
)

// PGLoadLoginGroup is the NOLOGIN role every load login is a member of.
// Cellar's pg_hba.conf section lets its members in from any address, ahead
// of the tenants' allowlists (see pgHBASection), so a load login works
// whatever access rules the owner set. A tenant cannot join it: granting
// membership needs ADMIN on the group or CREATEROLE, and tenant roles have
// neither.
const PGLoadLoginGroup = "cellar_load_logins"

// EnsureLoadLogin creates login, a temporary role that logs in to load
// tenant content on behalf of owner, or resets its password if it exists:
// LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS,
// member of owner (so, through INHERIT, it has exactly owner's rights and
// can SET ROLE owner) and of PGLoadLoginGroup, and of nothing else. The
// name must start with PGLoadLoginPrefix. Tenant code that runs in its
// session and does RESET ROLE becomes this role: no more than the tenant.
// DropLoadLogin removes it.
func (p *Driver) EnsureLoadLogin(ctx context.Context, login, owner, password string) error {
	if err := provision.ValidNames("login", login, "owner", owner); err != nil {
		return err
	}
	if !strings.HasPrefix(login, provision.PGLoadLoginPrefix) {
		return fmt.Errorf("load login %q: must start with %q", login, provision.PGLoadLoginPrefix)
	}
	if exists, err := checkRoleManageable(ctx, p.pool, owner); err != nil {
		return fmt.Errorf("load login %q: owner: %w", login, err)
	} else if !exists {
		return fmt.Errorf("load login %q: owner %q: %w", login, owner, provision.ErrNoSuchUser)
	}
	// The group: created once per server; a concurrent create is fine.
	if _, err := p.pool.Exec(ctx, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '`+PGLoadLoginGroup+`') THEN
			CREATE ROLE `+PGLoadLoginGroup+` NOLOGIN;
		END IF; END $$`); err != nil && pgCode(err) != pgDuplicateObject && pgCode(err) != pgUniqueViolation {
		return fmt.Errorf("create role %q: %w", PGLoadLoginGroup, err)
	}
	if err := p.EnsureUser(ctx, login, password); err != nil {
		return err
	}
	for _, role := range []string{owner, PGLoadLoginGroup} {
		if _, err := p.pool.Exec(ctx, "GRANT "+pgQuote(role)+" TO "+pgQuote(login)); err != nil {
			return fmt.Errorf("grant %q to load login %q: %w", role, login, err)
		}
	}
	// Nothing else: a member of any other role was not made by us.
	var others []string
	rows, err := p.pool.Query(ctx, `
		SELECT pg_catalog.pg_get_userbyid(m.roleid) FROM pg_catalog.pg_auth_members m
		WHERE m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)
		  AND pg_catalog.pg_get_userbyid(m.roleid) <> ALL($2)`, login, []string{owner, PGLoadLoginGroup})
	if err == nil {
		others, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return fmt.Errorf("check memberships of load login %q: %w", login, err)
	}
	if len(others) > 0 {
		return fmt.Errorf("load login %q is also a member of %q: %w", login, others, provision.ErrReserved)
	}
	return nil
}

// DropLoadLogin removes a load login made by EnsureLoadLogin, if it exists.
// Tenant code that ran in its session may have created objects owned by it
// or granted it privileges; before the role can go, in each of databases
// that exists, a session of the login itself (given a fresh password for
// the purpose) gives what it owns to owner and drops its privileges
// (REASSIGN OWNED, DROP OWNED). No admin session enters the tenant's
// database. Then the role is dropped like DropUser does.
func (p *Driver) DropLoadLogin(ctx context.Context, login, owner, password string, databases ...string) error {
	if err := provision.ValidNames("login", login, "owner", owner); err != nil {
		return err
	}
	if !strings.HasPrefix(login, provision.PGLoadLoginPrefix) {
		return fmt.Errorf("load login %q: must start with %q", login, provision.PGLoadLoginPrefix)
	}
	exists, err := checkRoleManageable(ctx, p.pool, login)
	if err != nil || !exists {
		return err
	}
	if err := p.EnsureUser(ctx, login, password); err != nil {
		return err
	}
	for _, db := range databases {
		if err := provision.ValidNames("database", db); err != nil {
			return err
		}
		_, invalid, found, err := p.databaseInfo(ctx, db)
		if err != nil {
			return err
		}
		if !found || invalid {
			continue
		}
		if err := p.disownAs(ctx, login, owner, password, db); err != nil {
			return err
		}
	}
	return p.DropUser(ctx, login)
}

// disownAs runs REASSIGN OWNED and DROP OWNED in database, logged in as the
// login itself. search_path is pinned to pg_catalog, though neither
// statement runs tenant code.
func (p *Driver) disownAs(ctx context.Context, login, owner, password, database string) error {
	cfg := p.pool.Config().ConnConfig.Copy()
	cfg.User, cfg.Password, cfg.Database = login, password, database
	cfg.RuntimeParams = map[string]string{"search_path": "pg_catalog"}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		if pgCode(err) == pgUndefinedDatabase {
			return nil
		}
		return fmt.Errorf("connect as load login %q to %q: %w", login, database, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	for _, stmt := range []string{
		"REASSIGN OWNED BY CURRENT_USER TO " + pgQuote(owner),
		"DROP OWNED BY CURRENT_USER",
	} {
		if _, err := c.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s in %q: %w", strings.Fields(stmt)[0], database, err)
		}
	}
	return nil
}
