package api

import (
	"context"
	"time"

	"github.com/cellar/cellar/internal/service"
)

type snapshotJSON struct {
	SnapshotID    string     `json:"snapshot_id" pattern:"^snap_[0-9]{8}_[0-9]{6}_[0-9a-f]{8}$"`
	DBName        string     `json:"db_name"`
	DBType        string     `json:"db_type" enum:"postgresql|mariadb"`
	Kind          string     `json:"kind" enum:"manual|scheduled"`
	Status        string     `json:"status" enum:"pending|running|completed|failed"`
	SizeMB        *float64   `json:"size_mb"`
	BytesWritten  int64      `json:"bytes_written" doc:"Progress while running"`
	SHA256        *string    `json:"sha256"`
	ServerVersion *string    `json:"server_version"`
	Description   *string    `json:"description"`
	Error         *string    `json:"error"`
	CreatedAt     time.Time  `json:"created_at"`
	CompletedAt   *time.Time `json:"completed_at"`
}

func snapshotJSONFrom(s service.Snapshot) snapshotJSON {
	j := snapshotJSON{
		SnapshotID: s.ID, DBName: s.Database, DBType: string(s.Engine), Kind: s.Kind, Status: string(s.Status),
		BytesWritten: s.BytesWritten, SHA256: s.SHA256, ServerVersion: s.ServerVersion, Description: s.Description,
		Error: s.Error, CreatedAt: s.CreatedAt.UTC(), CompletedAt: utc(s.CompletedAt),
	}
	if s.SizeBytes != nil {
		mb := float64(*s.SizeBytes) / (1 << 20)
		j.SizeMB = &mb
	}
	return j
}

type createSnapshotRequest struct {
	dbAddress
	Body service.CreateSnapshotRequest
}

func (r *createSnapshotRequest) body() any { return &r.Body }

// createSnapshotResponse is the queued snapshot with success and message.
type createSnapshotResponse struct {
	Success bool `json:"success"`
	snapshotJSON
	Message string `json:"message"`
}

func (s *Server) createSnapshot(ctx context.Context, c service.Caller, req *createSnapshotRequest) (*createSnapshotResponse, error) {
	snap, err := s.svc.CreateSnapshot(ctx, c, req.DBType, req.DBName, req.Body)
	if err != nil {
		return nil, err
	}
	return &createSnapshotResponse{true, snapshotJSONFrom(*snap), "Snapshot " + snap.ID + " is queued; follow its status with GET …/snapshots"}, nil
}

type snapshotListResponse struct {
	DBName    string         `json:"db_name"`
	DBType    string         `json:"db_type"`
	Snapshots []snapshotJSON `json:"snapshots"`
}

func (s *Server) listSnapshots(ctx context.Context, c service.Caller, req *dbAddress) (*snapshotListResponse, error) {
	snaps, err := s.svc.ListSnapshots(ctx, c, req.DBType, req.DBName)
	if err != nil {
		return nil, err
	}
	out := &snapshotListResponse{DBName: req.DBName, DBType: req.DBType, Snapshots: make([]snapshotJSON, 0, len(snaps))}
	for _, sn := range snaps {
		out.Snapshots = append(out.Snapshots, snapshotJSONFrom(sn))
	}
	return out, nil
}

// snapshotRequest addresses one snapshot of a database.
type snapshotRequest struct {
	dbAddress
	SnapshotID string
}

func (r *snapshotRequest) ExtractRaw(raw rawRequest) error {
	r.extract(raw)
	r.SnapshotID = raw.Path("snapshot_id")
	return nil
}

func (s *Server) deleteSnapshot(ctx context.Context, c service.Caller, req *snapshotRequest) (*successResponse, error) {
	if err := s.svc.DeleteSnapshot(ctx, c, req.DBType, req.DBName, req.SnapshotID); err != nil {
		return nil, err
	}
	return &successResponse{Success: true, Message: "Snapshot " + req.SnapshotID + " deleted"}, nil
}

type backupPolicyJSON struct {
	DBName        string     `json:"db_name"`
	DBType        string     `json:"db_type" enum:"postgresql|mariadb"`
	Enabled       bool       `json:"enabled"`
	Frequency     string     `json:"frequency" enum:"hourly|daily|weekly"`
	RetentionDays int        `json:"retention_days"`
	TimeOfDay     string     `json:"time_of_day"`
	Timezone      string     `json:"timezone"`
	LastBackup    *time.Time `json:"last_backup"`
	NextBackup    *time.Time `json:"next_backup"`
}

func backupPolicyJSONFrom(p *service.BackupPolicy) backupPolicyJSON {
	return backupPolicyJSON{
		DBName: p.Database, DBType: string(p.Engine), Enabled: p.Enabled, Frequency: p.Frequency,
		RetentionDays: p.RetentionDays, TimeOfDay: p.TimeOfDay, Timezone: p.Timezone,
		LastBackup: utc(p.LastBackup), NextBackup: utc(p.NextBackup),
	}
}

func (s *Server) getBackupPolicy(ctx context.Context, c service.Caller, req *dbAddress) (*backupPolicyJSON, error) {
	p, err := s.svc.GetBackupPolicy(ctx, c, req.DBType, req.DBName)
	if err != nil {
		return nil, err
	}
	out := backupPolicyJSONFrom(p)
	return &out, nil
}

type setBackupPolicyRequest struct {
	dbAddress
	Body service.BackupPolicyRequest
}

func (r *setBackupPolicyRequest) body() any { return &r.Body }

func (s *Server) setBackupPolicy(ctx context.Context, c service.Caller, req *setBackupPolicyRequest) (*backupPolicyJSON, error) {
	p, err := s.svc.SetBackupPolicy(ctx, c, req.DBType, req.DBName, req.Body)
	if err != nil {
		return nil, err
	}
	out := backupPolicyJSONFrom(p)
	return &out, nil
}
