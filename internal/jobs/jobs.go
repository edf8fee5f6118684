// Package jobs runs Cellar's background work on River, a job queue kept in
// the metadata database: snapshots, and the backup scheduler. River elects
// one leader among all Cellar processes to enqueue periodic jobs and
// rescues jobs whose process died, so no backup is taken twice and none is
// lost when a process goes away.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/cellar/cellar/internal/service"
)

// SnapshotArgs asks for one snapshot to be taken.
type SnapshotArgs struct {
	SnapshotID string `json:"snapshot_id"`
}

// Kind implements river.JobArgs.
func (SnapshotArgs) Kind() string { return "snapshot" }

// InsertOpts keeps snapshots in their own queue, so a long dump never
// holds up the scheduler, and makes one snapshot one job. Scheduled
// backups go to queueScheduled instead (EnqueueSnapshot).
func (a SnapshotArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueBackups, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// RestoreArgs asks for one restore to be run. TimeoutSeconds is its
// deadline, from the snapshot's size.
type RestoreArgs struct {
	RestoreID      string `json:"restore_id"`
	TimeoutSeconds int64  `json:"timeout_seconds"`
}

// Kind implements river.JobArgs.
func (RestoreArgs) Kind() string { return "restore" }

// InsertOpts keeps restores in their own queue (neither backups nor the
// periodic passes wait behind a long load) and makes one restore one job.
// A restore records its outcome itself; an attempt only fails when that
// record could not be written, and the next attempt reads the outcome.
func (a RestoreArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueRestores, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ScheduleArgs is the periodic pass that takes due backups and removes
// expired ones.
type ScheduleArgs struct{}

// Kind implements river.JobArgs.
func (ScheduleArgs) Kind() string { return "backup_schedule" }

// CollectArgs is the periodic metrics pass.
type CollectArgs struct{}

// Kind implements river.JobArgs.
func (CollectArgs) Kind() string { return "metrics_collect" }

// DeliverArgs is the periodic delivery of usage events to billing.
type DeliverArgs struct{}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "billing_deliver" }

// HourlyArgs records hourly usage and thins old metrics.
type HourlyArgs struct{}

// Kind implements river.JobArgs.
func (HourlyArgs) Kind() string { return "usage_hourly" }

// queueBackups takes manual snapshots; queueScheduled takes the backups of
// policies. Each has workers of its own, so however many manual snapshots
// customers queue (one per database, but any number of databases),
// scheduled backups never wait behind them. Restores have their own queue
// too: a long restore never holds up a snapshot.
const (
	queueBackups   = "backups"
	queueScheduled = "scheduled_backups"
	queueRestores  = "restores"
)

type restoreWorker struct {
	river.WorkerDefaults[RestoreArgs]
	svc *service.Service
}

func (w *restoreWorker) Work(ctx context.Context, job *river.Job[RestoreArgs]) error {
	return w.svc.RunRestore(ctx, job.Args.RestoreID)
}

// Timeout is the restore's own deadline, from its snapshot's size, with a
// margin for recording the outcome.
func (w *restoreWorker) Timeout(job *river.Job[RestoreArgs]) time.Duration {
	return time.Duration(job.Args.TimeoutSeconds)*time.Second + time.Minute
}

// snapshotTimeout bounds one dump; a larger database needs a higher value.
const snapshotTimeout = 6 * time.Hour

type snapshotWorker struct {
	river.WorkerDefaults[SnapshotArgs]
	svc *service.Service
}

func (w *snapshotWorker) Work(ctx context.Context, job *river.Job[SnapshotArgs]) error {
	return w.svc.RunSnapshot(ctx, job.Args.SnapshotID, job.Attempt >= job.MaxAttempts)
}

func (w *snapshotWorker) Timeout(*river.Job[SnapshotArgs]) time.Duration { return snapshotTimeout }

type scheduleWorker struct {
	river.WorkerDefaults[ScheduleArgs]
	svc *service.Service
}

func (w *scheduleWorker) Work(ctx context.Context, job *river.Job[ScheduleArgs]) error {
	now := time.Now()
	if _, err := w.svc.RunDueBackups(ctx, now); err != nil {
		return err
	}
	_, err := w.svc.ExpireBackups(ctx, now)
	return err
}

type collectWorker struct {
	river.WorkerDefaults[CollectArgs]
	svc *service.Service
}

func (w *collectWorker) Work(ctx context.Context, job *river.Job[CollectArgs]) error {
	_, err := w.svc.CollectMetrics(ctx)
	return err
}

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	svc *service.Service
}

// Work delivers what it can; a failure is already recorded on the event
// (with its backoff), so the job itself succeeds and the next pass retries.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	_, _ = w.svc.DeliverUsage(ctx, time.Now())
	return nil
}

type hourlyWorker struct {
	river.WorkerDefaults[HourlyArgs]
	svc              *service.Service
	raw, keepMetrics time.Duration
}

func (w *hourlyWorker) Work(ctx context.Context, job *river.Job[HourlyArgs]) error {
	now := time.Now()
	if _, err := w.svc.RecordHourlyUsage(ctx, now); err != nil {
		return err
	}
	_, err := w.svc.ThinMetrics(ctx, now, w.raw, w.keepMetrics)
	return err
}

