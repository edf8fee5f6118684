package store_test

import (
	"os"
	"testing"

	"github.com/cellar/cellar/internal/store/storetest"
)

// One metadata PostgreSQL for the package, started by the first test that
// needs it; each test runs in a transaction of its own (storetest.TestTx)
// or, for lock tests, in a database of its own.
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
