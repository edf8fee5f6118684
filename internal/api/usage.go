package api

import (
	"context"
	"time"

	"github.com/cellar/cellar/internal/billing"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/service"
)

// metricsSampleJSON is one sample; every field is null before the first
// collection pass has seen the database.
type metricsSampleJSON struct {
	StorageGB         *float64   `json:"storage_gb"`
	ActiveConnections *int       `json:"active_connections"`
	MaxConnections    *int       `json:"max_connections"`
	TotalQueries      *int64     `json:"total_queries"`
	QueriesPerSec     *float64   `json:"queries_per_sec"`
	CacheHitRatio     *float64   `json:"cache_hit_ratio" doc:"percent"`
	CPUPercent        *float64   `json:"cpu_percent"`
	MemoryPercent     *float64   `json:"memory_percent"`
	MeasuredAt        *time.Time `json:"measured_at"`
}

type metricsJSON struct {
	DatabaseID string  `json:"database_id"`
	BackupGB   float64 `json:"backup_gb" doc:"Completed snapshots of the database"`
	*metricsSampleJSON
	Samples []metricsSampleJSON `json:"samples,omitempty" doc:"Only with since"`
}

func sampleJSON(m service.MetricsSample) metricsSampleJSON {
	storage, at := gb(m.StorageBytes), m.MeasuredAt.UTC()
	return metricsSampleJSON{
		StorageGB: &storage, ActiveConnections: &m.ActiveConnections, MaxConnections: &m.MaxConnections,
		TotalQueries: &m.TotalQueries, QueriesPerSec: m.QueriesPerSec, CacheHitRatio: m.CacheHitRatio,
		CPUPercent: m.CPUPercent, MemoryPercent: m.MemoryPercent, MeasuredAt: &at,
	}
}

func gb(bytes int64) float64 { return float64(bytes) / (1 << 30) }

// metricsRequest is a database and an optional time range.
type metricsRequest struct {
	dbAddress
	Since, Until *time.Time
}

func (r *metricsRequest) ExtractRaw(raw rawRequest) error {
	r.extract(raw)
	q := raw.Query()
	var fields []cellar.FieldError
	for name, dst := range map[string]**time.Time{"since": &r.Since, "until": &r.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fields = append(fields, cellar.FieldError{Field: name, Message: "must be an RFC 3339 time"})
				continue
			}
			*dst = &t
		}
	}
	if r.Until != nil && r.Since == nil {
		fields = append(fields, cellar.FieldError{Field: "since", Message: "is required with until"})
	}
	if fields != nil {
		return cellar.Invalid(fields...)
	}
	return nil
}

func (s *Server) databaseMetrics(ctx context.Context, c service.Caller, req *metricsRequest) (*metricsJSON, error) {
	m, err := s.svc.GetDatabaseMetrics(ctx, c, req.DBType, req.DBName, req.Since, req.Until)
	if err != nil {
		return nil, err
	}
	out := &metricsJSON{DatabaseID: m.DatabaseID.String(), BackupGB: gb(m.BackupBytes)}
	if m.Latest != nil {
		l := sampleJSON(*m.Latest)
		out.metricsSampleJSON = &l
	} else {
		out.metricsSampleJSON = &metricsSampleJSON{}
	}
	if req.Since != nil {
		out.Samples = make([]metricsSampleJSON, 0, len(m.Series))
		for _, x := range m.Series {
			out.Samples = append(out.Samples, sampleJSON(x))
		}
	}
	return out, nil
}

type quotaJSON struct {
	CustomerID     string            `json:"customer_id"`
	Used           int               `json:"used"`
	Limit          int               `json:"limit"`
	StorageUsedGB  float64           `json:"storage_used_gb"`
	StorageLimitGB float64           `json:"storage_limit_gb" doc:"0 = unlimited"`
	BackupUsedGB   float64           `json:"backup_used_gb"`
	Snapshots      snapshotQuotaJSON `json:"snapshots" doc:"Snapshots kept against the snapshot limits, which a manual snapshot must fit (scheduled backups count but are never refused). used counts pending, running and completed snapshots; bytes are completed sizes plus what running dumps have written so far."`
	Engines        []engineQuotaJSON `json:"engines"`
	Cost           costJSON          `json:"estimated_monthly_cost"`
}

