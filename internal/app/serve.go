package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/cellar/cellar/internal/api"
	"github.com/cellar/cellar/internal/config"
	"github.com/cellar/cellar/internal/jobs"
)

// serve runs the API and the reconciler until ctx ends, then shuts down
// gracefully: in-flight requests get time to finish their steps.
func serve(ctx context.Context, cfg config.Config, env *environment, log *slog.Logger, stdout io.Writer) error {
	key, err := env.svc.EnsureBootstrapKey(ctx, cfg.BootstrapAPIKey)
	if err != nil {
		return fmt.Errorf("bootstrap API key: %w", err)
	}
	if key != "" {
		// Printed, not logged: logs are shipped and kept, this is shown once.
		fmt.Fprintf(stdout, "\n  Admin API key (shown once, store it now):\n\n    %s\n\n", key)
	}

	handler := api.New(api.Options{
		Service: env.svc, Logger: log, Registry: env.registry,
		MaxBodyBytes: cfg.MaxBodyBytes, RequestTimeout: cfg.RequestTimeout,
		RateLimit: api.RateLimit{Rate: cfg.RateLimit.Rate, Burst: cfg.RateLimit.Burst},
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}

	// Work that a previous process left half-done is settled before the
	// first request, so no request meets it (bounded, so that an
	// unreachable server does not keep the API down).
	startupCtx, cancelStartup := context.WithTimeout(ctx, time.Minute)
	env.svc.ReconcileOnce(startupCtx)
	cancelStartup()

	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	runner, err := jobs.New(env.store.Pool, env.svc, log, jobs.Options{
		Workers: cfg.BackupWorkers, ScheduledWorkers: cfg.ScheduledBackupWorkers, CollectEvery: cfg.MetricsInterval, DeliverEvery: cfg.BillingInterval,
		MetricsRaw: cfg.MetricsRawRetention, MetricsKeep: cfg.MetricsRetention,
	})
	if err != nil {
		stopBackground()
		return err
	}
	env.svc.SetJobQueue(runner)
	if cfg.BackupWorkers > 0 {
		if err := runner.Start(bg); err != nil {
			stopBackground()
			return fmt.Errorf("start background jobs: %w", err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		env.svc.RunReconciler(bg, cfg.ReconcileInterval)
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String())
	fmt.Fprintf(stdout, "Cellar is serving on http://%s (Ctrl-C to stop)\n", ln.Addr())

	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.RequestTimeout)
		defer cancel()
		err = srv.Shutdown(shutdownCtx)
	}
	// Running snapshots get the shutdown grace period to finish; River
	// takes up any it has to interrupt again after a restart.
	if cfg.BackupWorkers > 0 {
		jobsCtx, cancelJobs := context.WithTimeout(context.Background(), cfg.RequestTimeout)
		if err := runner.Stop(jobsCtx); err != nil {
			log.Warn("stopping background jobs", "err", err)
		}
		cancelJobs()
	}
	stopBackground()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
