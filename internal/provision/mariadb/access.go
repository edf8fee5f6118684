package mariadb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision"
)

// mariaLockWait is how long withNamedLock waits for a named lock when the
// context has no deadline.
const mariaLockWait = 60 * time.Second

// mariaAccessLock is the named lock that serializes ApplyAccess across
// Cellar processes sharing a server.
const mariaAccessLock = "cellar:provision:access"

// mariaLoopbackHosts are the accounts that keep loopback working for a user
// whose hosts are restricted: TCP over IPv4 and IPv6 loopback, and the Unix
// socket ('localhost'; the servers run with skip-name-resolve, so TCP from
// 127.0.0.1 matches '127.0.0.1', not 'localhost').
var mariaLoopbackHosts = []string{"127.0.0.1", "::1", "localhost"}

// mariaHost returns the MariaDB host pattern for a source checked with
// CheckSource: an IPv4 network in the address/netmask form MariaDB
// understands (10.1.0.0/255.255.0.0), an IPv4 /32 or IPv6 /128 as the bare
// address (IPv6 in canonical compressed form, since MariaDB compares IPv6
// hosts as strings).
func mariaHost(p netip.Prefix) string {
	a := p.Addr()
	if a.Is6() || p.Bits() == 32 {
		return a.String()
	}
	mask := ^uint32(0) << (32 - p.Bits()) // p.Bits() == 0 gives 0
	m := netip.AddrFrom4([4]byte{byte(mask >> 24), byte(mask >> 16), byte(mask >> 8), byte(mask)})
	return a.String() + "/" + m.String()
}

