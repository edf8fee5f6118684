package mariadb

// SwapDatabase for MariaDB: the state table in retired that records a
// swap's phase, its arguments and the saved object definitions (see
// swap.go's file comment).

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// stateTable is the quoted name of the state table in its current phase.
func (s *mariaSwap) stateTable() string {
	return mariaQuote(s.retired) + "." + mariaQuote(s.state)
}

// currentState returns the name of the state table that exists in retired,
// or "".
func (s *mariaSwap) currentState(ctx context.Context) (string, error) {
	tables, err := s.tables(ctx, s.retired)
	if err != nil {
		return "", err
	}
	for _, t := range mariaSwapStateTables {
		if slices.Contains(tables, t) {
			return t, nil
		}
	}
	return "", nil
}

// createState creates the state table (phase 1).
func (s *mariaSwap) createState(ctx context.Context) error {
	s.state = mariaSwapPending
	_, err := s.m.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+s.stateTable()+` (
		id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
		kind VARCHAR(16) CHARACTER SET ascii NOT NULL,
		side VARCHAR(16) CHARACTER SET ascii NOT NULL DEFAULT '',
		name VARCHAR(255) NOT NULL DEFAULT '',
		subject VARCHAR(255) NOT NULL DEFAULT '',
		ord INT NOT NULL DEFAULT 0,
		sql_mode TEXT NULL,
		cs_client VARCHAR(64) NULL,
		coll_conn VARCHAR(64) NULL,
		time_zone VARCHAR(64) NULL,
		def LONGBLOB NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='Cellar SwapDatabase state'`)
	if err != nil {
		return fmt.Errorf("swap database %q: create state table in %q: %w", s.live, s.retired, err)
	}
	return nil
}

