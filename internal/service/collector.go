package service

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// CollectMetrics samples every managed server once (one pass of a few
// queries per server, whatever its number of databases) and stores a
// sample per database. Rates (queries per second, CPU percent) come from
// the difference with the previous sample.
func (s *Service) CollectMetrics(ctx context.Context) (int, error) {
	servers, err := s.store.ListServers(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, srv := range servers {
		if !srv.Enabled {
			continue
		}
		n, err := s.collectServer(ctx, srv)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("server %s: %w", srv.Name, err))
		}
	}
	return total, errors.Join(errs...)
}

func (s *Service) collectServer(ctx context.Context, srv store.Server) (int, error) {
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	sample, err := drv.Sample(ctx, "cust_")
	if err != nil {
		return 0, err
	}
	s.metrics.collectSeconds.WithLabelValues(srv.Name).Observe(time.Since(start).Seconds())
	at := sample.MeasuredAt

	// Server CPU percent from the previous server sample.
	var cpuPercent *float64
	if prev, err := s.store.LatestServerMetrics(ctx, srv.ID); err == nil && prev.CpuSeconds != nil && sample.CPUSeconds != nil {
		if wall := at.Sub(prev.MeasuredAt).Seconds(); wall > 0 {
			p := (*sample.CPUSeconds - *prev.CpuSeconds) / wall / float64(runtime.NumCPU()) * 100
			p = max(0, min(100, p))
			cpuPercent = &p
		}
	} else if err != nil && !store.IsNotFound(err) {
		return 0, err
	}
	if err := s.store.InsertServerMetrics(ctx, store.InsertServerMetricsParams{
		ServerID: srv.ID, MeasuredAt: at, CpuSeconds: sample.CPUSeconds, CpuPercent: cpuPercent, MemoryPercent: sample.MemoryPercent,
	}); err != nil {
		return 0, err
	}

	live, err := s.store.LiveDatabasesOfServer(ctx, srv.ID)
	if err != nil {
		return 0, err
	}
	prevRows, err := s.store.LatestMetricsOfServer(ctx, srv.ID)
	if err != nil {
		return 0, err
	}
	prev := make(map[uuid.UUID]store.LatestMetricsOfServerRow, len(prevRows))
	for _, p := range prevRows {
		prev[p.DatabaseID] = p
	}
	var rows []store.InsertDatabaseMetricsParams
	totals := serverTotals{}
	for _, db := range live {
		d, ok := sample.Databases[db.Name]
		if !ok {
			continue // created after the sample, or missing (drift reports it)
		}
		row := store.InsertDatabaseMetricsParams{
			DatabaseID: db.ID, MeasuredAt: at, StorageBytes: d.SizeBytes, ActiveConnections: int32(d.ActiveConnections),
			MaxConnections: int32(d.MaxConnections), TotalQueries: d.TotalQueries, CacheHitRatio: firstSet(d.CacheHitRatio, sample.CacheHitRatio),
			CpuPercent: cpuPercent, MemoryPercent: sample.MemoryPercent,
		}
		if p, ok := prev[db.ID]; ok {
			if wall := at.Sub(p.MeasuredAt).Seconds(); wall > 0 && d.TotalQueries >= p.TotalQueries {
				qps := float64(d.TotalQueries-p.TotalQueries) / wall
				row.QueriesPerSec = &qps
			}
		}
		rows = append(rows, row)
		totals.add(srv.Name, db.Name, d.SizeBytes, d.ActiveConnections)
		if s.perDatabaseMetrics {
			s.metrics.dbStorage.WithLabelValues(srv.Name, db.Name).Set(float64(d.SizeBytes))
			s.metrics.dbConnections.WithLabelValues(srv.Name, db.Name).Set(float64(d.ActiveConnections))
		}
	}
	if len(rows) > 0 {
		if _, err := s.store.InsertDatabaseMetrics(ctx, rows); err != nil {
			return 0, err
		}
	}
	s.metrics.serverDatabases.WithLabelValues(srv.Name).Set(float64(len(rows)))
	s.metrics.serverStorage.WithLabelValues(srv.Name).Set(float64(totals.storage))
	s.metrics.serverConnections.WithLabelValues(srv.Name).Set(float64(totals.connections))
	if cpuPercent != nil {
		s.metrics.serverCPU.WithLabelValues(srv.Name).Set(*cpuPercent)
	}
	if sample.MemoryPercent != nil {
		s.metrics.serverMemory.WithLabelValues(srv.Name).Set(*sample.MemoryPercent)
	}
	return len(rows), nil
}

