package service

import (
	"os"
	"testing"

	"github.com/cellar/cellar/internal/store/storetest"
)

// One metadata PostgreSQL for the package's service tests, started by the
// first test that needs one; pure tests (admission, the registry's
// contents) run under -short without it.
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