// recordStart records, once, the names and the owner's accounts that are
// locked before the swap locks them (phase 1).
func (s *mariaSwap) recordStart(ctx context.Context) error {
	meta, err := s.readMeta(ctx)
	if err != nil || len(meta) > 0 {
		return err
	}
	accts, err := s.m.userAccounts(ctx, s.owner)
	if err != nil {
		return err
	}
	return s.inTx(ctx, "record swap state", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.stateTable()); err != nil {
			return err
		}
		for _, kv := range [][2]string{{"live", s.live}, {"replacement", s.replacement}, {"owner", s.owner}} {
			if err := insertState(ctx, tx, s.stateTable(), mariaObject{kind: "meta", name: kv[0], subject: kv[1]}); err != nil {
				return err
			}
		}
		for _, a := range accts {
			if a.locked {
				if err := insertState(ctx, tx, s.stateTable(), mariaObject{kind: "locked", name: a.host}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// snapshot saves, once, the definitions of replacement's triggers, views,
// routines and events and of live's triggers, views and events, and
// replacement's character set, in one transaction. It runs after the
// owner is locked out, so nothing changes them from then on.
func (s *mariaSwap) snapshot(ctx context.Context) error {
	var done int
	if err := s.m.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.stateTable()+" WHERE kind = 'snapshot'").Scan(&done); err != nil {
		return fmt.Errorf("swap database %q: read state: %w", s.live, err)
	}
	if done > 0 {
		return nil
	}
	var objs []mariaObject
	for _, side := range []string{"replacement", "live"} {
		db := s.replacement
		if side == "live" {
			db = s.live
		}
		listed, err := s.listObjects(ctx, db)
		if err != nil {
			return err
		}
		if side == "replacement" {
			if err := s.checkDefiners(listed); err != nil {
				return err
			}
		} else {
			// live's routines stay until they are replaced; nothing to save.
			listed = slices.DeleteFunc(listed, func(o mariaListed) bool { return o.kind == "routine" })
		}
		got, err := s.fetchDefinitions(ctx, db, side, listed)
		if err != nil {
			return err
		}
		objs = append(objs, got...)
	}
	cs, coll, err := s.charset(ctx, s.replacement)
	if err != nil {
		return err
	}
	return s.inTx(ctx, "save definitions", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.stateTable()+" WHERE kind <> 'meta' AND kind <> 'locked'"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.stateTable()+" WHERE kind = 'meta' AND name IN ('charset', 'collation')"); err != nil {
			return err
		}
		for _, o := range objs {
			if err := insertState(ctx, tx, s.stateTable(), o); err != nil {
				return err
			}
		}
		for _, o := range []mariaObject{
			{kind: "meta", name: "charset", subject: cs},
			{kind: "meta", name: "collation", subject: coll},
			{kind: "snapshot"},
		} {
			if err := insertState(ctx, tx, s.stateTable(), o); err != nil {
				return err
			}
		}
		return nil
	})
}

// inTx runs fn in a transaction on the admin pool.
func (s *mariaSwap) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := s.m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("swap database %q: %s: %w", s.live, what, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that brought us here is the one to report
		return fmt.Errorf("swap database %q: %s: %w", s.live, what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("swap database %q: %s: %w", s.live, what, err)
	}
	return nil
}

// insertState inserts one row into the state table table.
func insertState(ctx context.Context, tx *sql.Tx, table string, o mariaObject) error {
	null := func(v string) sql.NullString { return sql.NullString{String: v, Valid: o.def != nil} }
	_, err := tx.ExecContext(ctx, "INSERT INTO "+table+
		" (kind, side, name, subject, ord, sql_mode, cs_client, coll_conn, time_zone, def) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		o.kind, o.side, o.name, o.subject, o.ord, null(o.sqlMode), null(o.csClient), null(o.collConn), null(o.timeZone), o.def)
	return err
}

// readMeta returns the state table's meta rows as a map, and the locked
// hosts under the key "locked:<host>".
func (s *mariaSwap) readMeta(ctx context.Context) (map[string]string, error) {
	rows, err := s.m.db.QueryContext(ctx, "SELECT kind, name, subject FROM "+s.stateTable()+
		" WHERE kind IN ('meta', 'locked') ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("swap database %q: read state: %w", s.live, err)
	}
	defer rows.Close()
	meta := map[string]string{}
	for rows.Next() {
		var kind, name, subject string
		if err := rows.Scan(&kind, &name, &subject); err != nil {
			return nil, fmt.Errorf("swap database %q: read state: %w", s.live, err)
		}
		if kind == "locked" {
			meta["locked:"+name] = "1"
		} else {
			meta[name] = subject
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("swap database %q: read state: %w", s.live, err)
	}
	return meta, nil
}

// lockedBefore returns the hosts recorded as locked before the swap.
func (s *mariaSwap) lockedBefore(meta map[string]string) []string {
	var hosts []string
	for k := range meta {
		if h, ok := strings.CutPrefix(k, "locked:"); ok {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// readObjects returns the saved definitions, in the order they were saved.
func (s *mariaSwap) readObjects(ctx context.Context) ([]mariaObject, error) {
	rows, err := s.m.db.QueryContext(ctx, "SELECT kind, side, name, subject, ord, sql_mode, cs_client, coll_conn, time_zone, def FROM "+
		s.stateTable()+" WHERE kind IN ('trigger', 'view', 'routine', 'event') ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("swap database %q: read saved definitions: %w", s.live, err)
	}
	defer rows.Close()
	var out []mariaObject
	for rows.Next() {
		var o mariaObject
		var mode, cs, coll, tz sql.NullString
		if err := rows.Scan(&o.kind, &o.side, &o.name, &o.subject, &o.ord, &mode, &cs, &coll, &tz, &o.def); err != nil {
			return nil, fmt.Errorf("swap database %q: read saved definitions: %w", s.live, err)
		}
		o.sqlMode, o.csClient, o.collConn, o.timeZone = mode.String, cs.String, coll.String, tz.String
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("swap database %q: read saved definitions: %w", s.live, err)
	}
	return out, nil
}

// pick returns the saved objects of one kind and side, in saved order.
func pick(objs []mariaObject, kind, side string) []mariaObject {
	var out []mariaObject
	for _, o := range objs {
		if o.kind == kind && o.side == side {
			out = append(out, o)
		}
	}
	return out
}
