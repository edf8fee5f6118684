package mariadb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/provision/procstat"
)

// Sample reads the figures of every database whose name starts with prefix
// and of the server, in a fixed number of statements whatever the number of
// databases: server variables, global status, the process list, user
// statistics, schemas, table sizes, grants and accounts. It turns the
// server variable userstat on if it is off (see DatabaseSample.TotalQueries).
//
// MariaDB has no database owners: a database's owner is the user holding
// its database-level grant (as EnsureDatabase makes it), the one named like
// the database if several do, as Cellar names them. The owner's sessions
// and limit count for the database, and its statements are the database's
// queries.
//
// The process figures come from /proc when the server runs on this host:
// the pid in @@pid_file names mariadbd, which is taken to be this server
// only if the server's @@hostname is this host's name, the process's command
// line mentions mariadbd or mysqld, its working directory is @@datadir
// (where the kernel lets this process look) and it started within a minute
// of the time the server's Uptime gives (a wall clock stepped by more than
// that since the server started makes the figures nil).
func (m *Driver) Sample(ctx context.Context, prefix string) (provision.ServerSample, error) {
	if err := provision.ValidPrefix(prefix); err != nil {
		return provision.ServerSample{}, err
	}
	// One connection for the whole pass: the statements run one after the
	// other anyway, and the pool stays free for other callers.
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return provision.ServerSample{}, fmt.Errorf("mariadb: sample: %w", err)
	}
	defer conn.Close()

	var maxConns, maxUserConns int
	var pidFile, dataDir, hostname string
	var userstat bool
	if err := conn.QueryRowContext(ctx,
		"SELECT @@max_connections, @@max_user_connections, @@pid_file, @@datadir, @@hostname, @@userstat").
		Scan(&maxConns, &maxUserConns, &pidFile, &dataDir, &hostname, &userstat); err != nil {
		return provision.ServerSample{}, fmt.Errorf("mariadb: sample: read server variables: %w", err)
	}
	if !userstat {
		if _, err := conn.ExecContext(ctx, "SET GLOBAL userstat = 1"); err != nil {
			return provision.ServerSample{}, fmt.Errorf("mariadb: sample: turn on userstat: %w", err)
		}
	}
	status, err := mariaGlobalStatus(ctx, conn)
	if err != nil {
		return provision.ServerSample{}, err
	}

	s := provision.ServerSample{MeasuredAt: time.Now(), Databases: map[string]provision.DatabaseSample{}}
	if !filepath.IsAbs(pidFile) {
		pidFile = filepath.Join(dataDir, pidFile)
	}
	uptime, haveUptime := status["UPTIME"]
	if local, err := os.Hostname(); err == nil && local == hostname && haveUptime {
		s.CPUSeconds, s.MemoryPercent = procstat.Figures(procstat.Identity{
			PidFile: pidFile,
			Names:   []string{"mariadbd", "mysqld"},
			DataDir: dataDir,
			Check: func(_ []string, st procstat.Stat) bool {
				age, ok := procstat.AgeSeconds(st)
				return ok && math.Abs(age-float64(uptime)) <= 60
			},
		})
	}
	if reqs, ok := status["INNODB_BUFFER_POOL_READ_REQUESTS"]; ok {
		// Requests include the reads that missed: hits = requests - reads.
		if reads := status["INNODB_BUFFER_POOL_READS"]; reqs > 0 && reads <= reqs {
			s.CacheHitRatio = provision.HitRatio(reqs-reads, reads)
		}
	}

	// Counters first, so that they are read close to MeasuredAt.
	stats, err := mariaUserStatements(ctx, conn)
	if err != nil {
		return provision.ServerSample{}, err
	}
	sessions, err := mariaSessions(ctx, conn, "TRUE")
	if err != nil {
		return provision.ServerSample{}, fmt.Errorf("mariadb: sample sessions: %w", err)
	}
	rows, err := conn.QueryContext(ctx,
		"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, CHAR_LENGTH(?)) = ?", prefix, prefix)
	if err != nil {
		return provision.ServerSample{}, fmt.Errorf("mariadb: sample databases: %w", err)
	}
	names, err := scanStrings(rows)
	if err != nil {
		return provision.ServerSample{}, fmt.Errorf("mariadb: sample databases: %w", err)
	}
	sizes, err := mariaSchemaSizes(ctx, conn, prefix)
	if err != nil {
		return provision.ServerSample{}, err
	}
	owners, accounts, err := mariaOwners(ctx, conn, prefix)
	if err != nil {
		return provision.ServerSample{}, err
	}

	// Sessions by default database, and the sessions without one (or on
	// information_schema, which every user may USE) by user; compared
	// exactly, since PROCESSLIST's columns compare case-insensitively.
	onDB, noDB := map[string]int{}, map[string]int{}
	for _, ss := range sessions {
		if ss.db.Valid {
			onDB[ss.db.String]++
		}
		if !ss.db.Valid || ss.db.String == "information_schema" {
			noDB[ss.user]++
		}
	}
	serverLimit := maxConns
	if maxUserConns > 0 {
		serverLimit = min(maxUserConns, maxConns)
	}
	for _, name := range names {
		if !strings.HasPrefix(name, prefix) {
			continue // the SQL filter compares case-insensitively
		}
		d := provision.DatabaseSample{SizeBytes: sizes[name], ActiveConnections: onDB[name], MaxConnections: maxConns}
		holders := owners[mariaGrantPattern(name)]
		if len(holders) > 0 {
			owner := slices.Min(holders)
			if slices.Contains(holders, name) {
				owner = name
			}
			acct, ok := accounts[owner]
			if !ok {
				acct.limit = provision.Unlimited // a grant left behind by a dropped user
			}
			if !acct.admin {
				// An administrator's sessions and statements include the
				// control plane's own: they are not the database's.
				d.ActiveConnections += noDB[owner]
				d.TotalQueries = stats[owner]
			}
			if acct.limit == provision.Unlimited {
				d.MaxConnections = serverLimit
			} else {
				d.MaxConnections = provision.EffectiveLimit(acct.limit, maxConns)
			}
		}
		s.Databases[name] = d
	}
	return s, nil
}

