package app

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellar/cellar/internal/store"
)

// registerPoolMetrics exports the metadata pools' occupancy: requests
// (authentication, reads) and locks (sessions held by running changes). A
// request pool at its maximum means requests queue for a connection, the
// starvation the separate lock pool exists to prevent.
func registerPoolMetrics(reg prometheus.Registerer, st *store.Store) {
	for name, pool := range map[string]*pgxpool.Pool{"requests": st.Pool, "locks": st.LockPool} {
		labels := prometheus.Labels{"pool": name}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "cellar_metadata_pool_acquired_connections", ConstLabels: labels,
				Help: "Metadata connections in use, by pool (requests or locks).",
			}, func() float64 { return float64(pool.Stat().AcquiredConns()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "cellar_metadata_pool_max_connections", ConstLabels: labels,
				Help: "Most metadata connections a pool opens, by pool.",
			}, func() float64 { return float64(pool.Stat().MaxConns()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "cellar_metadata_pool_empty_acquires_total", ConstLabels: labels,
				Help: "Acquires that had to wait because every connection of the pool was in use, by pool.",
			}, func() float64 { return float64(pool.Stat().EmptyAcquireCount()) }),
		)
	}
}
