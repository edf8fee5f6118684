package mariadb

// Sessions on MariaDB: listing and ending tenants' sessions, and the
// look-ups that say whose sessions belong to a database.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cellar/cellar/internal/provision"
)

// mariaKillWait bounds how long the session-ending methods wait for killed
// sessions to leave the process list. KILL only flags a thread; it exits at
// its next check (at once when idle), and until then it still holds its
// locks and counts against MAX_USER_CONNECTIONS.
const mariaKillWait = 5 * time.Second

// mariaQuerier is what *sql.DB and *sql.Conn have in common for reads.
type mariaQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// mariaSession is one row of information_schema.PROCESSLIST.
type mariaSession struct {
	id   uint64
	user string
	db   sql.NullString
}

// mariaSessions lists the sessions matching cond (with bind parameters
// args), except the connection running the query. PROCESSLIST compares
// USER and DB case-insensitively, so callers filter the rows exactly.
func mariaSessions(ctx context.Context, q mariaQuerier, cond string, args ...any) ([]mariaSession, error) {
	rows, err := q.QueryContext(ctx,
		"SELECT ID, USER, DB FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND ("+cond+") ORDER BY ID",
		args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mariaSession
	for rows.Next() {
		var s mariaSession
		if err := rows.Scan(&s.id, &s.user, &s.db); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// killAndWait kills the sessions ids over conn and waits up to mariaKillWait
// for them to leave the process list. It returns how many it killed; a
// session that had already ended (error 1094) is not counted.
func killAndWait(ctx context.Context, conn *sql.Conn, what string, ids []uint64) (int, error) {
	var killed []uint64
	for _, id := range ids {
		// KILL takes no placeholder; id is an integer read from the server.
		_, err := conn.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatUint(id, 10))
		if mariaErrNumber(err) == mariaErrNoSuchThread {
			continue
		}
		if err != nil {
			return len(killed), fmt.Errorf("kill session %d of %s: %w", id, what, err)
		}
		killed = append(killed, id)
	}
	if len(killed) == 0 {
		return 0, nil
	}
	args := make([]any, len(killed))
	for i, id := range killed {
		args[i] = id
	}
	query := "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (?" + strings.Repeat(", ?", len(killed)-1) + ")"
	deadline := time.Now().Add(mariaKillWait)
	for {
		var alive int
		if err := conn.QueryRowContext(ctx, query, args...).Scan(&alive); err != nil {
			return len(killed), fmt.Errorf("wait for killed sessions of %s: %w", what, err)
		}
		if alive == 0 {
			return len(killed), nil
		}
		if time.Now().After(deadline) {
			return len(killed), fmt.Errorf("end sessions of %s: %d session(s) still running %v after KILL", what, alive, mariaKillWait)
		}
		select {
		case <-ctx.Done():
			return len(killed), fmt.Errorf("wait for killed sessions of %s: %w", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// databaseExists reports whether a schema of exactly this name exists.
// SCHEMA_NAME compares case-insensitively; names are compared exactly here
// so "CUST_A" (a different directory on Linux) does not count.
func (m *Driver) databaseExists(ctx context.Context, name string) (bool, error) {
	rows, err := m.db.QueryContext(ctx,
		"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name)
	if err != nil {
		return false, fmt.Errorf("look up database %q: %w", name, err)
	}
	names, err := scanStrings(rows)
	if err != nil {
		return false, fmt.Errorf("look up database %q: %w", name, err)
	}
	return slices.Contains(names, name), nil
}

// requireDatabase returns an error wrapping ErrNoSuchDatabase unless the
// database exists.
func (m *Driver) requireDatabase(ctx context.Context, name string) error {
	ok, err := m.databaseExists(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("database %q: %w", name, provision.ErrNoSuchDatabase)
	}
	return nil
}

// grantHolder returns the user holding the database-level grant on exactly
// database (the escaped form EnsureDatabase grants): owner if it does, else
// the first other holder by name, else "". MariaDB has no database owners;
// this grant is what makes a user one.
func (m *Driver) grantHolder(ctx context.Context, database, owner string) (string, error) {
	grants, err := m.databaseGrants(ctx, database)
	if err != nil {
		return "", err
	}
	var holders []string
	for _, g := range grants {
		if g.db == mariaGrantPattern(database) {
			holders = append(holders, g.user)
		}
	}
	if len(holders) == 0 {
		return "", nil
	}
	if slices.Contains(holders, owner) {
		return owner, nil
	}
	return slices.Min(holders), nil
}

// sessionOwner returns whose sessions count as the database's besides those
// whose default database it is: the grant holder, unless that is an
// administrator (whose sessions include the control plane's own pools and
// must never be selected by user name), or nobody.
func (m *Driver) sessionOwner(ctx context.Context, database, owner string) (holder, sessionUser string, err error) {
	holder, err = m.grantHolder(ctx, database, owner)
	if err != nil || holder == "" {
		return holder, "", err
	}
	if _, err := m.manageableUserHosts(ctx, holder); errors.Is(err, provision.ErrReserved) {
		return holder, "", nil
	} else if err != nil {
		return "", "", err
	}
	return holder, holder, nil
}

// databaseSessions returns the ids of the sessions on database: those whose
// default database it is, and those of sessionUser (see sessionOwner) that
// have no default database or only information_schema (which every user
// may USE), since such a session can reach the database by qualified
// names. A session of sessionUser on another database, which it can only
// have entered with a grant there, is not on this one.
func databaseSessions(ctx context.Context, q mariaQuerier, database, sessionUser string) ([]uint64, error) {
	cond, args := "DB = ?", []any{database}
	if sessionUser != "" {
		cond, args = "DB = ? OR USER = ?", []any{database, sessionUser}
	}
	list, err := mariaSessions(ctx, q, cond, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions on database %q: %w", database, err)
	}
	var ids []uint64
	for _, s := range list {
		onDB := s.db.Valid && s.db.String == database
		mine := sessionUser != "" && s.user == sessionUser &&
			(!s.db.Valid || s.db.String == "information_schema")
		if onDB || mine {
			ids = append(ids, s.id)
		}
	}
	return ids, nil
}

// UserSessions returns the connection ids of the user's sessions (any
// host), sorted. MariaDB never reuses a connection id while the server runs
// (until its 64-bit counter wraps).
func (m *Driver) UserSessions(ctx context.Context, username string) ([]int64, error) {
	if err := provision.ValidNames("user", username); err != nil {
		return nil, err
	}
	list, err := mariaSessions(ctx, m.db, "USER = ?", username)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %q: %w", username, err)
	}
	ids := []int64{}
	for _, s := range list {
		if s.user == username {
			ids = append(ids, int64(s.id))
		}
	}
	return ids, nil
}

// EndSessions kills those of the sessions in ids that belong to username,
// waits until they are gone and returns how many it killed. Ids are read and
// killed over one admin connection, which is never among them.
func (m *Driver) EndSessions(ctx context.Context, username string, ids []int64) (int, error) {
	if err := provision.ValidNames("user", username); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// Never an administrator: its sessions include the control plane's.
	if _, err := m.manageableUserHosts(ctx, username); err != nil {
		return 0, err
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("end sessions of user %q: %w", username, err)
	}
	defer conn.Close()
	list, err := mariaSessions(ctx, conn, "USER = ?", username)
	if err != nil {
		return 0, fmt.Errorf("list sessions of user %q: %w", username, err)
	}
	var kill []uint64
	for _, s := range list {
		if s.user == username && slices.Contains(ids, int64(s.id)) {
			kill = append(kill, s.id)
		}
	}
	return killAndWait(ctx, conn, fmt.Sprintf("user %q", username), kill)
}

// EndDatabaseSessions kills the sessions on the database (see
// databaseSessions: its default-database sessions and the grant holder's
// sessions without another database), waits until they are gone and
// returns how many it killed. The owner passed in is used if it holds the
// database's grant, else the user that does.
func (m *Driver) EndDatabaseSessions(ctx context.Context, database, owner string) (int, error) {
	if err := provision.ValidNames("database", database, "owner", owner); err != nil {
		return 0, err
	}
	if mariaReservedDatabases[database] {
		return 0, fmt.Errorf("database %q: %w", database, provision.ErrReserved)
	}
	if err := m.requireDatabase(ctx, database); err != nil {
		return 0, err
	}
	_, sessionUser, err := m.sessionOwner(ctx, database, owner)
	if err != nil {
		return 0, err
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("end sessions on database %q: %w", database, err)
	}
	defer conn.Close()
	ids, err := databaseSessions(ctx, conn, database, sessionUser)
	if err != nil {
		return 0, err
	}
	return killAndWait(ctx, conn, fmt.Sprintf("database %q", database), ids)
}
