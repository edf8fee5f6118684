package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/provision"
)

// Where a connection limit is enforced on PostgreSQL, and why there.
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

// SetConnectionLimit sets the connection limit of database's owner role and
// of the database itself: at most limit sessions of non-superusers at a
// time, or no limit for Unlimited (-1). The role limit is what binds (see
// the note at the top of this file). owner must be the database's owner (a
// mismatch is reported, not fixed: EnsureDatabase converges owners). The
// current limits are read first, so an unchanged limit costs no DDL. The
// database's and the role's advisory locks serialize this with
// EnsureDatabase and EnsureUser, which update the same catalog rows; they are
// always taken in that order.
//
// The limit is checked when a session starts; sessions already open are not
// ended when a lower limit is set.
func (p *Driver) SetConnectionLimit(ctx context.Context, database, owner string, limit int) error {
	if err := provision.ValidNames("database", database, "owner", owner); err != nil {
		return err
	}
	if err := provision.ValidLimit(limit); err != nil {
		return fmt.Errorf("database %q: %w", database, err)
	}
	if pgReservedDatabases[database] {
		return fmt.Errorf("database %q: %w", database, provision.ErrReserved)
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for _, l := range []string{"cellar/provision/database/" + database, "cellar/provision/role/" + owner} {
			if _, err := tx.Exec(ctx, pgLockName, l); err != nil {
				return fmt.Errorf("database %q: lock: %w", database, err)
			}
		}
		var curOwner string
		var cur int
		err := tx.QueryRow(ctx,
			"SELECT pg_catalog.pg_get_userbyid(datdba), datconnlimit FROM pg_catalog.pg_database WHERE datname = $1",
			database).Scan(&curOwner, &cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("database %q: %w", database, provision.ErrNoSuchDatabase)
		}
		if err != nil {
			return fmt.Errorf("look up database %q: %w", database, err)
		}
		if cur == -2 {
			return fmt.Errorf("database %q: %w", database, provision.ErrDatabaseInvalid)
		}
		exists, err := checkRoleManageable(ctx, tx, owner)
		if err != nil {
			return fmt.Errorf("database %q: owner: %w", database, err)
		}
		if !exists {
			return fmt.Errorf("database %q: owner %q: %w", database, owner, provision.ErrNoSuchUser)
		}
		if curOwner != owner {
			return fmt.Errorf("database %q is owned by %q, not %q", database, curOwner, owner)
		}
		var curRole int
		if err := tx.QueryRow(ctx, "SELECT rolconnlimit FROM pg_catalog.pg_roles WHERE rolname = $1", owner).Scan(&curRole); err != nil {
			return fmt.Errorf("look up role %q: %w", owner, err)
		}
		// CONNECTION LIMIT takes no bind parameter; limit is a Go int
		// checked by ValidLimit.
		if curRole != limit {
			if _, err := tx.Exec(ctx, "ALTER ROLE "+pgQuote(owner)+" CONNECTION LIMIT "+strconv.Itoa(limit)); err != nil {
				return fmt.Errorf("set connection limit of role %q: %w", owner, err)
			}
		}
		if cur == limit {
			return nil
		}
		_, err = tx.Exec(ctx, "ALTER DATABASE "+pgQuote(database)+" CONNECTION LIMIT "+strconv.Itoa(limit))
		if pgCode(err) == pgUndefinedDatabase {
			return fmt.Errorf("database %q: %w", database, provision.ErrNoSuchDatabase)
		}
		if err != nil {
			return fmt.Errorf("set connection limit of database %q: %w", database, err)
		}
		return nil
	})
}

// ConnectionLimits lists every connection limit set on the roles and
// databases whose names start with prefix: one setting per role and one per
// database (invalid databases, whose datconnlimit is -2, excluded). The
// reconciler compares them with the metadata.
func (p *Driver) ConnectionLimits(ctx context.Context, prefix string) ([]provision.LimitSetting, error) {
	if err := provision.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `
		SELECT 'role', rolname, '', rolconnlimit FROM pg_catalog.pg_roles WHERE starts_with(rolname, $1)
		UNION ALL
		SELECT 'database', pg_catalog.pg_get_userbyid(datdba), datname, datconnlimit FROM pg_catalog.pg_database
		WHERE NOT datistemplate AND datconnlimit <> -2 AND starts_with(datname, $1)`, prefix)
	if err != nil {
		return nil, fmt.Errorf("list connection limits: %w", err)
	}
	out := []provision.LimitSetting{}
	var kind, user, db string
	var limit int
	_, err = pgx.ForEachRow(rows, []any{&kind, &user, &db, &limit}, func() error {
		st := provision.LimitSetting{User: user, Database: db, Limit: max(limit, provision.Unlimited)}
		if kind == "role" {
			st.Object = fmt.Sprintf("role %q", user)
		} else {
			st.Object = fmt.Sprintf("database %q", db)
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list connection limits: %w", err)
	}
	return out, nil
}
