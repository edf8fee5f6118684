package mariadb

import (
	"context"
	"fmt"

	"github.com/cellar/cellar/internal/provision"
)

// checkSymlinksOff refuses a MariaDB server with symbolic links enabled
// (have_symlink = YES, the compiled-in default): there CREATE TABLE …
// DATA DIRECTORY or INDEX DIRECTORY, which MariaDB allows anyone with CREATE
// on a database without the FILE privilege, places the table's files
// anywhere the server's OS user may write — outside the data directory,
// outside any quota, beside other tenants' files. With symbolic links off
// ("DISABLED", --skip-symbolic-links) the server ignores both options. It
// is read on every EnsureDatabase (one variable), so a server restarted
// without the setting is caught at its next create.
func (m *Driver) checkSymlinksOff(ctx context.Context) error {
	var have string
	if err := m.db.QueryRowContext(ctx, "SELECT @@GLOBAL.have_symlink").Scan(&have); err != nil {
		return fmt.Errorf("read have_symlink: %w", err)
	}
	if have == "YES" {
		return fmt.Errorf("symbolic links are enabled (have_symlink = YES), so tenants could write table files "+
			"anywhere the server may (CREATE TABLE … DATA DIRECTORY); start the server with --skip-symbolic-links "+
			"(symbolic-links = 0 in its configuration): %w", provision.ErrUnsafeServer)
	}
	return nil
}
