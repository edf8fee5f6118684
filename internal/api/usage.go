package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

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
	CacheHitRatio     *float64   `json:"cache_hit_ratio"`
	CPUPercent        *float64   `json:"cpu_percent"`
	MemoryPercent     *float64   `json:"memory_percent"`
	MeasuredAt        *time.Time `json:"measured_at"`
}

type metricsJSON struct {
	DatabaseID string  `json:"database_id"`
	BackupGB   float64 `json:"backup_gb"`
	*metricsSampleJSON
	Samples []metricsSampleJSON `json:"samples,omitempty"`
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

func (s *Server) databaseMetrics(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since, until *time.Time
	var fields []cellar.FieldError
	for name, dst := range map[string]**time.Time{"since": &since, "until": &until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fields = append(fields, cellar.FieldError{Field: name, Message: "must be an RFC 3339 time"})
				continue
			}
			*dst = &t
		}
	}
	if until != nil && since == nil {
		fields = append(fields, cellar.FieldError{Field: "since", Message: "is required with until"})
	}
	if fields != nil {
		writeError(w, r, s.log, cellar.Invalid(fields...))
		return
	}
	m, err := s.svc.GetDatabaseMetrics(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"), since, until)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := metricsJSON{DatabaseID: m.DatabaseID.String(), BackupGB: gb(m.BackupBytes)}
	if m.Latest != nil {
		l := sampleJSON(*m.Latest)
		out.metricsSampleJSON = &l
	} else {
		out.metricsSampleJSON = &metricsSampleJSON{}
	}
	if since != nil {
		out.Samples = make([]metricsSampleJSON, 0, len(m.Series))
		for _, x := range m.Series {
			out.Samples = append(out.Samples, sampleJSON(x))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type quotaJSON struct {
	CustomerID     string            `json:"customer_id"`
	Used           int               `json:"used"`
	Limit          int               `json:"limit"`
	StorageUsedGB  float64           `json:"storage_used_gb"`
	StorageLimitGB float64           `json:"storage_limit_gb"`
	BackupUsedGB   float64           `json:"backup_used_gb"`
	Snapshots      snapshotQuotaJSON `json:"snapshots"`
	Engines        []engineQuotaJSON `json:"engines"`
	Cost           costJSON          `json:"estimated_monthly_cost"`
}

type snapshotQuotaJSON struct {
	Used      int     `json:"used"`
	Limit     int     `json:"limit"`
	UsedBytes int64   `json:"used_bytes"`
	UsedGB    float64 `json:"used_gb"`
	LimitGB   float64 `json:"limit_gb"`
}

type engineQuotaJSON struct {
	DBType string `json:"db_type"`
	Used   int    `json:"used"`
	Limit  *int   `json:"limit"`
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

func (s *Server) quota(w http.ResponseWriter, r *http.Request) {
	q, err := s.svc.GetQuota(r.Context(), caller(r), r.URL.Query().Get("customer_id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, quotaJSONFrom(q))
}

func (s *Server) setQuota(w http.ResponseWriter, r *http.Request) {
	req, err := decode[service.QuotaOverride](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	q, err := s.svc.SetQuota(r.Context(), caller(r), chi.URLParam(r, "customer_id"), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, quotaJSONFrom(q))
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, r, s.log, cellar.Invalid(cellar.FieldError{Field: "limit", Message: "must be from 1 to 1000"}))
			return
		}
		limit = n
	}
	page, err := s.svc.ListUsage(r.Context(), caller(r), q.Get("cursor"), limit, q.Get("customer_id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := struct {
		Events     []billing.Event `json:"events"`
		NextCursor *string         `json:"next_cursor"`
	}{Events: page.Events}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}
