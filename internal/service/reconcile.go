package service

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// partialSnapshotAge is past the longest a snapshot job may run (six
// hours), with a margin.
const partialSnapshotAge = 8 * time.Hour

// ReconcileReport says what one reconciler pass did.
type ReconcileReport struct {
	Settled int      // interrupted operations finished or rolled back
	Skipped int      // pending operations held by a live request, or of a kind this version does not know
	Failed  int      // operations whose settling failed; retried next pass
	Drift   []string // human-readable drift findings, e.g. "pg-1: orphan database cust_x_pg_y"
}

// Reconcile finishes interrupted operations and checks every managed server
// against the metadata. It is level-triggered and safe to run at any time,
// in any number of processes: an operation whose lock is held belongs to a
// live request and is left alone.
func (s *Service) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	ops, err := s.store.ListPendingOperations(ctx, 500)
	if err != nil {
		return rep, fmt.Errorf("list pending operations: %w", err)
	}
	for _, op := range ops {
		settled, err := s.reconcileOperation(ctx, op)
		switch {
		case err != nil:
			rep.Failed++
			s.log.ErrorContext(ctx, "reconcile operation", "op", op.ID, "kind", op.Kind, "err", err)
		case settled:
			rep.Settled++
		default:
			rep.Skipped++
		}
	}
	var errs []error
	if _, err := s.store.DeleteExpiredIdempotencyKeys(ctx, IdempotencyRetention.Seconds()); err != nil {
		errs = append(errs, fmt.Errorf("expire idempotency keys: %w", err))
	}
	if s.snapshots != nil {
		// A dump whose process died leaves a hidden partial file; one older
		// than the longest a dump may run belongs to nobody.
		if n, err := s.snapshots.CleanPartial(ctx, partialSnapshotAge); err != nil {
			errs = append(errs, fmt.Errorf("clean partial snapshot files: %w", err))
		} else if n > 0 {
			s.log.InfoContext(ctx, "removed partial snapshot files of interrupted dumps", "files", n)
		}
	}
	servers, err := s.store.ListServers(ctx)
	if err != nil {
		return rep, fmt.Errorf("list servers: %w", err)
	}
	for _, srv := range servers {
		findings, err := s.checkDrift(ctx, srv)
		if err != nil {
			errs = append(errs, fmt.Errorf("drift check of %s: %w", srv.Name, err))
			continue
		}
		rep.Drift = append(rep.Drift, findings...)
		limits, err := s.checkLimits(ctx, srv)
		if err != nil {
			errs = append(errs, fmt.Errorf("connection limits of %s: %w", srv.Name, err))
		}
		rep.Drift = append(rep.Drift, limits...)
		repairs, err := s.reconcileAccess(ctx, srv)
		if err != nil {
			errs = append(errs, fmt.Errorf("access rules of %s: %w", srv.Name, err))
		}
		for _, r := range repairs {
			rep.Drift = append(rep.Drift, srv.Name+": repaired "+r)
		}
	}
	return rep, errors.Join(errs...)
}

func (s *Service) reconcileOperation(ctx context.Context, op store.Operation) (bool, error) {
	row, err := s.store.GetDatabaseByID(ctx, op.DatabaseID)
	if err != nil {
		return false, err
	}
	db := row.Database
	lk, ok, err := s.store.TryLock(ctx, lockName(cellar.Engine(db.Engine), db.Name))
	if err != nil || !ok {
		return false, err
	}
	defer lk.Release()
	// Re-read under the lock: the owner may have finished just before.
	fresh, err := lk.GetDatabaseByID(ctx, db.ID)
	if err != nil {
		return false, err
	}
	if err := s.settleLocked(ctx, lk, fresh.Database); err != nil {
		if errors.Is(err, errUnknownOpKind) {
			// Logged by settleOperation; left for a version that knows it.
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// checkDrift compares the Cellar-named objects on a server with the
// metadata. It reports, it does not repair: an object Cellar cannot account
// for may be a customer's data, and dropping it is a human decision.
func (s *Service) checkDrift(ctx context.Context, srv store.Server) ([]string, error) {
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return nil, err
	}
	listedAt := time.Now()
	// The server is listed before the metadata is read: every object on the
	// server had its metadata row committed before it was made.
	dbs, err := drv.ListDatabases(ctx, "cust_")
	if err != nil {
		return nil, err
	}
	users, err := drv.ListUsers(ctx, "cust_")
	if err != nil {
		return nil, err
	}
	rows, err := s.store.ListLiveDatabaseNamesByServer(ctx, srv.ID)
	if err != nil {
		return nil, err
	}
	liveDB, liveUser := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		liveDB[r.Name], liveUser[r.Username] = true, true
	}
	onServerDB, onServerUser := toSet(dbs), toSet(users)

	var findings []string
	count := map[string]int{}
	report := func(kind, name string) {
		count[kind]++
		findings = append(findings, fmt.Sprintf("%s: %s %s", srv.Name, kind, name))
	}
	for _, name := range dbs {
		if !liveDB[name] {
			report("orphan_database", name)
		}
	}
	for _, name := range users {
		if !liveUser[name] {
			report("orphan_user", name)
		}
	}
	for _, r := range rows {
		// Only databases that were complete before the listing can be missing.
		if r.Status != cellar.DatabaseActive || r.ReadyAt == nil || r.ReadyAt.After(listedAt) {
			continue
		}
		if !onServerDB[r.Name] {
			report("missing_database", r.Name)
		}
		if !onServerUser[r.Username] {
			report("missing_user", r.Username)
		}
	}
	for _, kind := range []string{"orphan_database", "orphan_user", "missing_database", "missing_user"} {
		s.metrics.drift.WithLabelValues(srv.Name, kind).Set(float64(count[kind]))
	}
	sort.Strings(findings)
	for _, f := range findings {
		s.log.WarnContext(ctx, "drift", "finding", f)
	}
	return findings, nil
}

func toSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// ReconcileOnce runs one pass and logs its outcome.
func (s *Service) ReconcileOnce(ctx context.Context) {
	rep, err := s.Reconcile(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "reconcile", "err", err)
	}
	if rep.Settled > 0 || rep.Failed > 0 {
		s.log.InfoContext(ctx, "reconcile pass", "settled", rep.Settled, "failed", rep.Failed, "drift", len(rep.Drift))
	}
}

// RunReconciler reconciles every interval until ctx ends.
func (s *Service) RunReconciler(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.ReconcileOnce(ctx)
		}
	}
}
