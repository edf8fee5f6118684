package service

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/store"
)

// The steps of a create. The intent (a 'creating' row and a pending
// operation) is committed before any of them, so a crash between two steps
// leaves a record the reconciler uses to roll the create back: the client
// never received the password, so there is nothing to keep.
//
//	intent → { Vault secret ‖ user → database } → commit 'active'
//
// Since anything short of the final commit is rolled back as a whole, the
// Vault write need not precede the DDL: it runs alongside it.
func (s *Service) provisionCreate(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation, password string, c Caller) (version int, err error) {
	if err := s.fail.Hit("create.after_intent"); err != nil {
		return 0, err
	}
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return 0, err
	}
	type written struct {
		version int
		err     error
	}
	secret := make(chan written, 1)
	go func() {
		version, err := s.vault.Put(ctx, db.VaultPath, secretData(db, srv, password))
		if err == nil {
			err = s.fail.Hit("create.after_secret")
		}
		secret <- written{version, err}
	}()
	err = s.createOnServer(ctx, lk, drv, srv, db, password)
	w := <-secret
	if err != nil {
		return 0, err
	}
	if w.err != nil {
		return 0, w.err
	}
	v := int32(w.version)
	err = succeed(ctx, lk, op, db, "created", c.RemoteAddr, map[string]any{"server": srv.Name, "vault_version": w.version},
		func(q *store.Queries) error {
			return q.MarkDatabaseActive(ctx, store.MarkDatabaseActiveParams{ID: db.ID, VaultVersion: &v})
		})
	if err != nil {
		return 0, fmt.Errorf("record create: %w", err)
	}
	return w.version, s.fail.Hit("create.after_commit")
}

// createOnServer makes the user, then its database with its connection
// limit.
func (s *Service) createOnServer(ctx context.Context, lk *store.Lock, drv provision.Driver, srv store.Server, db store.Database, password string) error {
	if err := drv.EnsureUser(ctx, db.Username, password); err != nil {
		return err
	}
	if err := s.fail.Hit("create.after_user"); err != nil {
		return err
	}
	if err := drv.EnsureDatabase(ctx, db.Name, db.Username); err != nil {
		return err
	}
	if db.ConnectionLimit != nil {
		if err := drv.SetConnectionLimit(ctx, db.Name, db.Username, int(*db.ConnectionLimit)); err != nil {
			return err
		}
	}
	if s.access.Closed {
		// Closed by default: the new user must not keep its '%' account.
		if _, err := s.converge(ctx, lk, srv, []string{db.Name}); err != nil {
			return err
		}
	}
	return s.fail.Hit("create.after_database")
}

// rollbackCreate removes whatever an interrupted create made, in reverse
// order, and marks the database failed. Every step is idempotent.
func (s *Service) rollbackCreate(ctx context.Context, lk *store.Lock, db store.Database, op store.Operation) error {
	err := s.undoCreate(ctx, lk, db)
	if err == nil {
		err = lk.InTx(ctx, func(q *store.Queries) error {
			if err := q.MarkDatabaseFailed(ctx, db.ID); err != nil {
				return err
			}
			return q.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpRolledBack})
		})
	}
	if err != nil {
		s.noteFailure(ctx, op, err)
		return fmt.Errorf("roll back create of %s: %w", db.Name, err)
	}
	return nil
}

func (s *Service) undoCreate(ctx context.Context, lk *store.Lock, db store.Database) error {
	srv, err := lk.GetServer(ctx, db.ServerID)
	if err != nil {
		return err
	}
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return err
	}
	if err := drv.DropDatabase(ctx, db.Name); err != nil {
		return err
	}
	if err := drv.DropUser(ctx, db.Username); err != nil {
		return err
	}
	return s.vault.Destroy(ctx, db.VaultPath)
}

