package harness

// state.go: what must survive a restart of the harness, kept in
// Dir/state.json.

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

const stateFileName = "state.json"

// state is the content of state.json. It holds secrets (passwords, Vault's
// root token and unseal key), hence mode 0600.
type state struct {
	MetadataPG pgState    `json:"metadata_pg"`
	ManagedPG  pgState    `json:"managed_pg"`
	MariaDB    mariaState `json:"mariadb"`
	Vault      vaultState `json:"vault"`
}

type pgState struct {
	Port     int    `json:"port,omitempty"`
	Password string `json:"password"`
}

type mariaState struct {
	Port     int    `json:"port,omitempty"`
	User     string `json:"user"`
	Password string `json:"password"`
}

type vaultState struct {
	Port int `json:"port,omitempty"`
	// DevToken is the root token given to a -dev server (Durable=false).
	DevToken string `json:"dev_root_token,omitempty"`
	// RootToken and UnsealKey come from sys/init of the durable server.
	// Losing them loses every secret stored in Dir/vault.
	RootToken string `json:"root_token,omitempty"`
	UnsealKey string `json:"unseal_key,omitempty"`
}

// stateFile serialises access to state.json: Vault's init callback writes it
// while the other servers are still starting.
type stateFile struct {
	path string
	mu   sync.Mutex
	st   state
}

func openState(dir string) (*stateFile, error) {
	sf := &stateFile{path: filepath.Join(dir, stateFileName)}
	b, err := os.ReadFile(sf.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sf, nil
	case err != nil:
		return nil, fmt.Errorf("harness: read state: %w", err)
	}
	if err := json.Unmarshal(b, &sf.st); err != nil {
		return nil, fmt.Errorf("harness: %s is corrupt: %w", sf.path, err)
	}
	// Someone may have copied the file around with a looser mode; it holds
	// secrets.
	if fi, err := os.Stat(sf.path); err == nil && fi.Mode().Perm() != 0o600 {
		_ = os.Chmod(sf.path, 0o600)
	}
	return sf, nil
}

func (sf *stateFile) get() state {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	return sf.st
}

func (sf *stateFile) set(st state) error {
	return sf.update(func(s *state) { *s = st })
}

// update applies f and writes the file atomically (temporary file, fsync,
// rename), so a crash never leaves a half-written file that would lose
// Vault's unseal key.
func (sf *stateFile) update(f func(*state)) error {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	next := sf.st
	f(&next)
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return fmt.Errorf("harness: encode state: %w", err)
	}
	dir := filepath.Dir(sf.path)
	tmp, err := os.CreateTemp(dir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("harness: write state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("harness: write state: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("harness: write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("harness: write state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("harness: write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), sf.path); err != nil {
		return fmt.Errorf("harness: write state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	sf.st = next
	return nil
}

// randomPassword returns 26 random characters from [A-Z2-7] (130 bits).
// Alphanumeric, so it needs no quoting in a DSN, a URL or SQL.
func randomPassword() string {
	return rand.Text()
}
