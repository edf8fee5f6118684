package service

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// QuotaDefaults are the limits of a customer without overrides.
type QuotaDefaults struct {
	MaxDatabases int
	MaxStorageGB float64
	// PerEngine limits; 0 means only the total applies.
	MaxPerEngine map[cellar.Engine]int
	// MaxSnapshots and MaxSnapshotGB bound the snapshots a customer keeps
	// (checked when a manual snapshot is created); GB 0 means unlimited.
	MaxSnapshots  int
	MaxSnapshotGB float64
}

// Prices is the monthly price table for cost estimates.
type Prices struct {
	Currency  string
	PerEngine map[cellar.Engine]float64 // per database per month
	StorageGB float64                   // per GB-month of database storage
	BackupGB  float64                   // per GB-month of snapshots
}

// ParsePrices reads "currency=EUR,postgresql=5,mariadb=4,storage_gb=0.1,backup_gb=0.05".
func ParsePrices(s string) (Prices, error) {
	p := Prices{Currency: "EUR", PerEngine: map[cellar.Engine]float64{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return p, fmt.Errorf("%q: want key=value", item)
		}
		if k == "currency" {
			p.Currency = v
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return p, fmt.Errorf("%q: want a non-negative number", item)
		}
		switch k {
		case "storage_gb":
			p.StorageGB = f
		case "backup_gb":
			p.BackupGB = f
		default:
			e, err := cellar.ParseEngine(k)
			if err != nil {
				return p, fmt.Errorf("%q: unknown price %q", item, k)
			}
			p.PerEngine[e] = f
		}
	}
	return p, nil
}

// limits are a customer's effective limits.
type limits struct {
	maxDatabases  int
	maxStorageGB  float64
	perEngine     map[cellar.Engine]int
	maxSnapshots  int
	maxSnapshotGB float64
}

func (s *Service) limitsOf(ctx context.Context, q *store.Queries, customer string) (limits, error) {
	l := limits{maxDatabases: s.quota.MaxDatabases, maxStorageGB: s.quota.MaxStorageGB, perEngine: map[cellar.Engine]int{},
		maxSnapshots: s.quota.MaxSnapshots, maxSnapshotGB: s.quota.MaxSnapshotGB}
	for e, n := range s.quota.MaxPerEngine {
		l.perEngine[e] = n
	}
	o, err := q.GetCustomerQuota(ctx, customer)
	if store.IsNotFound(err) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	if o.MaxDatabases != nil {
		l.maxDatabases = int(*o.MaxDatabases)
	}
	if o.MaxStorageGb != nil {
		l.maxStorageGB = *o.MaxStorageGb
	}
	if o.MaxPostgresql != nil {
		l.perEngine[cellar.PostgreSQL] = int(*o.MaxPostgresql)
	}
	if o.MaxMariadb != nil {
		l.perEngine[cellar.MariaDB] = int(*o.MaxMariadb)
	}
	if o.MaxSnapshots != nil {
		l.maxSnapshots = int(*o.MaxSnapshots)
	}
	if o.MaxSnapshotGb != nil {
		l.maxSnapshotGB = *o.MaxSnapshotGb
	}
	return l, nil
}

// checkQuota refuses a new database that would exceed the customer's
// limits. It runs in the transaction that reserves the name, under a
// per-customer transaction lock, so concurrent creates are counted one
// after the other and cannot overshoot together.
func (s *Service) checkQuota(ctx context.Context, q *store.Queries, customer string, engine cellar.Engine) error {
	if err := q.LockCustomerQuota(ctx, customer); err != nil {
		return err
	}
	l, err := s.limitsOf(ctx, q, customer)
	if err != nil {
		return err
	}
	counts, err := q.CountLiveDatabasesByEngine(ctx, customer)
	if err != nil {
		return err
	}
	total, ofEngine := 0, 0
	for _, c := range counts {
		total += int(c.N)
		if c.Engine == string(engine) {
			ofEngine = int(c.N)
		}
	}
	if total >= l.maxDatabases {
		return cellar.Errorf(cellar.CodeQuotaExceeded, "database quota reached: customer %s has %d databases and the limit is %d", customer, total, l.maxDatabases)
	}
	if limit, ok := l.perEngine[engine]; ok && limit > 0 && ofEngine >= limit {
		return cellar.Errorf(cellar.CodeQuotaExceeded, "%s quota reached: customer %s has %d %s databases and the limit is %d",
			engine.DisplayName(), customer, ofEngine, engine.DisplayName(), limit)
	}
	if l.maxStorageGB > 0 {
		used, err := q.CustomerStorageBytes(ctx, customer)
		if err != nil {
			return err
		}
		if gb := float64(used) / (1 << 30); gb >= l.maxStorageGB {
			return cellar.Errorf(cellar.CodeQuotaExceeded, "storage quota reached: customer %s uses %.2f GB and the limit is %.2f GB", customer, gb, l.maxStorageGB)
		}
	}
	return nil
}

