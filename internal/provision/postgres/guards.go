package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// pgSharedDatabases are the databases every stock PostgreSQL server has and
// lets PUBLIC connect to (and create temporary tables in). On a shared
// server a tenant must not reach them: a session in template1 makes every
// CREATE DATABASE on the server fail ("source database "template1" is being
// accessed by other users"), so one tenant could stop all provisioning, and
// in "postgres" it could keep temporary tables outside its quota.
var pgSharedDatabases = []string{"postgres", "template1"}

// closeSharedDatabases revokes PUBLIC's CONNECT and TEMPORARY on the shared
// databases if a stock server still grants them. It is called on every
// EnsureDatabase, so a server is closed before its first tenant exists and
// re-closed if an operator re-opens it; when there is nothing to revoke it
// costs one catalog read. Roles that need these databases (monitoring, say)
// are granted CONNECT by name.
func (p *Driver) closeSharedDatabases(ctx context.Context) error {
	const open = `
		SELECT DISTINCT d.datname FROM pg_catalog.pg_database d,
			pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
		WHERE d.datname = ANY($1) AND a.grantee = 0 AND a.privilege_type IN ('CONNECT', 'TEMPORARY')
		ORDER BY 1`
	rows, err := p.pool.Query(ctx, open, pgSharedDatabases)
	if err != nil {
		return fmt.Errorf("check shared databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("check shared databases: %w", err)
	}
	if len(names) == 0 {
		return nil
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		// Concurrent GRANT/REVOKE on one pg_database row fails with "tuple
		// concurrently updated" instead of waiting, hence the lock.
		if _, err := tx.Exec(ctx, pgLockName, "cellar/provision/shared-databases"); err != nil {
			return fmt.Errorf("close shared databases: lock: %w", err)
		}
		for _, name := range names {
			if _, err := tx.Exec(ctx, "REVOKE CONNECT, TEMPORARY ON DATABASE "+pgQuote(name)+" FROM PUBLIC"); err != nil {
				return fmt.Errorf("close shared database %q: %w", name, err)
			}
		}
		return nil
	})
}

// pgNotTemplateDB leaves PostgreSQL's own template databases out of
// listings and samples, by name. A tenant database can be a template too: its
// owner may run ALTER DATABASE … IS_TEMPLATE true, and if listings went by
// datistemplate the database would vanish from metrics (and usage) and look
// missing to the reconciler.
const pgNotTemplateDB = "d.datname NOT IN ('template0', 'template1')"

// clearTemplateFlag makes a database that its owner marked IS_TEMPLATE
// droppable again: PostgreSQL refuses to drop a template database, so the
// flag would otherwise make the database undeletable. The database is first
// closed to new sessions and its sessions are ended, so that the tenant
// cannot set the flag again between this and the DROP. A database that is
// no template, or does not exist, is left alone.
func (p *Driver) clearTemplateFlag(ctx context.Context, name string) error {
	var isTemplate bool
	err := p.pool.QueryRow(ctx, "SELECT datistemplate FROM pg_catalog.pg_database WHERE datname = $1", name).Scan(&isTemplate)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && !isTemplate {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up database %q: %w", name, err)
	}
	alter := func(option string) error {
		return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, pgLockName, "cellar/provision/database/"+name); err != nil {
				return fmt.Errorf("database %q: lock: %w", name, err)
			}
			if _, err := tx.Exec(ctx, "ALTER DATABASE "+pgQuote(name)+" "+option); err != nil {
				return fmt.Errorf("alter database %q %s: %w", name, option, err)
			}
			return nil
		})
	}
	if err := alter("ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	if _, err := p.terminate(ctx, fmt.Sprintf("database %q", name), "datname = $1", name); err != nil {
		return err
	}
	return alter("IS_TEMPLATE false")
}