type snapshotQuotaJSON struct {
	Used      int     `json:"used"`
	Limit     int     `json:"limit" doc:"max_snapshots; 0 = no manual snapshots"`
	UsedBytes int64   `json:"used_bytes"`
	UsedGB    float64 `json:"used_gb"`
	LimitGB   float64 `json:"limit_gb" doc:"max_snapshot_gb; 0 = unlimited"`
}

type engineQuotaJSON struct {
	DBType string `json:"db_type"`
	Used   int    `json:"used"`
	Limit  *int   `json:"limit" doc:"null: only the total applies"`
}

type costJSON struct {
	Currency string         `json:"currency"`
	Total    float64        `json:"total"`
	Lines    []costLineJSON `json:"lines"`
}

type costLineJSON struct {
	Item      string  `json:"item"`
	Quantity  float64 `json:"quantity"`
	UnitPrice float64 `json:"unit_price"`
	Amount    float64 `json:"amount"`
}

func quotaJSONFrom(q *service.Quota) quotaJSON {
	out := quotaJSON{CustomerID: q.CustomerID, Used: q.Used, Limit: q.Limit, StorageUsedGB: q.StorageUsedGB,
		StorageLimitGB: q.StorageLimitGB, BackupUsedGB: q.BackupUsedGB, Engines: []engineQuotaJSON{},
		Snapshots: snapshotQuotaJSON{Used: q.Snapshots.Used, Limit: q.Snapshots.Limit, UsedBytes: q.Snapshots.UsedBytes,
			UsedGB: q.Snapshots.UsedGB, LimitGB: q.Snapshots.LimitGB},
		Cost: costJSON{Currency: q.Cost.Currency, Total: q.Cost.Total, Lines: []costLineJSON{}}}
	for _, e := range q.Engines {
		j := engineQuotaJSON{DBType: string(e.Engine), Used: e.Used}
		if e.Limit > 0 {
			l := e.Limit
			j.Limit = &l
		}
		out.Engines = append(out.Engines, j)
	}
	for _, l := range q.Cost.Lines {
		out.Cost.Lines = append(out.Cost.Lines, costLineJSON{Item: l.Item, Quantity: l.Quantity, UnitPrice: l.Unit, Amount: l.Amount})
	}
	return out
}

// customerRequest is an optional customer_id from the query.
type customerRequest struct{ CustomerID string }

func (r *customerRequest) ExtractRaw(raw rawRequest) error {
	r.CustomerID = raw.Query().Get("customer_id")
	return nil
}

func (s *Server) quota(ctx context.Context, c service.Caller, req *customerRequest) (*quotaJSON, error) {
	q, err := s.svc.GetQuota(ctx, c, req.CustomerID)
	if err != nil {
		return nil, err
	}
	out := quotaJSONFrom(q)
	return &out, nil
}

type setQuotaRequest struct {
	CustomerID string
	Body       service.QuotaOverride
}

func (r *setQuotaRequest) body() any { return &r.Body }

func (r *setQuotaRequest) ExtractRaw(raw rawRequest) error {
	r.CustomerID = raw.Path("customer_id")
	return nil
}

func (s *Server) setQuota(ctx context.Context, c service.Caller, req *setQuotaRequest) (*quotaJSON, error) {
	q, err := s.svc.SetQuota(ctx, c, req.CustomerID, req.Body)
	if err != nil {
		return nil, err
	}
	out := quotaJSONFrom(q)
	return &out, nil
}

// usageRequest is a page of usage events, optionally of one customer.
type usageRequest struct {
	pageRequest
	CustomerID string
}

func (r *usageRequest) ExtractRaw(raw rawRequest) error {
	r.CustomerID = raw.Query().Get("customer_id")
	return r.pageRequest.ExtractRaw(raw)
}

type usagePageResponse struct {
	Events     []billing.Event `json:"events"`
	NextCursor *string         `json:"next_cursor"`
}

func (s *Server) usage(ctx context.Context, c service.Caller, req *usageRequest) (*usagePageResponse, error) {
	page, err := s.svc.ListUsage(ctx, c, req.Cursor, req.Limit, req.CustomerID)
	if err != nil {
		return nil, err
	}
	out := &usagePageResponse{Events: page.Events}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	return out, nil
}
