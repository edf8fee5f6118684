package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/firewall"
	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/store"
)

// AccessRule is one allowed source of a database.
type AccessRule struct {
	ID          uuid.UUID
	Engine      cellar.Engine
	Database    string
	Source      netip.Prefix
	Port        int
	Description *string
	CreatedAt   time.Time
}

// AddAccessRuleRequest is the body of POST …/firewall.
type AddAccessRuleRequest struct {
	IPAddress   string  `json:"ip_address"`
	Description *string `json:"description"`
}

// Validate checks the request's fields.
func (r *AddAccessRuleRequest) Validate() (netip.Prefix, error) {
	var fields []cellar.FieldError
	p, err := cellar.ParseSource(r.IPAddress)
	if err != nil {
		fields = append(fields, cellar.FieldError{Field: "ip_address", Message: err.Error()})
	}
	if r.Description != nil && len(*r.Description) > 200 {
		fields = append(fields, cellar.FieldError{Field: "description", Message: "must be at most 200 characters"})
	}
	if fields != nil {
		return p, cellar.Invalid(fields...)
	}
	return p, nil
}

// AddAccessRule allows a source to reach a database, in the engine (pg_hba
// or MariaDB user hosts) and in the host firewall.
func (s *Service) AddAccessRule(ctx context.Context, c Caller, dbType, dbName string, req AddAccessRuleRequest) (*AccessRule, error) {
	var source netip.Prefix
	h, err := s.writeTarget(ctx, c, cellar.PermDatabaseUpdate, dbType, dbName, func(engine cellar.Engine) (err error) {
		if source, err = req.Validate(); err != nil {
			return err
		}
		if err := provision.CheckSource(engine, source); err != nil {
			return cellar.Invalid(cellar.FieldError{Field: "ip_address", Message: err.Error()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer h.release()
	ctx, cancel := detached(ctx)
	defer cancel()

	if existing, err := h.lk.GetAccessRuleBySource(ctx, store.GetAccessRuleBySourceParams{DatabaseID: h.db.ID, Source: source}); err == nil {
		return nil, cellar.Errorf(cellar.CodeConflict, "a rule for %s already exists on %s (rule_id %s)", source, dbName, existing.ID)
	} else if !store.IsNotFound(err) {
		return nil, err
	}
	n, err := h.lk.CountAccessRules(ctx, h.db.ID)
	if err != nil {
		return nil, err
	}
	if int(n) >= s.access.MaxRules {
		return nil, cellar.Errorf(cellar.CodeConflict, "%s already has %d access rules, the most allowed; delete one first", dbName, n)
	}

	var rule store.AccessRule
	var op store.Operation
	err = h.lk.InTx(ctx, func(q *store.Queries) error {
		var err error
		rule, err = q.InsertAccessRule(ctx, store.InsertAccessRuleParams{
			ID: uuid.New(), DatabaseID: h.db.ID, CustomerID: h.db.CustomerID, Source: source,
			Description: req.Description, CreatedBy: c.KeyPrefix,
		})
		if err != nil {
			return err
		}
		op, err = q.InsertOperation(ctx, store.InsertOperationParams{
			ID: uuid.New(), DatabaseID: h.db.ID, Kind: opAccess, Actor: c.KeyPrefix, RequestID: c.RequestID,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record access rule: %w", err)
	}
	if err := s.fail.Hit("access.after_intent"); err != nil {
		return nil, err
	}
	err = s.finishAccess(ctx, h.lk, h.srv, h.db, op, c.RemoteAddr, "access_rule_added",
		map[string]any{"rule_id": rule.ID, "source": source.String()})
	if errors.Is(err, provision.ErrAccessUnsupported) {
		// Not a passing outage: this server's rules cannot be managed from
		// here at all. Take the rule back rather than promise it.
		undoErr := h.lk.InTx(ctx, func(q *store.Queries) error {
			by := "cellar"
			if err := q.DeleteAccessRule(ctx, store.DeleteAccessRuleParams{ID: rule.ID, DeletedBy: &by}); err != nil {
				return err
			}
			return q.FinishOperation(ctx, store.FinishOperationParams{ID: op.ID, State: cellar.OpRolledBack})
		})
		if undoErr != nil {
			return nil, undoErr
		}
		return nil, cellar.Errorf(cellar.CodeConflict, "network access rules cannot be enforced on server %s: Cellar must run on the database host to manage its access configuration", h.srv.Name)
	}
	if err != nil {
		return nil, err
	}
	return accessRuleFrom(rule, h.db, h.srv), nil
}

// DeleteAccessRule removes a rule everywhere it is enforced.
func (s *Service) DeleteAccessRule(ctx context.Context, c Caller, dbType, dbName, ruleID string) error {
	var id uuid.UUID
	h, err := s.writeTarget(ctx, c, cellar.PermDatabaseUpdate, dbType, dbName, func(cellar.Engine) (err error) {
		if id, err = uuid.Parse(ruleID); err != nil {
			return cellar.Invalid(cellar.FieldError{Field: "rule_id", Message: "must be a UUID"})
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer h.release()
	ctx, cancel := detached(ctx)
	defer cancel()

	rule, err := h.lk.GetAccessRule(ctx, store.GetAccessRuleParams{CustomerID: h.db.CustomerID, DatabaseID: h.db.ID, ID: id})
	if store.IsNotFound(err) {
		return cellar.NotFound("rule", ruleID)
	}
	if err != nil {
		return err
	}
	var op store.Operation
	err = h.lk.InTx(ctx, func(q *store.Queries) error {
		deletedBy := c.KeyPrefix
		if err := q.DeleteAccessRule(ctx, store.DeleteAccessRuleParams{ID: rule.ID, DeletedBy: &deletedBy}); err != nil {
			return err
		}
		var err error
		op, err = q.InsertOperation(ctx, store.InsertOperationParams{
			ID: uuid.New(), DatabaseID: h.db.ID, Kind: opAccess, Actor: c.KeyPrefix, RequestID: c.RequestID,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("record rule deletion: %w", err)
	}
	if err := s.fail.Hit("access.after_intent"); err != nil {
		return err
	}
	err = s.finishAccess(ctx, h.lk, h.srv, h.db, op, c.RemoteAddr, "access_rule_deleted",
		map[string]any{"rule_id": rule.ID, "source": rule.Source.String()})
	if errors.Is(err, provision.ErrAccessUnsupported) {
		// Nothing of it could have been enforced there: deleted is deleted.
		return succeed(ctx, h.lk, op, h.db, "access_rule_deleted", c.RemoteAddr, map[string]any{"rule_id": rule.ID, "source": rule.Source.String()})
	}
	return err
}

// ListAccessRules lists a database's rules, oldest first.
func (s *Service) ListAccessRules(ctx context.Context, c Caller, dbType, dbName string) ([]AccessRule, error) {
	db, srv, err := s.readTarget(ctx, c, cellar.PermDatabaseRead, dbType, dbName)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.ListAccessRules(ctx, store.ListAccessRulesParams{CustomerID: db.CustomerID, DatabaseID: db.ID})
	if err != nil {
		return nil, err
	}
	out := make([]AccessRule, 0, len(rows))
	for _, r := range rows {
		out = append(out, *accessRuleFrom(r, db, srv))
	}
	return out, nil
}

func accessRuleFrom(r store.AccessRule, db store.Database, srv store.Server) *AccessRule {
	return &AccessRule{
		ID: r.ID, Engine: cellar.Engine(db.Engine), Database: db.Name, Source: r.Source,
		Port: int(srv.Port), Description: r.Description, CreatedAt: r.CreatedAt,
	}
}

// finishAccess converges the server and the firewall to the metadata, then
// closes the operation with an event. If convergence fails the operation
// stays pending and the reconciler retries it: the rule is recorded, and
// the metadata is what gets enforced.
func (s *Service) finishAccess(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation,
	remoteAddr, event string, details map[string]any) error {
	if _, err := s.converge(ctx, lk, srv, []string{db.Name}); err != nil {
		if errors.Is(err, provision.ErrAccessUnsupported) {
			return err
		}
		s.noteFailure(ctx, op, err)
		s.log.ErrorContext(ctx, "apply access rules; the reconciler will retry", "db", db.Name, "err", err)
		return cellar.Errorf(cellar.CodeUnavailable, "the rule is recorded but could not be applied yet; it will be applied automatically")
	}
	// A new source is a new MariaDB account: it copied the limit of an
	// existing one, which is re-applied here in case that one had drifted.
	if drv, err := s.fleet.driver(ctx, srv); err != nil || s.enforceLimit(ctx, drv, db) != nil {
		s.log.WarnContext(ctx, "re-applying the connection limit after an access change; the reconciler will", "db", db.Name)
	}
	return succeed(ctx, lk, op, db, event, remoteAddr, details)
}

// settleAccess finishes an access change whose owner died: converge, and
// record that the reconciler did it.
func (s *Service) settleAccess(ctx context.Context, lk *store.Lock, srv store.Server, db store.Database, op store.Operation) error {
	return s.finishAccess(ctx, lk, srv, db, op, "", "access_rules_applied", map[string]any{"completed_by": "reconciler"})
}

// accessLock serialises every change of enforced access rules, across all
// Cellar processes: a pg_hba section or a firewall is rewritten whole from
// the metadata, and two writers must not interleave.
const accessLock = "access"

// converge brings one server's engine rules and the host firewall in line
// with the metadata. only limits per-database work on engines that allow it
// (nil: every database). It returns the repairs made, for drift reports.
//
// held is the lock of the database being changed, if the caller holds one:
// the access lock is then taken on its connection (see store.Lock.Also), so
// that holders never need a second lock connection to finish.
func (s *Service) converge(ctx context.Context, held *store.Lock, srv store.Server, only []string) ([]string, error) {
	lk := held
	if lk == nil {
		var err error
		if lk, err = s.store.Lock(ctx, accessLock); err != nil {
			return nil, err
		}
		defer lk.Release()
	} else {
		if err := lk.Also(ctx, accessLock); err != nil {
			return nil, err
		}
		defer lk.Drop(accessLock)
	}
	policy, err := s.accessPolicy(ctx, lk.Queries, srv)
	if err != nil {
		return nil, err
	}
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return nil, err
	}
	repairs, err := drv.ApplyAccess(ctx, policy, only)
	if err != nil {
		return repairs, fmt.Errorf("server %s: %w", srv.Name, err)
	}
	changes, err := s.convergeFirewall(ctx, lk.Queries)
	for _, ch := range changes {
		verb := "removed"
		if ch.Added {
			verb = "added"
		}
		repairs = append(repairs, fmt.Sprintf("firewall: %s %s to port %d (%s)", verb, ch.Rule.Source, ch.Rule.Port, ch.Rule.Comment))
	}
	return repairs, err
}

// accessPolicy builds a server's desired access from the metadata.
func (s *Service) accessPolicy(ctx context.Context, q *store.Queries, srv store.Server) (provision.AccessPolicy, error) {
	rows, err := q.ListAccessPolicyRows(ctx, srv.ID)
	if err != nil {
		return provision.AccessPolicy{}, fmt.Errorf("load access rules: %w", err)
	}
	p := provision.AccessPolicy{Closed: s.access.Closed, Databases: map[string]provision.DatabaseAccess{}}
	for _, r := range rows {
		d := p.Databases[r.Name]
		d.Owner = r.Username
		if r.Source != nil {
			d.Sources = append(d.Sources, *r.Source)
		}
		p.Databases[r.Name] = d
	}
	return p, nil
}

// convergeFirewall applies the union of all rules, per server port, to the
// host firewall. Under the open default a port whose server has a database
// without rules must stay open to everyone (the engine still enforces
// per-database rules); under the closed default only rule sources pass.
func (s *Service) convergeFirewall(ctx context.Context, q *store.Queries) ([]firewall.Change, error) {
	if s.access.Firewall == nil || s.access.Firewall.Name() == "none" {
		return nil, nil
	}
	servers, err := q.ListServers(ctx)
	if err != nil {
		return nil, err
	}
	var desired []firewall.Rule
	for _, srv := range servers {
		rows, err := q.ListAccessPolicyRows(ctx, srv.ID)
		if err != nil {
			return nil, err
		}
		openPort := false
		withRules := map[string]bool{}
		for _, r := range rows {
			if r.Source != nil {
				withRules[r.Name] = true
				desired = append(desired, firewall.Rule{Port: int(srv.Port), Source: *r.Source, Comment: "cellar:" + r.RuleID.String()})
			}
		}
		for _, r := range rows {
			if !withRules[r.Name] && !s.access.Closed {
				openPort = true
			}
		}
		if openPort {
			for _, everyone := range []string{"0.0.0.0/0", "::/0"} {
				desired = append(desired, firewall.Rule{Port: int(srv.Port), Source: netip.MustParsePrefix(everyone), Comment: "cellar:open-" + srv.Name})
			}
		}
	}
	sort.Slice(desired, func(i, j int) bool { return desired[i].Comment < desired[j].Comment })
	return s.access.Firewall.Apply(ctx, desired)
}

// reconcileAccess converges every server and reports the repairs as drift.
// A server whose access cannot be managed from here (remote) is skipped.
func (s *Service) reconcileAccess(ctx context.Context, srv store.Server) ([]string, error) {
	repairs, err := s.converge(ctx, nil, srv, nil)
	if errors.Is(err, provision.ErrAccessUnsupported) {
		s.log.DebugContext(ctx, "access rules not managed on this server", "server", srv.Name)
		err = nil
	}
	for _, r := range repairs {
		s.log.WarnContext(ctx, "access drift repaired", "server", srv.Name, "repair", r)
	}
	s.metrics.accessRepairs.WithLabelValues(srv.Name).Add(float64(len(repairs)))
	return repairs, err
}
