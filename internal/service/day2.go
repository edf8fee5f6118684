package service

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/store"
)

// Connection limits a customer may set, as in the reference API.
const (
	MinConnectionLimit = 10
	MaxConnectionLimit = 1000
)

// GetCredentials returns how to connect to a database, without the
// password: it is shown only when created or rotated.
func (s *Service) GetCredentials(ctx context.Context, c Caller, dbType, dbName string) (cellar.Credentials, error) {
	db, srv, err := s.readTarget(ctx, c, cellar.PermDatabaseRead, dbType, dbName)
	if err != nil {
		return cellar.Credentials{}, err
	}
	return credentialsOf(databaseFrom(db, srv), ""), nil
}

// RotateRequest is the optional body of POST …/credentials/rotate.
type RotateRequest struct {
	// TerminateSessions also ends the sessions opened with the old password.
	TerminateSessions bool `json:"terminate_sessions"`
}

// Rotation is the outcome of a password rotation.
type Rotation struct {
	cellar.Credentials
	RotatedAt     time.Time
	SessionsEnded int
	// SecretPath and SecretVersion locate the new password in Vault.
	SecretPath    string
	SecretVersion int
}

// RotateCredentials sets a new password on the server and in Vault and
// returns it once.
//
// The steps, after the intent is recorded:
//
//	Vault (new version) → server → [end old sessions] → commit
//
// Vault is written first and is the source of truth: the reconciler finishes
// an interrupted rotation by setting the server to Vault's newest password,
// so the password in Vault is always the one that works.
func (s *Service) RotateCredentials(ctx context.Context, c Caller, dbType, dbName string, req RotateRequest) (*Rotation, error) {
	h, err := s.writeTarget(ctx, c, cellar.PermDatabaseUpdate, dbType, dbName, nil)
	if err != nil {
		return nil, err
	}
	defer h.release()
	engine := cellar.Engine(h.db.Engine)
	ctx, cancel := detached(ctx)
	defer cancel()
	start := time.Now()

	drv, err := s.fleet.driver(ctx, h.srv)
	if err != nil {
		return nil, err
	}
	var oldSessions []int64
	if req.TerminateSessions {
		// Listed before the password changes: these are the sessions that
		// were opened with the old one.
		if oldSessions, err = drv.UserSessions(ctx, h.db.Username); err != nil {
			return nil, err
		}
	}
	op, err := s.recordIntent(ctx, h, opRotate, c)
	if err != nil {
		return nil, err
	}
	rot, err := s.rotate(ctx, h, drv, op, c, oldSessions)
	s.metrics.observe(string(engine), string(opRotate), start, err)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "credentials rotated", "db", h.db.Name, "engine", engine, "sessions_ended", rot.SessionsEnded,
		"ms", time.Since(start).Milliseconds())
	return rot, nil
}

