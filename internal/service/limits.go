package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
	"github.com/cellar/cellar/internal/store"
)

// driftConnectionLimit is the drift kind of a connection limit changed on a
// server behind Cellar's back (by an administrator, or by a tenant where it
// can: a PostgreSQL owner can lift its database-level limit, which is
// harmless since the role limit binds, but is still set back).
const driftConnectionLimit = "connection_limit"

// enforceLimit sets the metadata's connection limit on the server again.
// It follows every step that may have made the owner anew (a rotation or
// its settling on a user found missing creates the account without a
// limit), so that no path leaves a database without its limit.
func (s *Service) enforceLimit(ctx context.Context, drv provision.Driver, db store.Database) error {
	if db.ConnectionLimit == nil {
		return nil
	}
	return drv.SetConnectionLimit(ctx, db.Name, db.Username, int(*db.ConnectionLimit))
}

// checkLimits compares the connection limit of every active database on srv
// with the metadata, and sets back any that differ. Unlike the objects
// checkDrift reports, a limit is Cellar's own setting, so repairing it is
// safe: it is logged and counted in cellar_drift_repaired_total.
func (s *Service) checkLimits(ctx context.Context, srv store.Server) ([]string, error) {
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return nil, err
	}
	// The server is listed before the metadata is read: a database made
	// after the listing is skipped (its ready_at is later), and a limit
	// changed through Cellar in between is caught under the lock below.
	listedAt := time.Now()
	settings, err := drv.ConnectionLimits(ctx, "cust_")
	if err != nil {
		return nil, err
	}
	rows, err := s.store.ListActiveDatabaseLimitsByServer(ctx, srv.ID)
	if err != nil {
		return nil, err
	}
	var findings []string
	for _, r := range rows {
		if r.ConnectionLimit == nil || r.ReadyAt == nil || r.ReadyAt.After(listedAt) {
			continue
		}
		if len(limitDrift(settings, r.Name, r.Username, int(*r.ConnectionLimit))) == 0 {
			continue
		}
		finding, err := s.repairLimit(ctx, srv, drv, r)
		if err != nil {
			return findings, fmt.Errorf("repair connection limit of %s: %w", r.Name, err)
		}
		if finding != "" {
			findings = append(findings, finding)
		}
	}
	return findings, nil
}

// limitDrift returns the settings of database name (owned by user) that are
// not want: on PostgreSQL the owner role's and the database's, on MariaDB
// each of the owner's accounts.
func limitDrift(settings []provision.LimitSetting, name, user string, want int) []string {
	var out []string
	for _, st := range settings {
		mine := st.Database == name || st.Database == "" && st.User == user
		if mine && st.Limit != want {
			out = append(out, fmt.Sprintf("%s was %s", st.Object, limitText(st.Limit)))
		}
	}
	return out
}

func limitText(l int) string {
	if l == provision.Unlimited {
		return "unlimited"
	}
	return fmt.Sprint(l)
}

// repairLimit sets one database's limit back, under its lock so that it
// cannot undo a change a request is making. A database that is busy, no
// longer active, or whose wanted limit changed since the listing is left to
// the next pass; so is one that no longer drifts when read again.
func (s *Service) repairLimit(ctx context.Context, srv store.Server, drv provision.Driver, r store.ListActiveDatabaseLimitsByServerRow) (string, error) {
	lk, ok, err := s.store.TryLock(ctx, lockName(cellar.Engine(r.Engine), r.Name))
	if err != nil || !ok {
		return "", err
	}
	defer lk.Release()
	fresh, err := lk.GetDatabaseByID(ctx, r.ID)
	if err != nil {
		return "", err
	}
	db := fresh.Database
	if db.Status != cellar.DatabaseActive || db.ConnectionLimit == nil || *db.ConnectionLimit != *r.ConnectionLimit {
		return "", nil
	}
	if _, err := lk.GetPendingOperation(ctx, db.ID); err == nil {
		return "", nil // the operation's settling applies the limit
	} else if !store.IsNotFound(err) {
		return "", err
	}
	want := int(*db.ConnectionLimit)
	var now []provision.LimitSetting
	prefixes := []string{db.Username}
	if db.Name != db.Username {
		prefixes = append(prefixes, db.Name)
	}
	for _, prefix := range prefixes {
		l, err := drv.ConnectionLimits(ctx, prefix)
		if err != nil {
			return "", err
		}
		now = append(now, l...)
	}
	drift := limitDrift(now, db.Name, db.Username, want)
	if len(drift) == 0 {
		return "", nil
	}
	if err := drv.SetConnectionLimit(ctx, db.Name, db.Username, want); err != nil {
		return "", err
	}
	s.metrics.driftRepaired.WithLabelValues(driftConnectionLimit, srv.Engine).Inc()
	s.log.WarnContext(ctx, "drift repaired: connection limit changed behind Cellar's back",
		"server", srv.Name, "db", db.Name, "want", want, "found", strings.Join(drift, "; "))
	return fmt.Sprintf("%s: repaired %s %s (%s; set back to %d)", srv.Name, driftConnectionLimit, db.Name, strings.Join(drift, ", "), want), nil
}
