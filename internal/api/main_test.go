package api_test

import (
	"os"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/cellar/cellar/internal/testenv"
)

// env is the shared Cellar with real servers for this package's tests.
var env *testenv.Env

func TestMain(m *testing.M) {
	// Tests kill sessions on purpose; the driver would log each one.
	_ = mysql.SetLogger(&mysql.NopLogger{})
	// Several tests fire twenty concurrent changes of one customer to test
	// idempotency and quota races; the per-customer bound on concurrent
	// changes (tested in internal/e2e) is raised above that here.
	os.Exit(testenv.RunWith(m, &env, testenv.Options{Config: map[string]string{
		"CELLAR_MAX_ACCESS_RULES":       "3",
		"CELLAR_MAX_CONCURRENT_CHANGES": "32",
	}}))
}
