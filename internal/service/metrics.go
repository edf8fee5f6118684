package service

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	provisionSeconds *prometheus.HistogramVec
	reconciled       *prometheus.CounterVec
	drift            *prometheus.GaugeVec
	accessRepairs    *prometheus.CounterVec
	billing          *prometheus.CounterVec
	// driftRepaired counts drift the reconciler repaired, by kind and engine.
	driftRepaired *prometheus.CounterVec
	// admissionRefused counts changes refused by the per-customer bound.
	admissionRefused prometheus.Counter

	// Billing dead letters: events set aside after the last allowed
	// failed attempt, the current backlog of them, and how many attempts
	// an event took to be delivered or dead-lettered.
	billingDeadLettered prometheus.Counter
	billingDeadLetters  prometheus.Gauge
	billingAttempts     *prometheus.HistogramVec

	collectSeconds    *prometheus.HistogramVec
	serverDatabases   *prometheus.GaugeVec
	serverStorage     *prometheus.GaugeVec
	serverConnections *prometheus.GaugeVec
	serverCPU         *prometheus.GaugeVec
	serverMemory      *prometheus.GaugeVec
	// Per-database gauges, only when configured: a label per database
	// makes a series per database, which most Prometheus set-ups regret.
	dbStorage     *prometheus.GaugeVec
	dbConnections *prometheus.GaugeVec
}

func gauge(name, help string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"server"})
}

func newMetrics(reg prometheus.Registerer, perDatabase bool) *metrics {
	m := &metrics{
		provisionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cellar_provision_duration_seconds",
			Help:    "Duration of provisioning operations by engine, operation and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"engine", "operation", "outcome"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellar_reconciled_operations_total",
			Help: "Interrupted operations the reconciler finished or rolled back, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellar_drift_objects",
			Help: "Objects on managed servers that disagree with the metadata at the last check, by server and kind.",
		}, []string{"server", "kind"}),
		accessRepairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellar_access_repairs_total",
			Help: "Engine access rules and firewall rules the reconciler found out of line with the metadata and repaired, by server.",
		}, []string{"server"}),
		billing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellar_billing_deliveries_total",
			Help: "Usage event deliveries to the billing endpoint, by outcome.",
		}, []string{"outcome"}),
		billingDeadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellar_billing_dead_lettered_total",
			Help: "Usage events dead-lettered after CELLAR_BILLING_MAX_ATTEMPTS failed deliveries.",
		}),
		billingDeadLetters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cellar_billing_dead_letters",
			Help: "Usage events waiting in the dead letter queue (GET /v1/admin/billing/dead-letters), at the last delivery pass.",
		}),
		billingAttempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cellar_billing_delivery_attempts",
			Help:    "Attempts a usage event took, by how it ended (delivered or dead_lettered).",
			Buckets: []float64{1, 2, 3, 5, 10, 20, 50},
		}, []string{"outcome"}),
		driftRepaired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellar_drift_repaired_total",
			Help: "Settings on managed servers the reconciler found changed behind Cellar's back and set back, by kind and engine.",
		}, []string{"kind", "engine"}),
		admissionRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellar_changes_refused_total",
			Help: "State-changing requests refused (429) because their customer already ran the most changes allowed at once.",
		}),
		collectSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cellar_metrics_collection_duration_seconds", Help: "Duration of one metrics pass over a server.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"server"}),
		serverDatabases:   gauge("cellar_server_databases", "Databases sampled on the server at the last pass."),
		serverStorage:     gauge("cellar_server_storage_bytes", "Total size of the server's Cellar databases."),
		serverConnections: gauge("cellar_server_connections", "Client sessions on the server's Cellar databases."),
		serverCPU:         gauge("cellar_server_cpu_percent", "CPU use of the server's processes, percent of this host."),
		serverMemory:      gauge("cellar_server_memory_percent", "Memory of the server's processes, percent of this host."),
		dbStorage: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cellar_database_storage_bytes",
			Help: "Size of one database (only with CELLAR_METRICS_PER_DATABASE)."}, []string{"server", "database"}),
		dbConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cellar_database_connections",
			Help: "Client sessions of one database (only with CELLAR_METRICS_PER_DATABASE)."}, []string{"server", "database"}),
	}
	if reg != nil {
		reg.MustRegister(m.provisionSeconds, m.reconciled, m.drift, m.accessRepairs, m.billing, m.collectSeconds,
			m.driftRepaired, m.admissionRefused,
			m.serverDatabases, m.serverStorage, m.serverConnections, m.serverCPU, m.serverMemory)
		reg.MustRegister(m.billingDeadLettered, m.billingDeadLetters, m.billingAttempts)
		if perDatabase {
			reg.MustRegister(m.dbStorage, m.dbConnections)
		}
	}
	return m
}

// observe records one provisioning operation.
func (m *metrics) observe(engine, operation string, start time.Time, err error) {
	outcome := "success"
	if err != nil {
		outcome = "error"
	}
	m.provisionSeconds.WithLabelValues(engine, operation, outcome).Observe(time.Since(start).Seconds())
}
