package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// Operation kinds recorded in the operations table, short names for this
// package.
const (
	opCreate  = cellar.OpCreate
	opDelete  = cellar.OpDelete
	opRotate  = cellar.OpRotate
	opUpdate  = cellar.OpUpdate
	opRestart = cellar.OpRestart
	opAccess  = cellar.OpAccess
	opRestore = cellar.OpRestore
)

// settleFunc brings an operation its owner left pending (the process died,
// or the request's context ended) to an end, under the database's lock:
// either forward to what was asked, or back to where it started. It is
// idempotent, since a settle can itself be interrupted.
type settleFunc func(s *Service, ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error

// opSteps is what an operation kind registers. Forward is the direction a
// settle takes, for readers and logs ("finish" or "roll back"); Settle is
// the work.
type opSteps struct {
	Forward bool
	Settle  settleFunc
}

// opRegistry maps each operation kind to its steps. settleOperation (the
// write preamble and the reconciler both go through it) is a lookup in
// it, so a new kind (cluster create, replica add, slot create) is one
// entry here and its steps in its own file, not a new case in a switch.
type opRegistry map[cellar.OpKind]opSteps

// operationKinds is the registry the service uses. A create rolls back
// (the client never got the password); every other kind is brought to the
// state the metadata and Vault describe.
var operationKinds = opRegistry{
	opCreate:  {Forward: false, Settle: (*Service).rollbackCreateOp},
	opDelete:  {Forward: true, Settle: (*Service).finishDeleteOp},
	opRotate:  {Forward: true, Settle: (*Service).settleRotate},
	opUpdate:  {Forward: true, Settle: (*Service).settleUpdate},
	opRestart: {Forward: true, Settle: (*Service).finishRestartOp},
	opAccess:  {Forward: true, Settle: (*Service).settleAccess},
	opRestore: {Forward: true, Settle: (*Service).settleRestore},
}

// errUnknownOpKind is returned for a pending operation whose kind no
// step is registered for (written by a newer version, say). Nothing is
// guessed: the operation is left pending for a version that knows it.
var errUnknownOpKind = errors.New("unknown operation kind")

// lookup returns the steps of kind, or errUnknownOpKind.
func (r opRegistry) lookup(kind cellar.OpKind) (opSteps, error) {
	steps, ok := r[kind]
	if !ok || steps.Settle == nil {
		return opSteps{}, fmt.Errorf("%w %q", errUnknownOpKind, kind)
	}
	return steps, nil
}

func (s *Service) rollbackCreateOp(ctx context.Context, lk *store.Lock, _ store.Server, db store.Database, op store.Operation) error {
	return s.rollbackCreate(ctx, lk, db, op)
}

func (s *Service) finishDeleteOp(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error {
	return s.finishDelete(ctx, lk, srv, db, op, "")
}

func (s *Service) finishRestartOp(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error {
	_, err := s.finishRestart(ctx, lk, srv, db, op, "")
	return err
}

// settleLocked finishes the pending operation of a database whose lock the
// caller holds, if it has one.
func (s *Service) settleLocked(ctx context.Context, lk *store.Lock, db store.Database) error {
	op, err := lk.GetPendingOperation(ctx, db.ID)
	if store.IsNotFound(err) {
		return nil // finished meanwhile
	}
	if err != nil {
		return fmt.Errorf("load pending operation: %w", err)
	}
	return s.settleOperation(ctx, lk, db, op)
}

// settleOperation finishes an operation its owner left pending, with the
// steps its kind registered. An unknown kind is logged and left alone.
func (s *Service) settleOperation(ctx context.Context, lk *store.Lock, db store.Database, op store.Operation) error {
	steps, err := s.ops.lookup(op.Kind)
	if err != nil {
		s.metrics.reconciled.WithLabelValues(string(op.Kind), "unknown").Inc()
		s.log.WarnContext(ctx, "pending operation of unknown kind left alone", "op", op.ID, "kind", op.Kind, "db", db.Name)
		return err
	}
	srv, err := lk.GetServer(ctx, db.ServerID)
	if err != nil {
		return fmt.Errorf("load server: %w", err)
	}
	err = steps.Settle(s, ctx, lk, srv, db, op)
	outcome := "done"
	if err != nil {
		outcome = "error"
	}
	s.metrics.reconciled.WithLabelValues(string(op.Kind), outcome).Inc()
	if err == nil {
		direction := "rolled back"
		if steps.Forward {
			direction = "finished"
		}
		s.log.InfoContext(ctx, "settled interrupted operation", "op", op.ID, "kind", op.Kind, "db", db.Name, "direction", direction)
	}
	return err
}
