package postgres

import (
	"os"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision/provisiontest"
)

// Set by TestMain when the server is up; "" means the tests skip.
var (
	pgAdminDSN string
	pgPort     int
	pgLogPath  string // server log, with log_statement = all
)

func TestMain(m *testing.M) {
	os.Exit(provisiontest.Run(m, func(s provisiontest.Servers) {
		pgAdminDSN, pgPort, pgLogPath = s.PGAdminDSN, s.PGPort, s.PGLogPath
	}, cellar.PostgreSQL))
}

// pgDSN builds a pgx DSN for the test PostgreSQL.
func pgDSN(user, password, db string) string { return provisiontest.PGDSN(pgPort, user, password, db) }

// dialFrom dials from a chosen loopback address (see provisiontest).
var dialFrom = provisiontest.DialFrom

// TestMethodsValidateBeforeSQL: see provisiontest.CheckValidatesBeforeSQL.
func TestMethodsValidateBeforeSQL(t *testing.T) {
	provisiontest.CheckValidatesBeforeSQL(t, &Driver{dropSem: make(chan struct{}, 1)})
}

// Helpers shared with the other engine's tests (see provisiontest).
var (
	testCtx   = provisiontest.Ctx
	must      = provisiontest.Must
	pfx       = provisiontest.Prefixes
	hasRepair = provisiontest.HasRepair
)