// Migrate applies River's own schema migrations to the metadata database.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// Runner is the River client with Cellar's workers.
type Runner struct {
	client *river.Client[pgx.Tx]
}

// Options tune the runner.
type Options struct {
	// ScheduleEvery is how often due backups are looked for (default a minute).
	ScheduleEvery time.Duration
	// Workers is how many manual snapshots run at once in this process.
	Workers int
	// ScheduledWorkers is how many scheduled backups run at once in this
	// process, beside the manual ones (default 1).
	ScheduledWorkers int
	// CollectEvery is the metrics interval (default 5 minutes).
	CollectEvery time.Duration
	// DeliverEvery is how often usage events are sent (default 10 s).
	DeliverEvery time.Duration
	// MetricsRaw and MetricsKeep are the metrics retentions (see ThinMetrics).
	MetricsRaw, MetricsKeep time.Duration
}

// New builds the runner; Start begins working.
func New(pool *pgxpool.Pool, svc *service.Service, log *slog.Logger, o Options) (*Runner, error) {
	if o.ScheduleEvery == 0 {
		o.ScheduleEvery = time.Minute
	}
	if o.CollectEvery == 0 {
		o.CollectEvery = 5 * time.Minute
	}
	if o.DeliverEvery == 0 {
		o.DeliverEvery = 10 * time.Second
	}
	if o.MetricsRaw == 0 {
		o.MetricsRaw, o.MetricsKeep = 48*time.Hour, 30*24*time.Hour
	}
	if o.Workers <= 0 {
		o.Workers = 1 // an insert-only runner is never started; River wants a valid config
	}
	if o.ScheduledWorkers <= 0 {
		o.ScheduledWorkers = 1
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &snapshotWorker{svc: svc})
	river.AddWorker(workers, &restoreWorker{svc: svc})
	river.AddWorker(workers, &scheduleWorker{svc: svc})
	river.AddWorker(workers, &collectWorker{svc: svc})
	river.AddWorker(workers, &deliverWorker{svc: svc})
	river.AddWorker(workers, &hourlyWorker{svc: svc, raw: o.MetricsRaw, keepMetrics: o.MetricsKeep})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		// River reports its routine at Info every few seconds; Cellar's log
		// gets its warnings and errors.
		Logger: slog.New(warnAndAbove{log.Handler()}),
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: 2},
			queueBackups:       {MaxWorkers: o.Workers},
			queueScheduled:     {MaxWorkers: o.ScheduledWorkers},
			queueRestores:      {MaxWorkers: o.Workers},
		},
		Workers: workers,
		PeriodicJobs: []*river.PeriodicJob{
			periodic(o.ScheduleEvery, ScheduleArgs{}),
			periodic(o.CollectEvery, CollectArgs{}),
			periodic(o.DeliverEvery, DeliverArgs{}),
			periodic(time.Hour, HourlyArgs{}),
		},
		// A snapshot is picked up within milliseconds of its insert's
		// notification, not River's default 100 ms.
		FetchCooldown: 10 * time.Millisecond,
		// A job still 'running' this long after its process died is
		// taken up again (the dump starts over).
		RescueStuckJobsAfter: snapshotTimeout + 10*time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	return &Runner{client: client}, nil
}

// periodic runs args every interval, once at start too. Only River's
// elected leader enqueues periodic jobs, so several Cellar processes run
// each pass once.
func periodic(every time.Duration, args river.JobArgs) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return args, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// Start begins working jobs until Stop.
func (r *Runner) Start(ctx context.Context) error { return r.client.Start(ctx) }

// Stop waits for running jobs to finish (or ctx to end).
func (r *Runner) Stop(ctx context.Context) error { return r.client.Stop(ctx) }

// EnqueueSnapshot implements service.JobQueue: the job is inserted in the
// caller's transaction, so a snapshot row never exists without its job.
// A scheduled backup goes to its own queue.
func (r *Runner) EnqueueSnapshot(ctx context.Context, tx pgx.Tx, snapshotID, kind string) error {
	var opts *river.InsertOpts
	if kind == "scheduled" {
		opts = &river.InsertOpts{Queue: queueScheduled} // the other options come from SnapshotArgs
	}
	_, err := r.client.InsertTx(ctx, tx, SnapshotArgs{SnapshotID: snapshotID}, opts)
	return err
}

// EnqueueRestore implements service.JobQueue, in the caller's transaction
// like EnqueueSnapshot.
func (r *Runner) EnqueueRestore(ctx context.Context, tx pgx.Tx, restoreID string, timeout time.Duration) error {
	_, err := r.client.InsertTx(ctx, tx, RestoreArgs{RestoreID: restoreID, TimeoutSeconds: int64(timeout / time.Second)}, nil)
	return err
}

// warnAndAbove passes only warnings and errors to the handler it wraps.
type warnAndAbove struct{ slog.Handler }

func (h warnAndAbove) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnAndAbove) WithAttrs(a []slog.Attr) slog.Handler {
	return warnAndAbove{h.Handler.WithAttrs(a)}
}

func (h warnAndAbove) WithGroup(n string) slog.Handler { return warnAndAbove{h.Handler.WithGroup(n)} }
