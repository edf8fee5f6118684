package service

import (
	"context"
	"fmt"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// parseTarget validates the db_type and db_name that address a database.
func parseTarget(dbType, dbName string) (cellar.Engine, error) {
	engine, err := cellar.ParseEngine(dbType)
	if err != nil {
		return "", cellar.Invalid(cellar.FieldError{Field: "db_type", Message: err.Error()})
	}
	if _, err := cellar.ParseDatabaseName(engine, dbName); err != nil {
		return "", cellar.Invalid(cellar.FieldError{Field: "db_name", Message: err.Error()})
	}
	return engine, nil
}

// held is a database whose lock the caller holds.
type held struct {
	lk     *store.Lock
	db     store.Database
	srv    store.Server
	unlock func()
}

func (h *held) release() {
	h.lk.Release()
	h.unlock()
}

// lockActive takes the lock of one of the caller's databases and returns it
// if it is active. It is the preamble of every change, so the customer's
// bound on concurrent changes (see admission) is applied here, before any
// waiting. Work that an earlier process left half-done on it is
// settled first; a database that turns out not to exist, or to be another
// customer's, is not found.
func (s *Service) lockActive(ctx context.Context, c Caller, engine cellar.Engine, name string) (*held, error) {
	customer := s.scopeOf(c, engine, name)
	leave, err := s.admit(c, customer)
	if err != nil {
		return nil, err
	}
	unlockName := s.names.Lock(lockName(engine, name))
	unlock := func() { unlockName(); leave() }
	lk, err := s.store.Lock(ctx, lockName(engine, name))
	if err != nil {
		unlock()
		return nil, err
	}
	h := &held{lk: lk, unlock: unlock}
	get := func() (store.GetLiveDatabaseRow, error) {
		return lk.GetLiveDatabase(ctx, store.GetLiveDatabaseParams{CustomerID: customer, Engine: string(engine), Name: name})
	}
	row, err := get()
	if err == nil {
		// We hold the lock, so a pending operation is one whose owner died:
		// settle it before starting anything new, then look again.
		op, opErr := lk.GetPendingOperation(ctx, row.Database.ID)
		switch {
		case opErr == nil:
			if err = s.settleOperation(ctx, lk, row.Database, op); err == nil {
				row, err = get()
			}
		case !store.IsNotFound(opErr):
			err = opErr
		}
	}
	switch {
	case store.IsNotFound(err) || err == nil && row.Database.Status != cellar.DatabaseActive:
		h.release()
		return nil, cellar.NotFound("database", name)
	case err != nil:
		h.release()
		return nil, fmt.Errorf("look up database: %w", err)
	}
	if err := attentionConflict(row.Database); err != nil {
		h.release()
		return nil, err
	}
	h.db, h.srv = row.Database, row.Server
	return h, nil
}

// writeTarget checks the permission and the address of a database, runs
// check (the request's own validation, which may need the engine; nil for
// none) and locks the database if it is one of the caller's active
// databases, after admission and after settling work an earlier process
// left half-done on it (lockActive): the preamble of every change, as
// readTarget is of every read. The caller releases the lock (h.release).
// The order is the order of the answers: 403, then 422 for the address,
// then 422 for the request, then 429 or 404.
func (s *Service) writeTarget(ctx context.Context, c Caller, perm cellar.Permission, dbType, dbName string, check func(cellar.Engine) error) (*held, error) {
	if err := c.Require(perm); err != nil {
		return nil, err
	}
	engine, err := parseTarget(dbType, dbName)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(engine); err != nil {
			return nil, err
		}
	}
	return s.lockActive(ctx, c, engine, dbName)
}

// readTarget checks the permission and the address of a database, and
// returns it if it is one of the caller's active databases: the preamble of
// every read.
func (s *Service) readTarget(ctx context.Context, c Caller, perm cellar.Permission, dbType, dbName string) (store.Database, store.Server, error) {
	if err := c.Require(perm); err != nil {
		return store.Database{}, store.Server{}, err
	}
	engine, err := parseTarget(dbType, dbName)
	if err != nil {
		return store.Database{}, store.Server{}, err
	}
	return s.readActive(ctx, c, engine, dbName)
}

// readActive returns one of the caller's active databases without locking.
func (s *Service) readActive(ctx context.Context, c Caller, engine cellar.Engine, name string) (store.Database, store.Server, error) {
	row, err := s.store.GetLiveDatabase(ctx, store.GetLiveDatabaseParams{CustomerID: s.scopeOf(c, engine, name), Engine: string(engine), Name: name})
	if store.IsNotFound(err) {
		return store.Database{}, store.Server{}, cellar.NotFound("database", name)
	}
	if err != nil {
		return store.Database{}, store.Server{}, fmt.Errorf("look up database: %w", err)
	}
	switch row.Database.Status {
	case cellar.DatabaseCreating:
		return store.Database{}, store.Server{}, cellar.Errorf(cellar.CodeConflict, "database %s is still being created", name)
	case cellar.DatabaseDeleting:
		return store.Database{}, store.Server{}, cellar.Errorf(cellar.CodeConflict, "database %s is being deleted", name)
	}
	return row.Database, row.Server, nil
}
