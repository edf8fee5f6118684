package postgres

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/provision/procstat"
)

// Sample reads the figures of every database whose name starts with prefix
// and of the server, in two statements: one for the server's settings, one
// for all the databases (sizes, sessions, statistics).
//
// The process figures come from /proc when the server runs on this host:
// the pid on the first line of DATADIR/postmaster.pid names the postmaster,
// which is taken to be this server's only if the file's start time (its
// third line) is the server's pg_postmaster_start_time() (so a local
// server whose data directory has the same path as a remote one's is not
// mistaken for it), the process's command line mentions postgres and its
// working directory is the data directory (so a pid from another PID
// namespace is not either). Reading postmaster.pid needs root or the
// server's OS user.
func (p *Driver) Sample(ctx context.Context, prefix string) (provision.ServerSample, error) {
	if err := provision.ValidPrefix(prefix); err != nil {
		return provision.ServerSample{}, err
	}
	var dataDir string
	var maxConns int
	var started time.Time
	if err := p.pool.QueryRow(ctx, `SELECT current_setting('data_directory'),
			current_setting('max_connections')::int, pg_catalog.pg_postmaster_start_time()`).
		Scan(&dataDir, &maxConns, &started); err != nil {
		return provision.ServerSample{}, fmt.Errorf("postgresql: sample: read server settings: %w", err)
	}

	s := provision.ServerSample{MeasuredAt: time.Now(), Databases: map[string]provision.DatabaseSample{}}
	s.CPUSeconds, s.MemoryPercent = procstat.Figures(procstat.Identity{
		PidFile: filepath.Join(dataDir, "postmaster.pid"),
		Names:   []string{"postgres"},
		DataDir: dataDir,
		Check: func(lines []string, _ procstat.Stat) bool {
			// Line 3 is the postmaster's start time in Unix seconds; it
			// and pg_postmaster_start_time() are taken a moment apart.
			if len(lines) < 3 {
				return false
			}
			t, err := strconv.ParseInt(strings.TrimSpace(lines[2]), 10, 64)
			return err == nil && math.Abs(float64(t)-float64(started.UnixMilli())/1000) <= 2
		},
	})

	// One pass over pg_database: pg_database_size stats each database's
	// files (it is the bulk of the work), the statistics come from shared
	// memory. A database dropped while the statement runs has a NULL size
	// and is skipped. Invalid databases (datconnlimit = -2, an interrupted
	// DROP DATABASE) have no meaningful figures and are left out.
	rows, err := p.pool.Query(ctx, `
		SELECT d.datname, d.datconnlimit, pg_catalog.pg_database_size(d.oid),
			COALESCE(a.sessions, 0), s.xact_commit + s.xact_rollback, s.blks_hit, s.blks_read
		FROM pg_catalog.pg_database d
		JOIN pg_catalog.pg_stat_database s ON s.datid = d.oid
		LEFT JOIN (SELECT datid, count(*) AS sessions `+pgClientSessions+` GROUP BY datid) a ON a.datid = d.oid
		WHERE `+pgNotTemplateDB+` AND d.datconnlimit <> -2 AND starts_with(d.datname, $1)`, prefix)
	if err != nil {
		return provision.ServerSample{}, fmt.Errorf("postgresql: sample databases: %w", err)
	}
	var (
		name                     string
		limit                    int
		size                     *int64
		sessions                 int64
		xacts, blksHit, blksRead int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &limit, &size, &sessions, &xacts, &blksHit, &blksRead}, func() error {
		if size == nil {
			return nil
		}
		s.Databases[name] = provision.DatabaseSample{
			SizeBytes:         *size,
			ActiveConnections: int(sessions),
			MaxConnections:    provision.EffectiveLimit(limit, maxConns),
			TotalQueries:      xacts,
			CacheHitRatio:     provision.HitRatio(blksHit, blksRead),
		}
		return nil
	})
	if err != nil {
		return provision.ServerSample{}, fmt.Errorf("postgresql: sample databases: %w", err)
	}
	return s, nil
}