func (s *Service) rotate(ctx context.Context, h *held, drv provision.Driver, op store.Operation, c Caller, oldSessions []int64) (*Rotation, error) {
	if err := s.fail.Hit("rotate.after_intent"); err != nil {
		return nil, err
	}
	password := cellar.NewPassword()
	version, err := s.vault.Put(ctx, h.db.VaultPath, secretData(h.db, h.srv, password))
	if err != nil {
		s.abandon(ctx, h.lk, op)
		return nil, err
	}
	if err := s.fail.Hit("rotate.after_secret"); err != nil {
		return nil, err
	}
	if err := drv.EnsureUser(ctx, h.db.Username, password); err != nil {
		// The server still has the old password: put it back in Vault as
		// the newest version, so Vault and server agree again.
		if rbErr := s.restoreSecret(ctx, h, op); rbErr != nil {
			s.log.ErrorContext(ctx, "rotation failed and Vault could not be restored; the reconciler will set the server to Vault's password",
				"db", h.db.Name, "err", rbErr)
		}
		return nil, err
	}
	if err := s.enforceLimit(ctx, drv, h.db); err != nil {
		// The password is set; a limit that could not be re-applied is
		// drift, which the reconciler repairs.
		s.log.WarnContext(ctx, "re-applying the connection limit after rotation", "db", h.db.Name, "err", err)
	}
	if err := s.fail.Hit("rotate.after_server"); err != nil {
		return nil, err
	}
	ended := 0
	if len(oldSessions) > 0 {
		if ended, err = drv.EndSessions(ctx, h.db.Username, oldSessions); err != nil {
			// The rotation itself succeeded; say so in the log, not by failing.
			s.log.WarnContext(ctx, "ending old sessions after rotation", "db", h.db.Name, "err", err)
		}
	}
	rotatedAt := s.now().UTC()
	v := int32(version)
	err = succeed(ctx, h.lk, op, h.db, "rotated", c.RemoteAddr, map[string]any{"vault_version": version, "sessions_ended": ended},
		func(q *store.Queries) error {
			return q.SetDatabaseVaultVersion(ctx, store.SetDatabaseVaultVersionParams{ID: h.db.ID, VaultVersion: &v})
		})
	if err != nil {
		// Vault and the server agree on the new password; only the record
		// is missing, and the reconciler writes it.
		return nil, fmt.Errorf("record rotation: %w", err)
	}
	return &Rotation{
		Credentials:   credentialsOf(databaseFrom(h.db, h.srv), password),
		RotatedAt:     rotatedAt,
		SessionsEnded: ended,
		SecretPath:    h.db.VaultPath,
		SecretVersion: version,
	}, nil
}

// restoreSecret writes the password of the version the metadata records
// (the one the server still has) as Vault's newest version, and closes the
// operation as rolled back.
func (s *Service) restoreSecret(ctx context.Context, h *held, op store.Operation) error {
	if h.db.VaultVersion == nil {
		return fmt.Errorf("no recorded Vault version for %s", h.db.Name)
	}
	data, err := s.vault.GetVersion(ctx, h.db.VaultPath, int(*h.db.VaultVersion))
	if err != nil {
		return err
	}
	version, err := s.vault.Put(ctx, h.db.VaultPath, data)
	if err != nil {
		return err
	}
	return h.lk.InTx(ctx, func(q *store.Queries) error {
		v := int32(version)
		if err := q.SetDatabaseVaultVersion(ctx, store.SetDatabaseVaultVersionParams{ID: h.db.ID, VaultVersion: &v}); err != nil {
			return err
		}
		return q.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpRolledBack})
	})
}

// settleRotate finishes a rotation whose owner died. Vault is the truth: if
// it holds a newer version than the metadata records, the server gets that
// password; otherwise the rotation never started and nothing changed.
func (s *Service) settleRotate(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error {
	data, version, err := s.vault.Get(ctx, db.VaultPath)
	if err != nil {
		return err
	}
	if db.VaultVersion != nil && int(*db.VaultVersion) == version {
		return lk.InTx(ctx, func(q *store.Queries) error {
			return q.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpRolledBack})
		})
	}
	password, _ := data["password"].(string)
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return err
	}
	if err := drv.EnsureUser(ctx, db.Username, password); err != nil {
		s.noteFailure(ctx, op, err)
		return err
	}
	if err := s.enforceLimit(ctx, drv, db); err != nil {
		s.log.WarnContext(ctx, "re-applying the connection limit after rotation", "db", db.Name, "err", err)
	}
	v := int32(version)
	return succeed(ctx, lk, op, db, "rotated", "", map[string]any{"vault_version": version, "completed_by": "reconciler"},
		func(q *store.Queries) error {
			return q.SetDatabaseVaultVersion(ctx, store.SetDatabaseVaultVersionParams{ID: db.ID, VaultVersion: &v})
		})
}

// UpdateDatabaseRequest is the body of PATCH /v1/databases/{type}/{name}.
// A field left out is unchanged; description null clears it.
type UpdateDatabaseRequest struct {
	ConnectionLimit *int             `json:"connection_limit"`
	Description     Optional[string] `json:"description"`
}

