package provision

// metrics.go: the figures Sampler.Sample reads for monitoring.

import "time"

// ServerSample is one pass of Sampler.Sample over a server: the figures of
// its customer databases and of the server itself.
//
// Counters (TotalQueries, CPUSeconds) are cumulative since the server (or
// its statistics) last started: a rate is the difference between two
// samples divided by the difference of their MeasuredAt. A counter that
// goes down means the server restarted or its statistics were reset; the
// caller should then take the new value as the base and not report a rate.
type ServerSample struct {
	// MeasuredAt is when the pass read its figures: just before it read the
	// process figures and the statistics.
	MeasuredAt time.Time
	// Databases holds the figures of every database whose name starts with
	// the prefix, by database name. PostgreSQL leaves out templates and
	// databases left invalid by an interrupted DROP DATABASE.
	Databases map[string]DatabaseSample
	// CPUSeconds is the cumulative user+system CPU time in seconds of all the
	// server's processes (PostgreSQL: the postmaster and every process below
	// it, including the children that already exited; MariaDB: mariadbd, all
	// threads). The caller turns two samples into a percentage of one CPU:
	// 100 * ΔCPUSeconds / Δseconds, which it may divide by runtime.NumCPU()
	// for a percentage of the host's CPUs (0..100).
	//
	// CPUSeconds and MemoryPercent are nil when the server does not run on
	// this host, or runs in another PID namespace, or this process may not
	// read its pid file (see Sampler.Sample).
	CPUSeconds *float64
	// MemoryPercent is the memory of all the server's processes as a
	// percentage of this host's MemTotal: the sum of their proportional set
	// sizes (PSS, so memory shared between PostgreSQL's processes, such as
	// shared_buffers, counts once), or of their resident set sizes where
	// the kernel does not let this process read PSS (not root and not the
	// server's user), which overcounts shared memory.
	MemoryPercent *float64
	// CacheHitRatio is the server-wide cache hit ratio in percent, for
	// engines without a per-database figure: on MariaDB the InnoDB buffer
	// pool's (1 - Innodb_buffer_pool_reads / Innodb_buffer_pool_read_requests)
	// * 100 since the server started. nil on PostgreSQL, and on MariaDB
	// before the buffer pool served its first read.
	CacheHitRatio *float64
}

// DatabaseSample holds one database's figures in a ServerSample.
type DatabaseSample struct {
	// SizeBytes is the database's size, measured as by Driver.DatabaseInfo:
	// PostgreSQL's pg_database_size (files on disk), MariaDB's sum of
	// DATA_LENGTH + INDEX_LENGTH of its tables, which for InnoDB comes from
	// index statistics and lags behind recent writes until they are
	// recalculated.
	SizeBytes int64
	// ActiveConnections is the number of client sessions on the database
	// now, counted as by Driver.DatabaseInfo: PostgreSQL's client backends
	// connected to it; MariaDB's sessions whose default database it is plus
	// the owner's sessions without a default database.
	ActiveConnections int
	// MaxConnections is the most sessions the database may have: its own
	// limit (PostgreSQL's datconnlimit, MariaDB's MAX_USER_CONNECTIONS of
	// the owner, the most permissive of its accounts), capped by the
	// server's max_connections; the server's max_connections when the
	// database has no limit of its own (on MariaDB the global
	// max_user_connections when that is set).
	MaxConnections int
	// TotalQueries is a monotonically increasing count of the tenant's work:
	//   - PostgreSQL: transactions, xact_commit + xact_rollback of
	//     pg_stat_database. A statement outside BEGIN/COMMIT is one
	//     transaction; a transaction of many statements counts once. The
	//     figures of a session reach the statistics when it goes idle, at
	//     most about once a second (up to 10 s late for a session that
	//     stays idle), and at once when it ends.
	//   - MariaDB: statements of the database's owner, SELECT_COMMANDS +
	//     UPDATE_COMMANDS + OTHER_COMMANDS of
	//     information_schema.USER_STATISTICS. The server counts them only
	//     while the variable userstat is on: Sample turns it on (SET
	//     GLOBAL, so it is off again after a restart until the next Sample)
	//     and statements before that are not counted. The count is per
	//     user: a user owning several databases gives each the same count.
	//     0 for a database without an owner, or owned by an administrator.
	TotalQueries int64
	// CacheHitRatio is the database's share of block reads served from
	// shared buffers in percent: PostgreSQL's blks_hit / (blks_hit +
	// blks_read) * 100 since the statistics were reset, nil before the
	// first read. Always nil on MariaDB (see ServerSample.CacheHitRatio).
	CacheHitRatio *float64
}

// HitRatio returns hits / (hits + misses) * 100, or nil when both are 0.
func HitRatio(hits, misses int64) *float64 {
	if hits < 0 || misses < 0 || hits+misses <= 0 {
		return nil
	}
	r := float64(hits) / float64(hits+misses) * 100
	return &r
}

// EffectiveLimit caps a database's own connection limit (Unlimited for
// none) by the server-wide one.
func EffectiveLimit(own, server int) int {
	if own == Unlimited || own > server && server > 0 {
		return server
	}
	return own
}
