package mariadb

import (
	"context"
	"fmt"

	"github.com/cellar/cellar/internal/provision"
)

// Where a connection limit is enforced on MariaDB, and why there.
//
// MariaDB: MAX_USER_CONNECTIONS is an account attribute. Changing it needs
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