// Validate checks the request.
func (r *UpdateDatabaseRequest) Validate() error {
	var fields []cellar.FieldError
	if r.ConnectionLimit == nil && !r.Description.Set {
		return cellar.Invalid(cellar.FieldError{Field: "connection_limit", Message: "nothing to update: give connection_limit and/or description"})
	}
	if l := r.ConnectionLimit; l != nil && (*l < MinConnectionLimit || *l > MaxConnectionLimit) {
		fields = append(fields, cellar.FieldError{Field: "connection_limit",
			Message: fmt.Sprintf("must be from %d to %d, got %d", MinConnectionLimit, MaxConnectionLimit, *l)})
	}
	if d := r.Description.Value; d != nil && len(*d) > 1000 {
		fields = append(fields, cellar.FieldError{Field: "description", Message: "must be at most 1000 characters"})
	}
	if fields != nil {
		return cellar.Invalid(fields...)
	}
	return nil
}

// UpdateDatabase changes a database's connection limit (enforced on the
// server) and description.
//
// The new limit is written to the metadata first, with a pending operation:
// the metadata is the desired state, and the reconciler applies it to the
// server if this process dies before it does.
func (s *Service) UpdateDatabase(ctx context.Context, c Caller, dbType, dbName string, req UpdateDatabaseRequest) error {
	h, err := s.writeTarget(ctx, c, cellar.PermDatabaseUpdate, dbType, dbName, func(cellar.Engine) error { return req.Validate() })
	if err != nil {
		return err
	}
	defer h.release()
	ctx, cancel := detached(ctx)
	defer cancel()

	details := map[string]any{}
	if req.Description.Set {
		details["description_changed"] = true
	}
	if req.ConnectionLimit == nil {
		// Metadata only: one transaction is the whole change.
		return h.lk.InTx(ctx, func(q *store.Queries) error {
			if err := q.SetDatabaseDescription(ctx, store.SetDatabaseDescriptionParams{ID: h.db.ID, Description: req.Description.Value}); err != nil {
				return err
			}
			return insertEvent(ctx, q, h.db, "updated", store.Operation{Actor: c.KeyPrefix, RequestID: c.RequestID}, c.RemoteAddr, details)
		})
	}

	limit := int32(*req.ConnectionLimit)
	details["connection_limit"] = map[string]any{"from": h.db.ConnectionLimit, "to": limit}
	var op store.Operation
	err = h.lk.InTx(ctx, func(q *store.Queries) error {
		if err := q.SetDatabaseConnectionLimit(ctx, store.SetDatabaseConnectionLimitParams{ID: h.db.ID, ConnectionLimit: &limit}); err != nil {
			return err
		}
		if req.Description.Set {
			if err := q.SetDatabaseDescription(ctx, store.SetDatabaseDescriptionParams{ID: h.db.ID, Description: req.Description.Value}); err != nil {
				return err
			}
		}
		var err error
		op, err = q.InsertOperation(ctx, store.InsertOperationParams{
			ID: uuid.New(), DatabaseID: h.db.ID, Kind: opUpdate, Actor: c.KeyPrefix, RequestID: c.RequestID,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("record update intent: %w", err)
	}
	if err := s.fail.Hit("update.after_intent"); err != nil {
		return err
	}
	drv, err := s.fleet.driver(ctx, h.srv)
	if err == nil {
		err = drv.SetConnectionLimit(ctx, h.db.Name, h.db.Username, int(limit))
	}
	if err != nil {
		// Put the old limit back in the metadata; the server never changed.
		rbErr := h.lk.InTx(ctx, func(q *store.Queries) error {
			if err := q.SetDatabaseConnectionLimit(ctx, store.SetDatabaseConnectionLimitParams{ID: h.db.ID, ConnectionLimit: h.db.ConnectionLimit}); err != nil {
				return err
			}
			return q.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpRolledBack})
		})
		if rbErr != nil {
			s.log.ErrorContext(ctx, "update failed and could not be undone; the reconciler will apply it", "db", h.db.Name, "err", rbErr)
		}
		return err
	}
	return succeed(ctx, h.lk, op, h.db, "updated", c.RemoteAddr, details)
}

// settleUpdate applies the metadata's connection limit to the server.
func (s *Service) settleUpdate(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error {
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return err
	}
	if db.ConnectionLimit != nil {
		if err := drv.SetConnectionLimit(ctx, db.Name, db.Username, int(*db.ConnectionLimit)); err != nil {
			s.noteFailure(ctx, op, err)
			return err
		}
	}
	return succeed(ctx, lk, op, db, "updated", "", map[string]any{"connection_limit": map[string]any{"to": db.ConnectionLimit}, "completed_by": "reconciler"})
}

// RestartDatabase ends every session on one database (the server itself
// keeps running) and says how many it ended.
func (s *Service) RestartDatabase(ctx context.Context, c Caller, dbType, dbName string) (int, error) {
	h, err := s.writeTarget(ctx, c, cellar.PermDatabaseUpdate, dbType, dbName, nil)
	if err != nil {
		return 0, err
	}
	defer h.release()
	ctx, cancel := detached(ctx)
	defer cancel()
	op, err := s.recordIntent(ctx, h, opRestart, c)
	if err != nil {
		return 0, err
	}
	return s.finishRestart(ctx, h.lk, h.srv, h.db, op, c.RemoteAddr)
}

func (s *Service) finishRestart(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation, remoteAddr string) (int, error) {
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return 0, err
	}
	ended, err := drv.EndDatabaseSessions(ctx, db.Name, db.Username)
	if err != nil {
		s.noteFailure(ctx, op, err)
		return 0, err
	}
	return ended, succeed(ctx, lk, op, db, "restarted", remoteAddr, map[string]any{"sessions_ended": ended})
}

