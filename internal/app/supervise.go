package app

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellar/cellar/internal/harness"
	"github.com/cellar/cellar/internal/supervise"
)

// superviseEmbedded watches the servers `cellar serve` started itself and
// restarts any that dies, so that an outage of one heals without an
// operator: Cellar's connection pools reconnect to the same address, and
// the reconciler settles the work the outage interrupted.
func superviseEmbedded(svcs *harness.Services, reg prometheus.Registerer, log *slog.Logger) (*supervise.Supervisor, error) {
	sup := supervise.New(supervise.Options{Logger: log, Registerer: reg})
	for _, u := range []struct {
		name string
		t    supervise.Target
	}{
		{"metadata-postgresql", svcs.Metadata},
		{"managed-postgresql", svcs.PG},
		{"mariadb", svcs.MariaDB},
		{"vault", svcs.Vault},
	} {
		if err := sup.Watch(u.name, u.t); err != nil {
			sup.Close()
			return nil, err
		}
	}
	return sup, nil
}
