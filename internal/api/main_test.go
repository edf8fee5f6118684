package api_test

import (
	"os"
	"testing"

	"github.com/cellar/cellar/internal/testenv"
)

// env is the shared Cellar with real servers for this package's tests.
var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }
