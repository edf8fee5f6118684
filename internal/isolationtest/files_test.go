package isolationtest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// sharedDir is a directory every OS user may write to, so that an attempt
// to make the server write a file there can only fail for want of
// privilege inside the database, never for a file permission.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cellar-isolation-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serverReadable writes a file every OS user may read (standing in for a
// server file a tenant must not see) and returns its path.
func serverReadable(t *testing.T, content string) string {
	t.Helper()
	dir := sharedDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "server-secret.txt")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// expectNoFile fails the test if path exists.
func expectNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("HOLE: %s exists (stat: %v)", path, err)
	}
}
