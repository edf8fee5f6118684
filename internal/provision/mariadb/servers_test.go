package mariadb

import (
	"os"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/provision/provisiontest"
)

// Set by TestMain when the server is up; "" means the tests skip.
var (
	mariaAdminDSN  string
	mariaAdminUser string
	mariaPort      int
	mariaLogPath   string // general query log
)

func TestMain(m *testing.M) {
	os.Exit(provisiontest.Run(m, func(s provisiontest.Servers) {
		mariaAdminDSN, mariaAdminUser, mariaPort, mariaLogPath = s.MariaAdminDSN, s.MariaAdminUser, s.MariaPort, s.MariaLogPath
	}, cellar.MariaDB))
}

// mariaDSN builds a go-sql-driver DSN for the test MariaDB over TCP.
func mariaDSN(user, password, db string) string {
	return provisiontest.MariaDSN(mariaPort, user, password, db)
}

// mariaNetFrom names a client network from a chosen loopback address (see
// provisiontest).
var mariaNetFrom = provisiontest.MariaNetFrom

// TestMethodsValidateBeforeSQL: see provisiontest.CheckValidatesBeforeSQL.
func TestMethodsValidateBeforeSQL(t *testing.T) {
	provisiontest.CheckValidatesBeforeSQL(t, &Driver{})
}

// Helpers shared with the other engine's tests (see provisiontest).
var (
	testCtx   = provisiontest.Ctx
	must      = provisiontest.Must
	pfx       = provisiontest.Prefixes
	hasRepair = provisiontest.HasRepair
)