// The steps of a delete, in order. The intent (status 'deleting' and a
// pending operation) is committed first; a crash anywhere after it is
// finished by the reconciler, since the customer asked for the deletion.
//
//	intent → drop database → drop user → destroy secret → commit 'deleted'
func (s *Service) finishDelete(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation, remoteAddr string) error {
	err := s.dropRestoreLeftovers(ctx, srv, db)
	if err == nil {
		err = s.dropEverything(ctx, srv, db)
	}
	if err == nil {
		err = succeed(ctx, lk, op, db, "deleted", remoteAddr, map[string]any{"server": srv.Name},
			func(q *store.Queries) error { return q.MarkDatabaseDeleted(ctx, db.ID) },
			func(q *store.Queries) error {
				return q.DeleteAccessRulesOfDatabase(ctx, store.DeleteAccessRulesOfDatabaseParams{DatabaseID: db.ID, DeletedBy: &op.Actor})
			})
	}
	if err != nil {
		s.noteFailure(ctx, op, err)
		return fmt.Errorf("delete %s: %w", db.Name, err)
	}
	// Its rules go from the engine's configuration and the firewall, and
	// its snapshots with it. The database is gone either way; what fails
	// here is repaired later (the reconciler re-converges rules, the
	// retention pass removes snapshots of deleted databases).
	if _, err := s.converge(ctx, lk, srv, []string{}); err != nil {
		s.log.WarnContext(ctx, "remove access rules of deleted database", "db", db.Name, "err", err)
	}
	if err := s.removeSnapshotsOf(ctx, db, op.Actor); err != nil {
		s.log.WarnContext(ctx, "remove snapshots of deleted database", "db", db.Name, "err", err)
	}
	return nil
}

func (s *Service) dropEverything(ctx context.Context, srv store.Server, db store.Database) error {
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return err
	}
	if err := drv.DropDatabase(ctx, db.Name); err != nil {
		return err
	}
	if err := s.fail.Hit("delete.after_database"); err != nil {
		return err
	}
	if err := drv.DropUser(ctx, db.Username); err != nil {
		return err
	}
	if err := s.fail.Hit("delete.after_user"); err != nil {
		return err
	}
	if err := s.vault.Destroy(ctx, db.VaultPath); err != nil {
		return err
	}
	return s.fail.Hit("delete.after_secret")
}

// noteFailure records a failed attempt on the operation. It uses the pool,
// not the lock's connection, because the lock's transaction may be the
// thing that failed.
func (s *Service) noteFailure(ctx context.Context, op store.Operation, cause error) {
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	if err := s.store.RecordOperationFailure(ctx, store.RecordOperationFailureParams{ID: op.ID, Error: &msg}); err != nil {
		s.log.ErrorContext(ctx, "record operation failure", "op", op.ID, "err", err)
	}
}

// succeed closes an operation as succeeded and records its event, after
// any further writes in also, all in one transaction: the outcome of a
// change and its record commit together.
func succeed(ctx context.Context, lk *store.Lock, op store.Operation, db store.Database, event, remoteAddr string,
	details map[string]any, also ...func(q *store.Queries) error) error {
	return lk.InTx(ctx, func(q *store.Queries) error {
		for _, f := range also {
			if err := f(q); err != nil {
				return err
			}
		}
		if err := q.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpSucceeded}); err != nil {
			return err
		}
		return insertEvent(ctx, q, db, event, op, remoteAddr, details)
	})
}

// insertEvent records what happened to a database (history, audit) and,
// for billable changes, the usage event, in the caller's transaction.
func insertEvent(ctx context.Context, q *store.Queries, db store.Database, kind string, op store.Operation, remoteAddr string, details map[string]any) error {
	raw, err := json.Marshal(details)
	if err != nil {
		return err
	}
	err = q.InsertDatabaseEvent(ctx, store.InsertDatabaseEventParams{
		DatabaseID: db.ID, CustomerID: db.CustomerID, Kind: kind, Actor: op.Actor,
		RequestID: op.RequestID, RemoteAddr: remoteAddr, Details: raw,
	})
	if err != nil {
		return err
	}
	if uk := usageKind(kind, details); uk != "" {
		return recordUsage(ctx, q, db, uk, details, nil, time.Now())
	}
	return nil
}
