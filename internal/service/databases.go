package service

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/depfault"
	"github.com/cellar/cellar/internal/store"
)

// CreateDatabaseRequest is the body of POST /v1/databases.
type CreateDatabaseRequest struct {
	DBType        string  `json:"db_type"`
	RequestedName *string `json:"requested_name"`
	CustomerID    *string `json:"customer_id"`
}

// Validate checks the fields that do not depend on the caller.
func (r *CreateDatabaseRequest) Validate() error {
	var fields []cellar.FieldError
	if r.DBType == "" {
		fields = append(fields, cellar.FieldError{Field: "db_type", Message: "is required (postgresql or mariadb)"})
	} else if _, err := cellar.ParseEngine(r.DBType); err != nil {
		fields = append(fields, cellar.FieldError{Field: "db_type", Message: err.Error()})
	}
	if r.RequestedName != nil {
		if _, err := cellar.NormalizeRequestedName(*r.RequestedName); err != nil {
			fields = append(fields, cellar.FieldError{Field: "requested_name", Message: err.Error()})
		}
	}
	if r.CustomerID != nil {
		if err := cellar.ValidateCustomerID(*r.CustomerID); err != nil {
			fields = append(fields, cellar.FieldError{Field: "customer_id", Message: err.Error()})
		}
	}
	if fields != nil {
		return cellar.Invalid(fields...)
	}
	return nil
}

// DeleteDatabaseRequest names a database to delete, from the body of
// DELETE /v1/databases or from the path of DELETE /v1/databases/{type}/{name}.
type DeleteDatabaseRequest struct {
	DBType   string  `json:"db_type"`
	DBName   string  `json:"db_name"`
	Username *string `json:"username"`
}

// Validate checks the request's fields.
func (r *DeleteDatabaseRequest) Validate() error {
	var fields []cellar.FieldError
	engine, err := cellar.ParseEngine(r.DBType)
	switch {
	case r.DBType == "":
		fields = append(fields, cellar.FieldError{Field: "db_type", Message: "is required (postgresql or mariadb)"})
	case err != nil:
		fields = append(fields, cellar.FieldError{Field: "db_type", Message: err.Error()})
	}
	switch {
	case r.DBName == "":
		fields = append(fields, cellar.FieldError{Field: "db_name", Message: "is required"})
	case err == nil:
		if _, err := cellar.ParseDatabaseName(engine, r.DBName); err != nil {
			fields = append(fields, cellar.FieldError{Field: "db_name", Message: err.Error()})
		}
	}
	if r.Username != nil && *r.Username != r.DBName {
		fields = append(fields, cellar.FieldError{Field: "username", Message: "must be the database's own user, which has the database's name"})
	}
	if fields != nil {
		return cellar.Invalid(fields...)
	}
	return nil
}

// CreateResult is the outcome of a create.
type CreateResult struct {
	cellar.Credentials
	// Idempotent is true when the database already existed; then the
	// password is not shown again.
	Idempotent bool
	// SecretPath and SecretVersion locate the password in Vault.
	SecretPath    string
	SecretVersion int
}

// Database is a customer's database as listed by the API.
type Database struct {
	Engine   cellar.Engine
	Name     string
	Username string
	Status   cellar.DatabaseStatus
	// StatusReason says why the status is needs_attention.
	StatusReason    *string
	Host            string
	Port            int
	Server          string
	CustomerID      string
	Description     *string
	ConnectionLimit *int32
	CreatedAt       time.Time
}

func databaseFrom(d store.Database, s store.Server) Database {
	return Database{
		Engine:          cellar.Engine(d.Engine),
		Name:            d.Name,
		Username:        d.Username,
		Status:          d.Status.Shown(d.AttentionReason),
		StatusReason:    d.AttentionReason,
		Host:            s.Host,
		Port:            int(s.Port),
		Server:          s.Name,
		CustomerID:      d.CustomerID,
		Description:     d.Description,
		ConnectionLimit: d.ConnectionLimit,
		CreatedAt:       d.CreatedAt,
	}
}

func lockName(engine cellar.Engine, name string) string {
	return "database/" + string(engine) + "/" + name
}

