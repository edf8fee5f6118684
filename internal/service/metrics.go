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
}

func newMetrics(reg prometheus.Registerer) *metrics {
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
	}
	if reg != nil {
		reg.MustRegister(m.provisionSeconds, m.reconciled, m.drift, m.accessRepairs)
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
