package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// FindVault locates the vault binary: the configured path, then vault on
// PATH, then the copy `make deps` links into .cache/bin of the repository
// (found from the working directory upwards).
func FindVault(configured string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("CELLAR_VAULT_BIN: %w", err)
		}
		return configured, nil
	}
	if p, err := exec.LookPath("vault"); err == nil {
		return p, nil
	}
	for dir, _ := os.Getwd(); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, ".cache", "bin", "vault")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no vault binary: run `make deps`, put vault on PATH, or set CELLAR_VAULT_BIN")
}
