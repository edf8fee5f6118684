package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cellar/cellar/internal/service"
)

type snapshotJSON struct {
	SnapshotID    string     `json:"snapshot_id"`
	DBName        string     `json:"db_name"`
	DBType        string     `json:"db_type"`
	Kind          string     `json:"kind"`
	Status        string     `json:"status"`
	SizeMB        *float64   `json:"size_mb"`
	BytesWritten  int64      `json:"bytes_written"`
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

func (s *Server) createSnapshot(w http.ResponseWriter, r *http.Request) {
	req, err := decodeOptional[service.CreateSnapshotRequest](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	snap, err := s.svc.CreateSnapshot(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	j := snapshotJSONFrom(*snap)
	writeJSON(w, http.StatusAccepted, struct {
		Success bool `json:"success"`
		snapshotJSON
		Message string `json:"message"`
	}{true, j, "Snapshot " + snap.ID + " is queued; follow its status with GET …/snapshots"})
}

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) {
	dbType, dbName := chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name")
	snaps, err := s.svc.ListSnapshots(r.Context(), caller(r), dbType, dbName)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := struct {
		DBName    string         `json:"db_name"`
		DBType    string         `json:"db_type"`
		Snapshots []snapshotJSON `json:"snapshots"`
	}{DBName: dbName, DBType: dbType, Snapshots: make([]snapshotJSON, 0, len(snaps))}
	for _, sn := range snaps {
		out.Snapshots = append(out.Snapshots, snapshotJSONFrom(sn))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteSnapshot(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "snapshot_id")
	if err := s.svc.DeleteSnapshot(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"), id); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, successResponse{Success: true, Message: "Snapshot " + id + " deleted"})
}

type backupPolicyJSON struct {
	DBName        string     `json:"db_name"`
	DBType        string     `json:"db_type"`
	Enabled       bool       `json:"enabled"`
	Frequency     string     `json:"frequency"`
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

func (s *Server) getBackupPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := s.svc.GetBackupPolicy(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, backupPolicyJSONFrom(p))
}

func (s *Server) setBackupPolicy(w http.ResponseWriter, r *http.Request) {
	req, err := decode[service.BackupPolicyRequest](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	p, err := s.svc.SetBackupPolicy(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, backupPolicyJSONFrom(p))
}