// DatabaseInfo is a database's live figures.
type DatabaseInfo struct {
	Engine          cellar.Engine
	Name            string
	SizeMB          float64
	Connections     int
	ConnectionLimit *int
	CreatedAt       time.Time
	Owner           string
}

// GetDatabaseInfo reads size, connections, connection limit and owner from
// the live server; the creation time comes from the metadata, since neither
// engine records it.
func (s *Service) GetDatabaseInfo(ctx context.Context, c Caller, dbType, dbName string) (*DatabaseInfo, error) {
	db, srv, err := s.readTarget(ctx, c, cellar.PermDatabaseRead, dbType, dbName)
	if err != nil {
		return nil, err
	}
	engine := cellar.Engine(db.Engine)
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return nil, err
	}
	live, err := drv.DatabaseInfo(ctx, db.Name, db.Username)
	if err != nil {
		return nil, err
	}
	info := &DatabaseInfo{
		Engine: engine, Name: db.Name, SizeMB: float64(live.SizeBytes) / (1 << 20),
		Connections: live.Connections, CreatedAt: db.CreatedAt, Owner: live.Owner,
	}
	if live.ConnectionLimit >= 0 {
		info.ConnectionLimit = &live.ConnectionLimit
	}
	return info, nil
}

// recordIntent commits a pending operation of the given kind.
func (s *Service) recordIntent(ctx context.Context, h *held, kind cellar.OpKind, c Caller) (store.Operation, error) {
	op, err := h.lk.InsertOperation(ctx, store.InsertOperationParams{
		ID: uuid.New(), DatabaseID: h.db.ID, Kind: kind, Actor: c.KeyPrefix, RequestID: c.RequestID,
	})
	if err != nil {
		return op, fmt.Errorf("record %s intent: %w", kind, err)
	}
	return op, nil
}

// abandon closes an operation that changed nothing.
func (s *Service) abandon(ctx context.Context, lk *store.Lock, op store.Operation) {
	if err := lk.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpRolledBack}); err != nil {
		s.log.ErrorContext(ctx, "close abandoned operation", "op", op.ID, "err", err)
	}
}

// secretData is what Cellar keeps in Vault for a database.
func secretData(db store.Database, srv store.Server, password string) map[string]any {
	return map[string]any{
		"username": db.Username,
		"password": password,
		"engine":   db.Engine,
		"database": db.Name,
		"server":   srv.Name,
	}
}
