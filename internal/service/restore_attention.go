package service

// A database that needs attention: a restore that could neither finish nor
// be undone (a swap conflict, a swap stuck half-way) must not wedge the
// database behind a pending operation that the reconciler would retry for
// ever, or roll forward after the client was told it failed. It is marked
// instead: reads show status needs_attention with the reason, changes
// answer 409 with it, and delete still works (and removes what the restore
// left behind).

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// needsAttention closes op as failed and marks the database with reason
// (shown to the customer; cause, which may name internals, goes to the log
// only), in one transaction. It returns the conflict the client sees.
func (s *Service) needsAttention(ctx context.Context, lk *store.Lock, db store.Database, op store.Operation, reason string, cause error) error {
	s.log.ErrorContext(ctx, "database needs attention", "db", db.Name, "op", op.ID, "reason", reason, "err", cause)
	s.noteFailure(ctx, op, cause)
	err := lk.InTx(ctx, func(q *store.Queries) error {
		if err := q.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpFailed}); err != nil {
			return err
		}
		if err := q.SetDatabaseAttention(ctx, store.SetDatabaseAttentionParams{ID: db.ID, AttentionReason: &reason, AttentionOp: &op.ID}); err != nil {
			return err
		}
		return insertEvent(ctx, q, db, "needs_attention", op, "", map[string]any{"reason": reason, "operation": op.ID})
	})
	if err != nil {
		return fmt.Errorf("mark %s as needing attention: %w", db.Name, err)
	}
	return cellar.Errorf(cellar.CodeConflict, "database %s needs attention: %s", db.Name, reason)
}

// attentionConflict is the answer to a change of a database that needs
// attention, or nil.
func attentionConflict(db store.Database) error {
	if db.AttentionReason == nil {
		return nil
	}
	return cellar.Errorf(cellar.CodeConflict, "database %s needs attention: %s", db.Name, *db.AttentionReason)
}

// dropRestoreLeftovers removes, before a database that needs attention is
// deleted, what its stuck restore left: the load login, the loaded copy and
// the retired copy (all owned by the database's owner, which the delete
// drops next).
func (s *Service) dropRestoreLeftovers(ctx context.Context, srv store.Server, db store.Database) error {
	if db.AttentionOp == nil {
		return nil
	}
	op, err := s.store.GetOperation(ctx, *db.AttentionOp)
	if err != nil {
		return fmt.Errorf("load operation %s: %w", *db.AttentionOp, err)
	}
	if op.Kind != opRestore {
		return nil
	}
	var d restoreDetails
	if err := json.Unmarshal(op.Details, &d); err != nil {
		return fmt.Errorf("restore operation %s: %w", op.ID, err)
	}
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return err
	}
	if err := dropLoadLogin(ctx, drv, db, d, d.Temp, db.Name); err != nil {
		return err
	}
	for _, n := range []string{d.Temp, d.Retired} {
		if err := drv.DropDatabase(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// deleteLocked deletes a database whose lock the caller holds, without the
// caller's permission check: the internal path for a database that Cellar
// made and must take back (a restore to a new name that did not finish).
func (s *Service) deleteLocked(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, actor string) error {
	var op store.Operation
	err := lk.InTx(ctx, func(q *store.Queries) error {
		if err := q.MarkDatabaseDeleting(ctx, db.ID); err != nil {
			return err
		}
		var err error
		op, err = q.InsertOperation(ctx, store.InsertOperationParams{ID: uuid.New(), DatabaseID: db.ID, Kind: opDelete, Actor: actor})
		return err
	})
	if err != nil {
		return fmt.Errorf("record delete of %s: %w", db.Name, err)
	}
	db.Status = cellar.DatabaseDeleting
	return s.finishDelete(ctx, lk, srv, db, op, "")
}
