package service

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// BackupPolicy is a database's automated backup configuration.
type BackupPolicy struct {
	Engine        cellar.Engine
	Database      string
	Enabled       bool
	Frequency     string
	RetentionDays int
	TimeOfDay     string
	Timezone      string
	LastBackup    *time.Time
	NextBackup    *time.Time
}

// BackupPolicyRequest is the body of PUT …/backup-policy.
type BackupPolicyRequest struct {
	Enabled       *bool   `json:"enabled"`
	Frequency     *string `json:"frequency"`
	RetentionDays *int    `json:"retention_days"`
	TimeOfDay     *string `json:"time_of_day"`
	Timezone      *string `json:"timezone"`
}

// Defaults of a policy, also shown for a database that has none.
const (
	defaultFrequency     = "daily"
	defaultRetentionDays = 7
	defaultTimeOfDay     = "02:00"
	defaultTimezone      = "UTC"
)

var timeOfDayPattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

// validated is a policy request checked and with defaults filled in.
type validatedPolicy struct {
	enabled       bool
	frequency     string
	retentionDays int
	timeOfDay     string
	hour, minute  int
	loc           *time.Location
}

// Validate checks the request and fills in defaults.
func (r *BackupPolicyRequest) validate() (validatedPolicy, error) {
	v := validatedPolicy{frequency: defaultFrequency, retentionDays: defaultRetentionDays, timeOfDay: defaultTimeOfDay, loc: time.UTC}
	var fields []cellar.FieldError
	if r.Enabled == nil {
		fields = append(fields, cellar.FieldError{Field: "enabled", Message: "is required (true or false)"})
	} else {
		v.enabled = *r.Enabled
	}
	if r.Frequency != nil {
		switch *r.Frequency {
		case "hourly", "daily", "weekly":
			v.frequency = *r.Frequency
		default:
			fields = append(fields, cellar.FieldError{Field: "frequency", Message: "must be hourly, daily or weekly"})
		}
	}
	if r.RetentionDays != nil {
		if *r.RetentionDays < 1 || *r.RetentionDays > 365 {
			fields = append(fields, cellar.FieldError{Field: "retention_days", Message: fmt.Sprintf("must be from 1 to 365, got %d", *r.RetentionDays)})
		} else {
			v.retentionDays = *r.RetentionDays
		}
	}
	if r.TimeOfDay != nil {
		if !timeOfDayPattern.MatchString(*r.TimeOfDay) {
			fields = append(fields, cellar.FieldError{Field: "time_of_day", Message: "must be HH:MM on a 24-hour clock, e.g. 02:30"})
		} else {
			v.timeOfDay = *r.TimeOfDay
		}
	}
	m := timeOfDayPattern.FindStringSubmatch(v.timeOfDay)
	if m != nil {
		v.hour, _ = strconv.Atoi(m[1])
		v.minute, _ = strconv.Atoi(m[2])
	}
	if r.Timezone != nil {
		loc, err := time.LoadLocation(*r.Timezone)
		if err != nil || *r.Timezone == "" || *r.Timezone == "Local" {
			fields = append(fields, cellar.FieldError{Field: "timezone", Message: "must be an IANA time zone name, e.g. Europe/Oslo (default UTC)"})
		} else {
			v.loc = loc
		}
	}
	if fields != nil {
		return v, cellar.Invalid(fields...)
	}
	return v, nil
}

// GetBackupPolicy returns a database's policy, or the disabled default.
func (s *Service) GetBackupPolicy(ctx context.Context, c Caller, dbType, dbName string) (*BackupPolicy, error) {
	db, _, err := s.readTarget(ctx, c, cellar.PermDatabaseRead, dbType, dbName)
	if err != nil {
		return nil, err
	}
	engine := cellar.Engine(db.Engine)
	p, err := s.store.GetBackupPolicy(ctx, db.ID)
	if store.IsNotFound(err) {
		return &BackupPolicy{Engine: engine, Database: dbName, Frequency: defaultFrequency, RetentionDays: defaultRetentionDays,
			TimeOfDay: defaultTimeOfDay, Timezone: defaultTimezone}, nil
	}
	if err != nil {
		return nil, err
	}
	return s.policyFrom(ctx, engine, dbName, p)
}