func firstSet(vs ...*float64) *float64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

type serverTotals struct{ storage, connections int64 }

func (t *serverTotals) add(_, _ string, storage int64, conns int) {
	t.storage += storage
	t.connections += int64(conns)
}

// ThinMetrics keeps every sample for rawFor, then one per hour up to
// keepFor, then none.
func (s *Service) ThinMetrics(ctx context.Context, now time.Time, rawFor, keepFor time.Duration) (int64, error) {
	n, err := s.store.ThinDatabaseMetrics(ctx, store.ThinDatabaseMetricsParams{KeepAllAfter: now.Add(-rawFor), KeepNoneBefore: now.Add(-keepFor)})
	if err != nil {
		return n, err
	}
	m, err := s.store.DeleteOldServerMetrics(ctx, now.Add(-keepFor))
	return n + m, err
}

// MetricsSample is one sample of a database's figures.
type MetricsSample struct {
	MeasuredAt        time.Time
	StorageBytes      int64
	ActiveConnections int
	MaxConnections    int
	TotalQueries      int64
	QueriesPerSec     *float64
	CacheHitRatio     *float64
	CPUPercent        *float64
	MemoryPercent     *float64
}

// DatabaseMetrics is a database's latest sample, its backup storage, and,
// when a window is asked for, the samples in it.
type DatabaseMetrics struct {
	DatabaseID  uuid.UUID
	Latest      *MetricsSample
	BackupBytes int64
	Series      []MetricsSample
}

// GetDatabaseMetrics returns a database's latest metrics and, with since
// (and optionally until), the series in that window.
func (s *Service) GetDatabaseMetrics(ctx context.Context, c Caller, dbType, dbName string, since, until *time.Time) (*DatabaseMetrics, error) {
	db, _, err := s.readTarget(ctx, c, cellar.PermDatabaseRead, dbType, dbName)
	if err != nil {
		return nil, err
	}
	out := &DatabaseMetrics{DatabaseID: db.ID}
	latest, err := s.store.LatestDatabaseMetrics(ctx, db.ID)
	switch {
	case err == nil:
		m := sampleFrom(latest)
		out.Latest = &m
	case !store.IsNotFound(err):
		return nil, err
	}
	snaps, err := s.store.ListSnapshots(ctx, store.ListSnapshotsParams{CustomerID: db.CustomerID, DatabaseID: db.ID})
	if err != nil {
		return nil, err
	}
	for _, sn := range snaps {
		if sn.Status == cellar.SnapshotCompleted && sn.SizeBytes != nil {
			out.BackupBytes += *sn.SizeBytes
		}
	}
	if since != nil {
		to := s.now()
		if until != nil {
			to = *until
		}
		rows, err := s.store.DatabaseMetricsSeries(ctx, store.DatabaseMetricsSeriesParams{DatabaseID: db.ID, MeasuredAt: *since, MeasuredAt_2: to})
		if err != nil {
			return nil, err
		}
		out.Series = make([]MetricsSample, 0, len(rows))
		for _, r := range rows {
			out.Series = append(out.Series, sampleFrom(r))
		}
	}
	return out, nil
}

func sampleFrom(r store.DatabaseMetric) MetricsSample {
	return MetricsSample{
		MeasuredAt: r.MeasuredAt, StorageBytes: r.StorageBytes, ActiveConnections: int(r.ActiveConnections),
		MaxConnections: int(r.MaxConnections), TotalQueries: r.TotalQueries, QueriesPerSec: r.QueriesPerSec,
		CacheHitRatio: r.CacheHitRatio, CPUPercent: r.CpuPercent, MemoryPercent: r.MemoryPercent,
	}
}