// Quota is a customer's usage against its limits.
type Quota struct {
	CustomerID     string
	Used           int
	Limit          int
	StorageUsedGB  float64
	StorageLimitGB float64
	BackupUsedGB   float64
	Snapshots      SnapshotQuota
	Engines        []EngineQuota
	Cost           CostEstimate
}

// SnapshotQuota is a customer's snapshots against its snapshot limits.
// Used counts every snapshot that holds or will hold a file (completed,
// pending, running); UsedBytes is completed sizes plus what running dumps
// have written so far. LimitGB 0 means unlimited.
type SnapshotQuota struct {
	Used      int
	Limit     int
	UsedBytes int64
	UsedGB    float64
	LimitGB   float64
}

// EngineQuota is usage and limit for one engine (Limit 0: none of its own).
type EngineQuota struct {
	Engine cellar.Engine
	Used   int
	Limit  int
}

// CostEstimate is the monthly cost at current usage.
type CostEstimate struct {
	Currency string
	Total    float64
	Lines    []CostLine
}

// CostLine is one item of a cost estimate.
type CostLine struct {
	Item     string
	Quantity float64
	Unit     float64
	Amount   float64
}

// GetQuota reports the caller's (or, for internal keys, a named
// customer's) usage, limits and estimated monthly cost.
func (s *Service) GetQuota(ctx context.Context, c Caller, customerOverride string) (*Quota, error) {
	if err := c.Require(cellar.PermDatabaseRead); err != nil {
		return nil, err
	}
	customer, err := c.CustomerFor(customerOverride)
	if err != nil {
		return nil, err
	}
	return s.quotaOf(ctx, customer)
}

func (s *Service) quotaOf(ctx context.Context, customer string) (*Quota, error) {
	l, err := s.limitsOf(ctx, s.store.Queries, customer)
	if err != nil {
		return nil, err
	}
	counts, err := s.store.CountLiveDatabasesByEngine(ctx, customer)
	if err != nil {
		return nil, err
	}
	storage, err := s.store.CustomerStorageBytes(ctx, customer)
	if err != nil {
		return nil, err
	}
	backups, err := s.store.SumSnapshotBytes(ctx, customer)
	if err != nil {
		return nil, err
	}
	snaps, err := s.store.CustomerSnapshotUsage(ctx, customer)
	if err != nil {
		return nil, err
	}
	q := &Quota{
		CustomerID: customer, Limit: l.maxDatabases, StorageLimitGB: l.maxStorageGB,
		StorageUsedGB: round2(float64(storage) / (1 << 30)), BackupUsedGB: round2(float64(backups) / (1 << 30)),
		Snapshots: SnapshotQuota{Used: int(snaps.Snapshots), Limit: l.maxSnapshots, UsedBytes: snaps.Bytes,
			UsedGB: round2(float64(snaps.Bytes) / (1 << 30)), LimitGB: l.maxSnapshotGB},
		Cost: CostEstimate{Currency: s.prices.Currency},
	}
	byEngine := map[cellar.Engine]int{}
	for _, c := range counts {
		byEngine[cellar.Engine(c.Engine)] = int(c.N)
		q.Used += int(c.N)
	}
	for _, e := range cellar.Engines {
		q.Engines = append(q.Engines, EngineQuota{Engine: e, Used: byEngine[e], Limit: l.perEngine[e]})
		if price := s.prices.PerEngine[e]; byEngine[e] > 0 {
			q.Cost.add(e.DisplayName()+" databases", float64(byEngine[e]), price)
		}
	}
	q.Cost.add("database storage (GB)", float64(storage)/(1<<30), s.prices.StorageGB)
	q.Cost.add("backup storage (GB)", float64(backups)/(1<<30), s.prices.BackupGB)
	return q, nil
}

