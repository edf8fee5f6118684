package mariadb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/harness"

	"github.com/cellar/cellar/internal/provision"
)

// TestMariaDBEnsureDatabaseRefusesSymlinkServer: on a server started with
// symbolic links on (MariaDB's compiled-in default), a tenant could put its
// table files anywhere with CREATE TABLE … DATA DIRECTORY, so EnsureDatabase
// refuses to create a database there and names the setting to change. The
// shared test server runs with --skip-symbolic-links and is accepted.
func TestMariaDBEnsureDatabaseRefusesSymlinkServer(t *testing.T) {
	if mariaAdminDSN == "" {
		t.Skip("test MariaDB not running")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "cellar-symlinks-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := harness.StartMariaDB(ctx, harness.MariaDBOptions{
		Dir: filepath.Join(dir, "mariadb"), ExtraArgs: []string{"--symbolic-links"},
	})
	if err != nil {
		t.Fatalf("start a MariaDB with symbolic links: %v", err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	d, err := Open(ctx, srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const name = "cust_symlink_my_x"
	must(t, "EnsureUser", d.EnsureUser(ctx, name, "symlink-test-password"))
	err = d.EnsureDatabase(ctx, name, name)
	if !errors.Is(err, provision.ErrUnsafeServer) {
		t.Fatalf("EnsureDatabase on a server with symbolic links = %v, want provision.ErrUnsafeServer", err)
	}
	t.Logf("refused: %v", err)
	if ok, err := d.DatabaseExists(ctx, name); err != nil || ok {
		t.Fatalf("database exists = %t (%v), want not created", ok, err)
	}

	// The shared server, started by the harness, is accepted.
	shared := newMaria(t)
	var have string
	must(t, "have_symlink", shared.db.QueryRowContext(ctx, "SELECT @@GLOBAL.have_symlink").Scan(&have))
	if have != "DISABLED" {
		t.Fatalf("the harness's MariaDB has have_symlink = %s, want DISABLED", have)
	}
	must(t, "checkSymlinksOff", shared.checkSymlinksOff(ctx))
}
