// Package depfault tells an outage of a dependency (refused or broken
// connections, timeouts, a server shutting down or starting up) from an
// error in what was asked of it, for each client library Cellar uses, and
// builds the error an outage answers with: 503, naming the dependency,
// with Retry-After, the cause kept for logs only.
//
// Each adapter (store for the metadata database, the fleet for managed
// servers, secrets for Vault) calls it in one place, so that every error of
// that dependency is classified the same way.
package depfault

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellar/cellar/internal/cellar"
)

// RetryAfter is what an outage tells clients to wait: about the time the
// supervisor takes to bring a local server back.
const RetryAfter = 5 * time.Second

// Unavailable returns the error for an outage of what (e.g. "the secret
// store (Vault)"): code unavailable, the message "<what> is unavailable",
// Retry-After, and cause for the logs.
func Unavailable(what string, cause error) *cellar.Error {
	return &cellar.Error{
		Code:       cellar.CodeUnavailable,
		Message:    what + " is unavailable",
		RetryAfter: RetryAfter,
		Err:        cause,
	}
}

// Is reports whether err already carries an outage (an unavailable
// *cellar.Error) and returns it.
func Is(err error) (*cellar.Error, bool) {
	var e *cellar.Error
	if errors.As(err, &e) && e.Code == cellar.CodeUnavailable && e.RetryAfter > 0 {
		return e, true
	}
	return nil, false
}

// Network reports a transport failure common to every client: a refused,
// reset or broken connection, an unexpected end of stream, or a timeout.
// A context cancelled by the caller is not one.
func Network(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true // dial and I/O errors, including timeouts
	}
	return false
}

// Postgres reports an outage seen through pgx: a failed connection attempt
// (other than a refused login), a connection that broke, or the server
// shutting down, starting up or out of connections.
func Postgres(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	hasPg := errors.As(err, &pe)
	if hasPg {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", // admin_shutdown
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03", // cannot_connect_now (starting up, recovering)
			pe.Code == "53300": // too_many_connections
			return true
		}
		return false // the server answered: a real error
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	return pgconn.Timeout(err) || errors.Is(err, pgconn.ErrConnClosed) || Network(err)
}

// MySQL reports an outage seen through go-sql-driver/mysql: a dead or
// unusable connection, or the server out of connections or shutting down.
func MySQL(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, // too many connections
			1053, // server shutdown in progress
			1927: // connection was killed
			return true
		}
		return false
	}
	return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) || Network(err)
}
