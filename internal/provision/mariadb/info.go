package mariadb

// DatabaseInfo on MariaDB: a database's live figures.

import (
	"context"
	"fmt"

	"github.com/cellar/cellar/internal/provision"
)

// DatabaseInfo reads the schema's size, its sessions, the grant holder's
// connection limit and the grant holder (see DatabaseInfo.Owner).
func (m *Driver) DatabaseInfo(ctx context.Context, database, owner string) (provision.DatabaseInfo, error) {
	if err := provision.ValidNames("database", database, "owner", owner); err != nil {
		return provision.DatabaseInfo{}, err
	}
	if err := m.requireDatabase(ctx, database); err != nil {
		return provision.DatabaseInfo{}, err
	}
	var info provision.DatabaseInfo
	if err := m.db.QueryRowContext(ctx,
		"SELECT CAST(COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS SIGNED) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
		database).Scan(&info.SizeBytes); err != nil {
		return provision.DatabaseInfo{}, fmt.Errorf("read size of database %q: %w", database, err)
	}
	holder, sessionUser, err := m.sessionOwner(ctx, database, owner)
	if err != nil {
		return provision.DatabaseInfo{}, err
	}
	info.Owner = holder
	ids, err := databaseSessions(ctx, m.db, database, sessionUser)
	if err != nil {
		return provision.DatabaseInfo{}, err
	}
	info.Connections = len(ids)
	info.ConnectionLimit = provision.Unlimited
	if holder != "" {
		if info.ConnectionLimit, err = m.userConnectionLimit(ctx, holder); err != nil {
			return provision.DatabaseInfo{}, err
		}
	}
	return info, nil
}

// userConnectionLimit returns the most permissive MAX_USER_CONNECTIONS of
// the user's accounts as a DatabaseInfo.ConnectionLimit: Unlimited if any
// account has 0 (or the user has no account), else the largest limit, or 0
// if every account has a negative one (which refuses all connections).
func (m *Driver) userConnectionLimit(ctx context.Context, username string) (int, error) {
	rows, err := m.db.QueryContext(ctx, "SELECT max_user_connections FROM mysql.user WHERE User = ?", username)
	if err != nil {
		return 0, fmt.Errorf("read connection limit of user %q: %w", username, err)
	}
	defer rows.Close()
	best, found := 0, false
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return 0, fmt.Errorf("read connection limit of user %q: %w", username, err)
		}
		if n == 0 {
			return provision.Unlimited, nil
		}
		if !found || int(n) > best {
			best, found = int(n), true
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read connection limit of user %q: %w", username, err)
	}
	if !found {
		return provision.Unlimited, nil
	}
	return max(best, 0), nil
}
