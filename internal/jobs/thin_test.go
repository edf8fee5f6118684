package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/secrets"
	"github.com/cellar/cellar/internal/service"
	"github.com/cellar/cellar/internal/store"
	"github.com/cellar/cellar/internal/testenv"
)

// TestMetrics_RetentionThinsThenDrops: samples younger than the raw
// retention all stay; older ones are thinned to the first of each hour;
// past the retention none stay.
func TestMetrics_RetentionThinsThenDrops(t *testing.T) {
	testenv.Need(t, env)
	ctx := context.Background()
	cfg := env.Config(nil)
	st, err := store.Open(ctx, cfg["CELLAR_METADATA_DSN"], 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	vault, _ := secrets.Open(secrets.Config{Addr: cfg["CELLAR_VAULT_ADDR"], Token: cfg["CELLAR_VAULT_TOKEN"], Mount: "secret", Prefix: "cellar"})
	svc := service.New(service.Deps{Store: st, Vault: vault, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer svc.Close()

	c := env.NewCustomer(t)
	var db struct {
		DBName string `json:"db_name"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "mariadb", "requested_name": "thin"}).Decode(t, &db)
	var id uuid.UUID
	if err := st.Pool.QueryRow(ctx, "SELECT id FROM databases WHERE name = $1 AND status = 'active'", db.DBName).Scan(&id); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 1, 10, 12, 0, 0, 0, time.UTC)
	// Every 10 minutes over the last 40 days.
	var rows []store.InsertDatabaseMetricsParams
	for at := now.Add(-40 * 24 * time.Hour); at.Before(now); at = at.Add(10 * time.Minute) {
		rows = append(rows, store.InsertDatabaseMetricsParams{DatabaseID: id, MeasuredAt: at, StorageBytes: 1, MaxConnections: 100})
	}
	if _, err := st.InsertDatabaseMetrics(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ThinMetrics(ctx, now, 48*time.Hour, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	count := func(from, to time.Time) int {
		var n int
		if err := st.Pool.QueryRow(ctx, "SELECT count(*) FROM database_metrics WHERE database_id = $1 AND measured_at >= $2 AND measured_at < $3",
			id, from, to).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(now.Add(-48*time.Hour), now); n != 48*6 {
		t.Errorf("raw window: %d samples, want %d (all)", n, 48*6)
	}
	if n := count(now.Add(-30*24*time.Hour), now.Add(-48*time.Hour)); n != 28*24 {
		t.Errorf("thinned window: %d samples, want %d (one per hour)", n, 28*24)
	}
	if n := count(now.Add(-50*24*time.Hour), now.Add(-30*24*time.Hour)); n != 0 {
		t.Errorf("past retention: %d samples, want 0", n)
	}
}