// mariaAccessHosts returns the host patterns a database's owner must have
// accounts for, sorted: '%' alone for a database without sources on an
// open policy; else the sources plus loopback.
func mariaAccessHosts(closed bool, sources []netip.Prefix) []string {
	if len(sources) == 0 && !closed {
		return []string{"%"}
	}
	hosts := slices.Clone(mariaLoopbackHosts)
	for _, s := range sources {
		hosts = append(hosts, mariaHost(s))
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// mariaOwnerPlan is the desired set of accounts of one user.
type mariaOwnerPlan struct {
	owner   string
	dbs     []string       // the user's databases in the policy
	hosts   []string       // host patterns, sorted
	anyHost bool           // hosts is just '%'
	sources []netip.Prefix // the allowed sources besides loopback
}

// allows reports whether a session whose PROCESSLIST HOST is host
// ("addr:port", or "localhost" over the socket) would be let in by the
// plan's accounts. A host that cannot be parsed is refused (fail closed).
func (pl *mariaOwnerPlan) allows(host string) bool {
	if pl.anyHost {
		return true
	}
	h := host
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if _, err := strconv.Atoi(h[i+1:]); err == nil {
			h = h[:i]
		}
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	if addr == provision.Loopback4.Addr() || addr == provision.Loopback6.Addr() {
		return true
	}
	return provision.AllowedBy(addr, pl.sources)
}

// mariaAccountState is one account of a user, as ApplyAccess needs it.
type mariaAccountState struct {
	host, plugin, hash string
	maxConns           int64
	locked             bool
}

// ApplyAccess converges the accounts of the policy's database owners (of
// those of only's databases, if only is not nil) and returns a description
// of each repair it made. An owner's accounts must be exactly one per
// source (mariaHost) plus the loopback accounts 127.0.0.1, ::1 and
// localhost, or just '%' for a database without sources on an open policy.
//
// New accounts get the user's password hash (copied from an existing
// account; no plaintext is needed), its MAX_USER_CONNECTIONS, its account
// lock and its database grant (ALL on the escaped name, as EnsureDatabase
// grants it, for each of the owner's policy databases on which an account
// of the owner holds it). Accounts no longer wanted are dropped after the
// new ones exist, so the user never has zero accounts; the sessions the
// remaining accounts would not let in are ended before and again after the
// drop (MariaDB lets a dropped account's sessions live on).
//
// A user without any account (not created yet, or already dropped) is
// skipped: it has no access to restrict. Two policy databases with the same
// owner must have the same sources, since MariaDB accounts are per user.
// Owners are converged one by one, each under its named lock (see
// withUserLock); an error for one owner does not stop the others, and all
// errors are returned joined.
func (m *Driver) ApplyAccess(ctx context.Context, pol provision.AccessPolicy, only []string) ([]string, error) {
	entries, err := provision.CheckPolicy(cellar.MariaDB, pol, mariaReservedDatabases)
	if err != nil {
		return nil, err
	}
	plans := map[string]*mariaOwnerPlan{}
	dbOwner := map[string]string{}
	for _, e := range entries {
		hosts := mariaAccessHosts(pol.Closed, e.Sources)
		pl := plans[e.Owner]
		if pl == nil {
			pl = &mariaOwnerPlan{owner: e.Owner, hosts: hosts, anyHost: slices.Equal(hosts, []string{"%"}), sources: e.Sources}
			plans[e.Owner] = pl
		} else if !slices.Equal(pl.hosts, hosts) {
			return nil, fmt.Errorf("access policy: databases %q and %q have the same owner %q but different sources; "+
				"MariaDB accounts are per user, so they cannot differ", pl.dbs[0], e.Name, e.Owner)
		}
		pl.dbs = append(pl.dbs, e.Name)
		dbOwner[e.Name] = e.Owner
	}
	var owners []string
	if only == nil {
		for o := range plans {
			owners = append(owners, o)
		}
	} else {
		for _, name := range only {
			if err := provision.ValidNames("database", name); err != nil {
				return nil, fmt.Errorf("apply access: only: %w", err)
			}
			if o, ok := dbOwner[name]; ok && !slices.Contains(owners, o) {
				owners = append(owners, o)
			}
		}
	}
	slices.Sort(owners)

	select {
	case m.accessSem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("apply access: waiting for another ApplyAccess: %w", ctx.Err())
	}
	defer func() { <-m.accessSem }()

	var repairs []string
	var errs []error
	err = m.withNamedLock(ctx, mariaAccessLock, func() error {
		for _, o := range owners {
			pl := plans[o]
			err := m.withUserLock(ctx, o, func() error {
				done, err := m.applyOwnerAccess(ctx, pl)
				repairs = append(repairs, done...)
				return err
			})
			if err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return repairs, errors.Join(errs...)
}

// applyOwnerAccess converges one user's accounts to pl (see ApplyAccess).
// The caller holds the user's named lock.
func (m *Driver) applyOwnerAccess(ctx context.Context, pl *mariaOwnerPlan) ([]string, error) {
	owner := pl.owner
	if _, err := m.manageableUserHosts(ctx, owner); err != nil {
		return nil, fmt.Errorf("apply access: %w", err)
	}
	accts, err := m.userAccounts(ctx, owner)
	if err != nil {
		return nil, err
	}
	if len(accts) == 0 {
		return nil, nil
	}
	// Every account must carry the same password, or there is no telling
	// which one a new account should get.
	tmpl := accts[0]
	locked := false
	for _, a := range accts {
		if a.hash != tmpl.hash || a.plugin != tmpl.plugin {
			return nil, fmt.Errorf("apply access: the accounts of user %q differ in password or authentication plugin; "+
				"run EnsureUser to give them one password", owner)
		}
		locked = locked || a.locked
	}
	if tmpl.plugin != "mysql_native_password" || !nativeHashRE.MatchString(tmpl.hash) {
		return nil, fmt.Errorf("apply access: user %q authenticates with plugin %q, not a mysql_native_password hash; "+
			"its password cannot be copied to a new account", owner, tmpl.plugin)
	}
	existing := make([]string, len(accts))
	for i, a := range accts {
		existing[i] = a.host
	}
	// The connection limit of an account that stays, if any (SetConnectionLimit
	// gives every account the same one).
	limit := tmpl.maxConns
	for _, a := range accts {
		if slices.Contains(pl.hosts, a.host) {
			limit = a.maxConns
			break
		}
	}

	var repairs []string
	for _, h := range pl.hosts {
		if slices.Contains(existing, h) {
			continue
		}
		stmt := "CREATE USER IF NOT EXISTS " + mariaAccount(owner, h) + " IDENTIFIED BY PASSWORD '" + tmpl.hash +
			"' WITH MAX_USER_CONNECTIONS " + strconv.FormatInt(limit, 10)
		if locked {
			// An interrupted DropUser locked the user: so is the new account.
			stmt += " ACCOUNT LOCK"
		}
		// The quiet pool keeps the hash out of the general query log.
		if _, err := m.quiet.ExecContext(ctx, stmt); err != nil {
			code := strconv.Itoa(int(mariaErrNumber(err)))
			return repairs, fmt.Errorf("apply access: create user %q@%q: %w", owner, h, provision.WithholdSecrets(err, code, tmpl.hash))
		}
		repairs = append(repairs, fmt.Sprintf("created account %q@%q", owner, h))
	}

	// Database grants: every wanted account holds the grant on each of the
	// owner's databases that some account of the owner holds.
	grants, err := m.userDatabaseGrants(ctx, owner)
	if err != nil {
		return repairs, err
	}
	for _, db := range pl.dbs {
		pattern := mariaGrantPattern(db)
		held := false
		for _, h := range existing {
			held = held || grants[h][pattern]
		}
		if !held {
			continue
		}
		for _, h := range pl.hosts {
			if grants[h][pattern] {
				continue
			}
			if _, err := m.db.ExecContext(ctx,
				"GRANT ALL PRIVILEGES ON "+mariaGrantDB(db)+".* TO "+mariaAccount(owner, h)); err != nil {
				return repairs, fmt.Errorf("apply access: grant on database %q to %q@%q: %w", db, owner, h, err)
			}
			repairs = append(repairs, fmt.Sprintf("granted ALL on database %q to %q@%q", db, owner, h))
		}
	}

	var drop []string
	for _, h := range existing {
		if !slices.Contains(pl.hosts, h) {
			drop = append(drop, h)
		}
	}
	if len(drop) > 0 {
		ended, err := m.endRefusedSessions(ctx, pl)
		repairs = append(repairs, ended...)
		if err != nil {
			return repairs, err
		}
		for _, h := range drop {
			if _, err := m.db.ExecContext(ctx, "DROP USER IF EXISTS "+mariaAccount(owner, h)); err != nil {
				return repairs, fmt.Errorf("apply access: drop user %q@%q: %w", owner, h, err)
			}
			repairs = append(repairs, fmt.Sprintf("dropped account %q@%q", owner, h))
		}
	}
	// Always, not only after a drop: a session may have connected between
	// the first pass and the drop, or a previous call may have crashed
	// after its drop.
	ended, err := m.endRefusedSessions(ctx, pl)
	repairs = append(repairs, ended...)
	return repairs, err
}

// userAccounts reads the user's accounts (mysql.user, and the account lock
// from mysql.global_priv, since the mysql.user view does not show it).
func (m *Driver) userAccounts(ctx context.Context, username string) ([]mariaAccountState, error) {
	rows, err := m.db.QueryContext(ctx, `
		SELECT u.Host, u.plugin, u.authentication_string, u.max_user_connections,
			COALESCE(JSON_VALUE(g.Priv, '$.account_locked'), '')
		FROM mysql.user u LEFT JOIN mysql.global_priv g ON g.User = u.User AND g.Host = u.Host
		WHERE u.User = ? ORDER BY u.Host`, username)
	if err != nil {
		return nil, fmt.Errorf("read accounts of user %q: %w", username, err)
	}
	defer rows.Close()
	var out []mariaAccountState
	for rows.Next() {
		var a mariaAccountState
		var locked string
		if err := rows.Scan(&a.host, &a.plugin, &a.hash, &a.maxConns, &locked); err != nil {
			return nil, fmt.Errorf("read accounts of user %q: %w", username, err)
		}
		a.locked = locked == "true" || locked == "1"
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read accounts of user %q: %w", username, err)
	}
	return out, nil
}

// userDatabaseGrants returns the user's database-level grants: for each
// host, the set of database patterns (as stored in mysql.db).
func (m *Driver) userDatabaseGrants(ctx context.Context, username string) (map[string]map[string]bool, error) {
	rows, err := m.db.QueryContext(ctx, "SELECT Host, Db FROM mysql.db WHERE User = ?", username)
	if err != nil {
		return nil, fmt.Errorf("read grants of user %q: %w", username, err)
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var host, db string
		if err := rows.Scan(&host, &db); err != nil {
			return nil, fmt.Errorf("read grants of user %q: %w", username, err)
		}
		if out[host] == nil {
			out[host] = map[string]bool{}
		}
		out[host][db] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read grants of user %q: %w", username, err)
	}
	return out, nil
}

// endRefusedSessions kills the user's sessions that pl's accounts would not
// let in, waits until they are gone, and describes each.
func (m *Driver) endRefusedSessions(ctx context.Context, pl *mariaOwnerPlan) ([]string, error) {
	if pl.anyHost {
		return nil, nil
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply access: end sessions of user %q: %w", pl.owner, err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx,
		"SELECT ID, USER, HOST FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER = ? ORDER BY ID", pl.owner)
	if err != nil {
		return nil, fmt.Errorf("apply access: list sessions of user %q: %w", pl.owner, err)
	}
	type session struct {
		id         uint64
		user, host string
	}
	var refused []session
	for rows.Next() {
		var s session
		if err := rows.Scan(&s.id, &s.user, &s.host); err != nil {
			rows.Close()
			return nil, fmt.Errorf("apply access: list sessions of user %q: %w", pl.owner, err)
		}
		// PROCESSLIST compares USER case-insensitively.
		if s.user == pl.owner && !pl.allows(s.host) {
			refused = append(refused, s)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("apply access: list sessions of user %q: %w", pl.owner, err)
	}
	rows.Close()
	var out []string
	for _, s := range refused {
		n, err := killAndWait(ctx, conn, fmt.Sprintf("user %q", pl.owner), []uint64{s.id})
		if n > 0 {
			out = append(out, fmt.Sprintf("ended session %d of %q from %s (source not allowed)", s.id, s.user, s.host))
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// withUserLock runs fn holding the user's named lock, which serializes the
// methods that read and change a user's set of accounts (EnsureUser,
// EnsureDatabase, SetConnectionLimit, DropUser, ApplyAccess) across Cellar
// processes. The name is hashed: lock names are limited to 64 characters.
func (m *Driver) withUserLock(ctx context.Context, username string, fn func() error) error {
	sum := sha256.Sum256([]byte(username))
	return m.withNamedLock(ctx, "cellar:provision:user:"+hex.EncodeToString(sum[:16]), fn)
}

// withNamedLock runs fn holding the MariaDB named lock name (GET_LOCK) on a
// connection of the locks pool. The lock is released when fn returns; if
// the release fails, the connection is discarded, which releases it too.
// Waiting ends with the context's deadline (or after mariaLockWait).
func (m *Driver) withNamedLock(ctx context.Context, name string, fn func() error) error {
	wait := mariaLockWait
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	secs := max(int64((wait+time.Second-1)/time.Second), 1)
	conn, err := m.locks.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mariadb: lock %s: %w", name, err)
	}
	discard := func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
	}
	// Named locks are server-wide and GET_LOCK needs no privilege, so a
	// tenant's session could take one of these names and stall Cellar's
	// work on every database of the server. Cellar's own lock sessions all
	// log in as the admin; between short waits, a holder that is not the
	// admin is ended.
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, mariaLockPoll).Scan(&got); err != nil {
			discard()
			return fmt.Errorf("mariadb: lock %s: %w", name, err)
		}
		if got.Valid && got.Int64 == 1 {
			break
		}
		if !time.Now().Before(deadline) {
			discard()
			return fmt.Errorf("mariadb: lock %s: not granted within %d s", name, secs)
		}
		if err := m.endForeignLockHolder(ctx, name); err != nil {
			discard()
			return fmt.Errorf("mariadb: lock %s: %w", name, err)
		}
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var released sql.NullInt64
		if err := conn.QueryRowContext(rctx, "SELECT RELEASE_LOCK(?)", name).Scan(&released); err != nil || released.Int64 != 1 {
			discard()
			return
		}
		conn.Close()
	}()
	return fn()
}

// mariaLockPoll is how many seconds one GET_LOCK attempt of withNamedLock
// waits before it looks at who holds the lock.
const mariaLockPoll = 1

// endForeignLockHolder ends the session holding the named lock if that
// session is not the admin's (see withNamedLock).
func (m *Driver) endForeignLockHolder(ctx context.Context, name string) error {
	var id sql.NullInt64
	err := m.db.QueryRowContext(ctx, `
		SELECT p.ID FROM information_schema.PROCESSLIST p
		WHERE p.ID = IS_USED_LOCK(?) AND p.USER <> SUBSTRING_INDEX(CURRENT_USER(), '@', 1)`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !id.Valid {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up the holder: %w", err)
	}
	// KILL takes no placeholder; id is an integer read from the server.
	if _, err := m.db.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatInt(id.Int64, 10)); err != nil && mariaErrNumber(err) != mariaErrNoSuchThread {
		return fmt.Errorf("end the foreign holder (connection %d): %w", id.Int64, err)
	}
	return nil
}
