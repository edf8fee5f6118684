package mariadb

import (
	"context"
	"fmt"
	"strconv"

	"github.com/cellar/cellar/internal/provision"
)

// Where a connection limit is enforced on MariaDB, and why there.
//
// MAX_USER_CONNECTIONS is an account attribute. Changing it needs
// CREATE USER, UPDATE on the mysql schema, or GRANT OPTION (GRANT … WITH
// MAX_USER_CONNECTIONS); a tenant holds none of them, only ALL PRIVILEGES on
// its own database, which does not include GRANT OPTION.

// ConnectionLimits lists the MAX_USER_CONNECTIONS of every account whose
// user name starts with prefix, one setting per account (host pattern);
// 0, MariaDB's "no limit of its own", is reported as Unlimited.
func (m *Driver) ConnectionLimits(ctx context.Context, prefix string) ([]provision.LimitSetting, error) {
	if err := provision.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	rows, err := m.db.QueryContext(ctx,
		"SELECT User, Host, max_user_connections FROM mysql.user WHERE LEFT(User, CHAR_LENGTH(?)) = ? ORDER BY User, Host",
		prefix, prefix)
	if err != nil {
		return nil, fmt.Errorf("list connection limits: %w", err)
	}
	defer rows.Close()
	out := []provision.LimitSetting{}
	for rows.Next() {
		var user, host string
		var n int64
		if err := rows.Scan(&user, &host, &n); err != nil {
			return nil, fmt.Errorf("list connection limits: %w", err)
		}
		limit := int(n)
		if n == 0 {
			limit = provision.Unlimited
		}
		out = append(out, provision.LimitSetting{Object: fmt.Sprintf("account '%s'@'%s'", user, host), User: user, Limit: limit})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connection limits: %w", err)
	}
	return out, nil
}

// SetConnectionLimit sets MAX_USER_CONNECTIONS on every account (host
// pattern) of owner, who must hold the grant on the database: at most limit
// sessions per account at a time, or no per-account limit for Unlimited
// (stored as 0, which leaves the global max_user_connections in force).
//
// The limit is checked when a session starts, against the sessions the
// server counted for that account; sessions opened while the account had no
// limit at all are not counted (MariaDB tracks an account's sessions only
// while it has a limit, or the global max_user_connections is set), so a
// new limit may let a few more sessions in until those end. An account
// added later (a new host) starts without the limit: call again.
func (m *Driver) SetConnectionLimit(ctx context.Context, database, owner string, limit int) error {
	if err := provision.ValidNames("database", database, "owner", owner); err != nil {
		return err
	}
	if err := provision.ValidLimit(limit); err != nil {
		return fmt.Errorf("database %q: %w", database, err)
	}
	if mariaReservedDatabases[database] {
		return fmt.Errorf("database %q: %w", database, provision.ErrReserved)
	}
	if err := m.requireDatabase(ctx, database); err != nil {
		return err
	}
	// Under the owner's named lock, so that an account ApplyAccess adds
	// meanwhile cannot miss the new limit.
	return m.withUserLock(ctx, owner, func() error { return m.setConnectionLimit(ctx, database, owner, limit) })
}

// setConnectionLimit is SetConnectionLimit after validation, under the
// owner's named lock.
func (m *Driver) setConnectionLimit(ctx context.Context, database, owner string, limit int) error {
	hosts, err := m.manageableUserHosts(ctx, owner)
	if err != nil {
		return fmt.Errorf("database %q: owner: %w", database, err)
	}
	if len(hosts) == 0 {
		return fmt.Errorf("database %q: owner %q: %w", database, owner, provision.ErrNoSuchUser)
	}
	holder, err := m.grantHolder(ctx, database, owner)
	if err != nil {
		return err
	}
	if holder != owner {
		return fmt.Errorf("database %q: user %q holds no grant on it", database, owner)
	}
	n := limit
	if limit == provision.Unlimited {
		n = 0
	}
	for _, h := range hosts {
		// MAX_USER_CONNECTIONS takes no placeholder; n is a Go int checked
		// by ValidLimit. IF EXISTS: an account dropped meanwhile is no
		// error, the next call reports a missing owner.
		stmt := "ALTER USER IF EXISTS " + mariaAccount(owner, h) + " WITH MAX_USER_CONNECTIONS " + strconv.Itoa(n)
		if _, err := m.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("set connection limit of user %q@%q: %w", owner, h, err)
		}
	}
	return nil
}