// CreateDatabase creates a database and its user on a server of the
// requested engine, keeps the password in Vault and returns it once. A
// repeated create of the same requested name returns the existing database
// with Idempotent set and no password.
func (s *Service) CreateDatabase(ctx context.Context, c Caller, req CreateDatabaseRequest) (*CreateResult, error) {
	if err := c.Require(cellar.PermDatabaseCreate); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	engine, _ := cellar.ParseEngine(req.DBType)
	override := ""
	if req.CustomerID != nil {
		override = *req.CustomerID
	}
	customer, err := c.CustomerFor(override)
	if err != nil {
		return nil, err
	}

	// A generated name that happens to be taken is drawn again; a requested
	// name that is taken is the idempotent case.
	for attempt := 0; ; attempt++ {
		suffix := cellar.GeneratedSuffix(s.now())
		if req.RequestedName != nil {
			suffix, _ = cellar.NormalizeRequestedName(*req.RequestedName)
		}
		name := cellar.DatabaseName(customer, engine, suffix)
		res, taken, err := s.createNamed(ctx, c, engine, customer, name, req.RequestedName)
		if taken && req.RequestedName == nil && attempt < 5 {
			continue
		}
		return res, err
	}
}

// createNamed creates the database called name unless it exists, holding
// the name's lock throughout so concurrent identical creates see one
// another's result.
func (s *Service) createNamed(ctx context.Context, c Caller, engine cellar.Engine, customer, name string, requested *string) (res *CreateResult, taken bool, err error) {
	leave, err := s.admit(c, customer)
	if err != nil {
		return nil, false, err
	}
	defer leave()
	unlock := s.names.Lock(lockName(engine, name))
	defer unlock()
	lk, err := s.store.Lock(ctx, lockName(engine, name))
	if err != nil {
		return nil, false, err
	}
	defer lk.Release()

	existing, err := lk.GetLiveDatabase(ctx, store.GetLiveDatabaseParams{CustomerID: customer, Engine: string(engine), Name: name})
	switch {
	case store.IsNotFound(err):
	case err != nil:
		return nil, false, fmt.Errorf("look up database: %w", err)
	case existing.Database.Status == cellar.DatabaseActive:
		db := databaseFrom(existing.Database, existing.Server)
		return &CreateResult{Credentials: credentialsOf(db, ""), Idempotent: true}, true, nil
	default:
		// We hold the lock, so nobody is working on it: an earlier attempt
		// died midway. Settle it first, then create afresh.
		if err := s.settleLocked(ctx, lk, existing.Database); err != nil {
			return nil, false, err
		}
	}

	srv, err := lk.PickServer(ctx, string(engine))
	if store.IsNotFound(err) {
		return nil, false, cellar.Errorf(cellar.CodeUnavailable, "no %s server has room for another database", engine.DisplayName())
	}
	if err != nil {
		return nil, false, fmt.Errorf("place database: %w", err)
	}

	start := time.Now()
	limit := int32(s.defaultConnectionLimit)
	db := store.Database{
		ID:              uuid.New(),
		ConnectionLimit: &limit,
		CustomerID:      customer,
		Engine:          string(engine),
		Name:            name,
		Username:        name,
		ServerID:        srv.ID,
		RequestedName:   requested,
		VaultPath:       s.vault.Path("customers", customer, string(engine), name),
	}
	var op store.Operation
	err = lk.InTx(ctx, func(q *store.Queries) error {
		if err := s.checkQuota(ctx, q, customer, engine); err != nil {
			return err
		}
		if _, err := q.InsertDatabase(ctx, store.InsertDatabaseParams{
			ID: db.ID, CustomerID: db.CustomerID, Engine: db.Engine, Name: db.Name, Username: db.Username,
			ServerID: db.ServerID, RequestedName: db.RequestedName, VaultPath: db.VaultPath, ConnectionLimit: db.ConnectionLimit,
		}); err != nil {
			return err
		}
		op, err = q.InsertOperation(ctx, store.InsertOperationParams{
			ID: uuid.New(), DatabaseID: db.ID, Kind: opCreate, Actor: c.KeyPrefix, RequestID: c.RequestID,
		})
		return err
	})
	if err != nil {
		if cellar.ErrorCode(err) == cellar.CodeQuotaExceeded {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("record create intent: %w", err)
	}

	ctx, cancel := detached(ctx)
	defer cancel()
	password := cellar.NewPassword()
	version, err := s.provisionCreate(ctx, lk, srv, db, op, password, c)
	s.metrics.observe(string(engine), string(opCreate), start, err)
	if err != nil {
		s.log.ErrorContext(ctx, "create failed, rolling back", "db", name, "engine", engine, "err", err)
		if rbErr := s.rollbackCreate(ctx, lk, db, op); rbErr != nil {
			s.log.ErrorContext(ctx, "rollback failed; the reconciler will retry", "db", name, "err", rbErr)
		}
		return nil, false, err
	}
	s.log.InfoContext(ctx, "database created", "db", name, "engine", engine, "server", srv.Name,
		"customer", customer, "ms", time.Since(start).Milliseconds())
	return &CreateResult{Credentials: credentialsOf(databaseFrom(db, srv), password), SecretPath: db.VaultPath, SecretVersion: version}, false, nil
}

// DeleteDatabase drops a database and its user, destroys its secret and
// keeps the metadata row as deleted for history and billing.
func (s *Service) DeleteDatabase(ctx context.Context, c Caller, req DeleteDatabaseRequest) error {
	if err := c.Require(cellar.PermDatabaseDelete); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	engine, _ := cellar.ParseEngine(req.DBType)
	customer := s.scopeOf(c, engine, req.DBName)
	leave, err := s.admit(c, customer)
	if err != nil {
		return err
	}
	defer leave()

	unlock := s.names.Lock(lockName(engine, req.DBName))
	defer unlock()
	lk, err := s.store.Lock(ctx, lockName(engine, req.DBName))
	if err != nil {
		return err
	}
	defer lk.Release()

	row, err := lk.GetLiveDatabase(ctx, store.GetLiveDatabaseParams{CustomerID: customer, Engine: string(engine), Name: req.DBName})
	if store.IsNotFound(err) {
		return cellar.NotFound("database", req.DBName)
	}
	if err != nil {
		return fmt.Errorf("look up database: %w", err)
	}
	db := row.Database
	start := time.Now()
	ctx, cancel := detached(ctx)
	defer cancel()

	switch db.Status {
	case cellar.DatabaseCreating:
		// A create that died midway: it never existed for the customer.
		if err := s.settleLocked(ctx, lk, db); err != nil {
			return err
		}
		return cellar.NotFound("database", req.DBName)
	case cellar.DatabaseActive:
		err = lk.InTx(ctx, func(q *store.Queries) error {
			if err := q.MarkDatabaseDeleting(ctx, db.ID); err != nil {
				return err
			}
			_, err := q.InsertOperation(ctx, store.InsertOperationParams{
				ID: uuid.New(), DatabaseID: db.ID, Kind: opDelete, Actor: c.KeyPrefix, RequestID: c.RequestID,
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("record delete intent: %w", err)
		}
		if err := s.fail.Hit("delete.after_intent"); err != nil {
			return err
		}
	}
	op, err := lk.GetPendingOperation(ctx, db.ID)
	if err != nil {
		return fmt.Errorf("load delete operation: %w", err)
	}
	err = s.finishDelete(ctx, lk, row.Server, db, op, c.RemoteAddr)
	s.metrics.observe(string(engine), string(opDelete), start, err)
	if err != nil {
		s.log.ErrorContext(ctx, "delete failed; the reconciler will retry", "db", db.Name, "err", err)
		if dep, ok := depfault.Is(err); ok {
			return &cellar.Error{Code: cellar.CodeUnavailable, RetryAfter: dep.RetryAfter, Err: err,
				Message: dep.Message + "; the deletion is recorded and will be finished automatically"}
		}
		return cellar.Errorf(cellar.CodeUnavailable, "the database could not be deleted right now; the deletion will be retried automatically")
	}
	s.log.InfoContext(ctx, "database deleted", "db", db.Name, "engine", engine, "ms", time.Since(start).Milliseconds())
	return nil
}

// ListDatabases lists a customer's live databases of one engine. Internal
// keys may name another customer; other keys always see their own.
func (s *Service) ListDatabases(ctx context.Context, c Caller, dbType, customerOverride string) ([]Database, error) {
	if err := c.Require(cellar.PermDatabaseRead); err != nil {
		return nil, err
	}
	engine, err := cellar.ParseEngine(dbType)
	if err != nil {
		return nil, cellar.Invalid(cellar.FieldError{Field: "db_type", Message: err.Error()})
	}
	customer, err := c.CustomerFor(customerOverride)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.ListLiveDatabasesByCustomer(ctx, store.ListLiveDatabasesByCustomerParams{CustomerID: customer, Engine: string(engine)})
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	out := make([]Database, 0, len(rows))
	for _, r := range rows {
		out = append(out, databaseFrom(r.Database, r.Server))
	}
	return out, nil
}

// scopeOf is the customer whose databases a request may touch: the key's
// own, or for internal keys the customer named inside the database name.
func (s *Service) scopeOf(c Caller, engine cellar.Engine, dbName string) string {
	if c.Internal {
		if owner, err := cellar.ParseDatabaseName(engine, dbName); err == nil {
			return owner
		}
	}
	return c.CustomerID
}

func credentialsOf(d Database, password string) cellar.Credentials {
	return cellar.Credentials{
		Engine: d.Engine, Host: d.Host, Port: d.Port, Database: d.Name, Username: d.Username, Password: password,
	}
}