// mariaGlobalStatus reads the global status variables Sample needs, by
// upper-case name. A variable whose value is not an integer is left out.
func mariaGlobalStatus(ctx context.Context, q mariaQuerier) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT UPPER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
		WHERE VARIABLE_NAME IN ('Uptime', 'Innodb_buffer_pool_read_requests', 'Innodb_buffer_pool_reads')`)
	if err != nil {
		return nil, fmt.Errorf("mariadb: sample: read global status: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var value sql.NullInt64
		if err := rows.Scan(&name, &value); err != nil {
			// A value that is not a number: not one of ours.
			continue
		}
		if value.Valid {
			out[name] = value.Int64
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mariadb: sample: read global status: %w", err)
	}
	return out, nil
}

// mariaUserStatements returns each user's statement count from
// USER_STATISTICS (see DatabaseSample.TotalQueries), by exact user name.
// The table has a row per user that connected while userstat was on.
func mariaUserStatements(ctx context.Context, q mariaQuerier) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT BINARY USER, CAST(SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS AS SIGNED)
		FROM information_schema.USER_STATISTICS`)
	if err != nil {
		return nil, fmt.Errorf("mariadb: sample: read user statistics: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var user string
		var n int64
		if err := rows.Scan(&user, &n); err != nil {
			return nil, fmt.Errorf("mariadb: sample: read user statistics: %w", err)
		}
		out[user] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mariadb: sample: read user statistics: %w", err)
	}
	return out, nil
}

// mariaSchemaSizes returns the size of each schema starting with prefix
// that has tables, by exact name (grouped by the binary name, since
// TABLE_SCHEMA compares case-insensitively). The server checks the prefix
// condition on the schema name before it opens any table, so tables of
// other schemas cost nothing.
func mariaSchemaSizes(ctx context.Context, q mariaQuerier, prefix string) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT BINARY TABLE_SCHEMA, CAST(COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS SIGNED)
		FROM information_schema.TABLES WHERE LEFT(TABLE_SCHEMA, CHAR_LENGTH(?)) = ?
		GROUP BY BINARY TABLE_SCHEMA`, prefix, prefix)
	if err != nil {
		return nil, fmt.Errorf("mariadb: sample database sizes: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			return nil, fmt.Errorf("mariadb: sample database sizes: %w", err)
		}
		out[name] = size
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mariadb: sample database sizes: %w", err)
	}
	return out, nil
}

// mariaAccountInfo is what Sample needs of a user: whether it is an
// administrator (see manageableUserHosts) and its connection limit as
// userConnectionLimit reports it.
type mariaAccountInfo struct {
	admin bool
	limit int
}

// mariaOwners returns the users holding database-level grants on
// databases starting with prefix, by the grant's stored database pattern
// (see mariaGrantPattern), and the figures of those users.
func mariaOwners(ctx context.Context, q mariaQuerier, prefix string) (map[string][]string, map[string]mariaAccountInfo, error) {
	pattern := mariaGrantPattern(prefix)
	rows, err := q.QueryContext(ctx,
		"SELECT Db, User FROM mysql.db WHERE LEFT(Db, CHAR_LENGTH(?)) = ?", pattern, pattern)
	if err != nil {
		return nil, nil, fmt.Errorf("mariadb: sample grants: %w", err)
	}
	holders := map[string][]string{}
	for rows.Next() {
		var db, user string
		if err := rows.Scan(&db, &user); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("mariadb: sample grants: %w", err)
		}
		if !slices.Contains(holders[db], user) {
			holders[db] = append(holders[db], user)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("mariadb: sample grants: %w", err)
	}

	rows, err = q.QueryContext(ctx, `
		SELECT User, max_user_connections, (User = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)
			OR Super_priv = 'Y' OR Grant_priv = 'Y' OR Create_user_priv = 'Y')
		FROM mysql.user WHERE User IN (SELECT User FROM mysql.db WHERE LEFT(Db, CHAR_LENGTH(?)) = ?)`, pattern, pattern)
	if err != nil {
		return nil, nil, fmt.Errorf("mariadb: sample accounts: %w", err)
	}
	defer rows.Close()
	accounts := map[string]mariaAccountInfo{}
	for rows.Next() {
		var user string
		var limit int64
		var admin bool
		if err := rows.Scan(&user, &limit, &admin); err != nil {
			return nil, nil, fmt.Errorf("mariadb: sample accounts: %w", err)
		}
		// As userConnectionLimit: any account without a limit makes the
		// user unlimited, else the largest limit counts (0 if all refuse).
		a, seen := accounts[user]
		switch {
		case limit == 0 || a.limit == provision.Unlimited && seen:
			a.limit = provision.Unlimited
		case !seen || int(limit) > a.limit:
			a.limit = max(int(limit), 0)
		}
		a.admin = a.admin || admin
		accounts[user] = a
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("mariadb: sample accounts: %w", err)
	}
	return holders, accounts, nil
}