func (c *CostEstimate) add(item string, qty, unit float64) {
	amount := round2(qty * unit)
	c.Lines = append(c.Lines, CostLine{Item: item, Quantity: round2(qty), Unit: unit, Amount: amount})
	c.Total = round2(c.Total + amount)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// QuotaOverride is the body of PUT /v1/admin/quotas/{customer_id}; null
// fields use the defaults.
type QuotaOverride struct {
	MaxDatabases  *int     `json:"max_databases"`
	MaxStorageGB  *float64 `json:"max_storage_gb"`
	MaxPostgreSQL *int     `json:"max_postgresql"`
	MaxMariaDB    *int     `json:"max_mariadb"`
	// MaxSnapshots 0 allows no manual snapshots; MaxSnapshotGB 0 is unlimited.
	MaxSnapshots  *int     `json:"max_snapshots"`
	MaxSnapshotGB *float64 `json:"max_snapshot_gb"`
}

// SetQuota overrides a customer's limits. Internal admin keys only.
func (s *Service) SetQuota(ctx context.Context, c Caller, customer string, o QuotaOverride) (*Quota, error) {
	// A customer's own admin key must not lift its own limits.
	if err := c.RequireOperator(); err != nil {
		return nil, err
	}
	var fields []cellar.FieldError
	if err := cellar.ValidateCustomerID(customer); err != nil {
		fields = append(fields, cellar.FieldError{Field: "customer_id", Message: err.Error()})
	}
	for name, v := range map[string]*int{"max_databases": o.MaxDatabases, "max_postgresql": o.MaxPostgreSQL, "max_mariadb": o.MaxMariaDB, "max_snapshots": o.MaxSnapshots} {
		if v != nil && (*v < 0 || *v > 1_000_000) {
			fields = append(fields, cellar.FieldError{Field: name, Message: "must be from 0 to 1000000"})
		}
	}
	for name, v := range map[string]*float64{"max_storage_gb": o.MaxStorageGB, "max_snapshot_gb": o.MaxSnapshotGB} {
		if v != nil && (*v < 0 || *v > 1e6 || math.IsNaN(*v)) {
			fields = append(fields, cellar.FieldError{Field: name, Message: "must be from 0 to 1000000"})
		}
	}
	if fields != nil {
		sort.Slice(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
		return nil, cellar.Invalid(fields...)
	}
	_, err := s.store.UpsertCustomerQuota(ctx, store.UpsertCustomerQuotaParams{
		CustomerID: customer, MaxDatabases: i32(o.MaxDatabases), MaxStorageGb: o.MaxStorageGB,
		MaxPostgresql: i32(o.MaxPostgreSQL), MaxMariadb: i32(o.MaxMariaDB),
		MaxSnapshots: i32(o.MaxSnapshots), MaxSnapshotGb: o.MaxSnapshotGB, UpdatedBy: c.KeyPrefix,
	})
	if err != nil {
		return nil, err
	}
	s.audit(ctx, c, "quota.set", customer, map[string]any{"max_databases": o.MaxDatabases, "max_storage_gb": o.MaxStorageGB,
		"max_postgresql": o.MaxPostgreSQL, "max_mariadb": o.MaxMariaDB, "max_snapshots": o.MaxSnapshots, "max_snapshot_gb": o.MaxSnapshotGB})
	return s.quotaOf(ctx, customer)
}

func i32(v *int) *int32 {
	if v == nil {
		return nil
	}
	n := int32(*v)
	return &n
}