// SetBackupPolicy configures automated backups.
func (s *Service) SetBackupPolicy(ctx context.Context, c Caller, dbType, dbName string, req BackupPolicyRequest) (*BackupPolicy, error) {
	if err := c.Require(cellar.PermDatabaseUpdate); err != nil {
		return nil, err
	}
	engine, err := parseTarget(dbType, dbName)
	if err != nil {
		return nil, err
	}
	v, err := req.validate()
	if err != nil {
		return nil, err
	}
	db, _, err := s.readActive(ctx, c, engine, dbName)
	if err != nil {
		return nil, err
	}
	var next *time.Time
	if v.enabled {
		n := cellar.NextBackup(s.now(), v.frequency, v.hour, v.minute, v.loc)
		next = &n
	}
	var p store.BackupPolicy
	err = s.store.InTx(ctx, func(q *store.Queries) error {
		var err error
		p, err = q.UpsertBackupPolicy(ctx, store.UpsertBackupPolicyParams{
			DatabaseID: db.ID, Enabled: v.enabled, Frequency: v.frequency, RetentionDays: int32(v.retentionDays),
			TimeOfDay: v.timeOfDay, Timezone: v.loc.String(), NextBackupAt: next,
		})
		if err != nil {
			return err
		}
		return insertEvent(ctx, q, db, "backup_policy_set", store.Operation{Actor: c.KeyPrefix, RequestID: c.RequestID}, c.RemoteAddr,
			map[string]any{"enabled": v.enabled, "frequency": v.frequency, "retention_days": v.retentionDays, "time_of_day": v.timeOfDay, "timezone": v.loc.String()})
	})
	if err != nil {
		return nil, err
	}
	return s.policyFrom(ctx, engine, dbName, p)
}

// policyFrom shows a stored policy with its last backup, read from the
// database's completed scheduled snapshots.
func (s *Service) policyFrom(ctx context.Context, engine cellar.Engine, dbName string, p store.BackupPolicy) (*BackupPolicy, error) {
	out := &BackupPolicy{
		Engine: engine, Database: dbName, Enabled: p.Enabled, Frequency: p.Frequency, RetentionDays: int(p.RetentionDays),
		TimeOfDay: p.TimeOfDay, Timezone: p.Timezone, NextBackup: p.NextBackupAt,
	}
	last, err := s.store.LastScheduledBackup(ctx, p.DatabaseID)
	switch {
	case err == nil:
		out.LastBackup = &last
	case !store.IsNotFound(err):
		return nil, err
	}
	return out, nil
}

// RunDueBackups queues a snapshot for every policy that is due at now and
// moves each policy's next backup on. The policies are claimed with
// FOR UPDATE SKIP LOCKED, so concurrent schedulers never queue one twice;
// a backup missed while no Cellar ran is taken once, at the next pass.
func (s *Service) RunDueBackups(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	err := s.store.InPgxTx(ctx, func(tx pgx.Tx, q *store.Queries) error {
		due, err := q.ClaimDueBackups(ctx, now)
		if err != nil {
			return err
		}
		for _, p := range due {
			row, err := q.GetDatabaseByID(ctx, p.DatabaseID)
			if err != nil {
				return err
			}
			snap, err := s.insertSnapshot(ctx, tx, q, row.Database, "scheduled", nil, "scheduler", now)
			if err != nil {
				return err
			}
			ids = append(ids, snap.ID)
			hour, minute := 0, 0
			if m := timeOfDayPattern.FindStringSubmatch(p.TimeOfDay); m != nil {
				hour, _ = strconv.Atoi(m[1])
				minute, _ = strconv.Atoi(m[2])
			}
			loc, err := time.LoadLocation(p.Timezone)
			if err != nil {
				loc = time.UTC
			}
			next := cellar.NextBackup(now, p.Frequency, hour, minute, loc)
			if err := q.SetNextBackup(ctx, store.SetNextBackupParams{DatabaseID: p.DatabaseID, NextBackupAt: &next}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("schedule backups: %w", err)
	}
	return ids, nil
}

// ExpireBackups deletes scheduled snapshots older than their policy's
// retention, and every snapshot of a deleted database. Retention never
// removes a database's last good backup: the newest RetentionKeep completed
// scheduled snapshots always stay, so an old one goes only once a newer
// completed one exists; a disabled policy expires nothing.
func (s *Service) ExpireBackups(ctx context.Context, now time.Time) (int, error) {
	expired, err := s.store.ListExpiredScheduledSnapshots(ctx, store.ListExpiredScheduledSnapshotsParams{Now: now, Keep: int32(s.retentionKeep)})
	if err != nil {
		return 0, err
	}
	orphans, err := s.store.ListSnapshotsOfDeletedDatabases(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, snap := range append(expired, orphans...) {
		row, err := s.store.GetDatabaseByID(ctx, snap.DatabaseID)
		if err != nil {
			return n, err
		}
		if err := s.removeSnapshot(ctx, row.Database, snap, "retention"); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
