package harness

// vault.go: a private HashiCorp Vault server.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// kvMount is where the KV version 2 engine is mounted.
const kvMount = "secret"

// VaultOptions configures StartVault.
type VaultOptions struct {
	// Dir is the instance directory, created 0700 if missing. It holds the
	// generated configuration and, when Durable, the file storage in
	// data/. Required.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Durable selects a server with file storage in Dir/data that keeps
	// its secrets across restarts; otherwise a -dev server, in memory.
	Durable bool
	// Token is the root token. A -dev server is started with it (empty
	// generates one). A durable server that is already initialised needs
	// the root token its init returned.
	Token string
	// UnsealKey unseals an already initialised durable server.
	UnsealKey string
	// OnInit is called once, when a durable server is initialised, with
	// the root token and the single unseal key, before the server is
	// unsealed. It must store them durably: they are never shown again,
	// and without the key the data in Dir/data is lost. Required for a
	// durable server that is not initialised yet.
	OnInit func(rootToken, unsealKey string) error
	// Bin is the vault binary. Required.
	Bin string
	// LogPath receives the server's output. Default: Dir + ".log".
	LogPath string
	// Logger may be nil.
	Logger *slog.Logger
}

// Vault is a running Vault server started by StartVault. It is unsealed and
// has a KV version 2 engine mounted at secret/.
type Vault struct {
	Addr  string // "http://127.0.0.1:PORT"
	Token string // root token

	port      int
	unsealKey string       // durable server only, for Restart
	opts      VaultOptions // how it was started, for Restart
	life
}

// Stop shuts the server down with SIGINT and waits up to about ten seconds,
// or until ctx ends, before killing it. A -dev server loses its secrets.
func (v *Vault) Stop(ctx context.Context) error {
	if v == nil {
		return nil
	}
	return v.life.stop(ctx)
}

// StartVault starts the server, initialises and unseals it as needed,
// mounts KV v2 at secret/ if it is missing, and returns once secrets can be
// written.
func StartVault(ctx context.Context, o VaultOptions) (*Vault, error) {
	const name = "vault"
	began := time.Now()
	if o.Dir == "" {
		return nil, fmt.Errorf("%s: VaultOptions.Dir is required", name)
	}
	if o.Bin == "" {
		return nil, fmt.Errorf("%s: VaultOptions.Bin is required", name)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if o.LogPath == "" {
		o.LogPath = dir + ".log"
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !o.Durable && o.Token == "" {
		o.Token = randomPassword()
	}
	// Vault runs as the harness's own user, so 0700 is enough and keeps
	// the storage and config private.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}

	v := &Vault{}
	proc, err := withPortRetry(name, o.Port, func(port int) (*process, error) {
		v.port = port
		v.Addr = "http://127.0.0.1:" + strconv.Itoa(port)
		return launchVault(ctx, o, v, dir)
	})
	if err != nil {
		return nil, err
	}
	v.life.proc = proc
	v.opts = o
	logger.Info("vault ready", "port", v.port, "durable", o.Durable,
		"elapsed", time.Since(began).Round(time.Millisecond))
	return v, nil
}

// launchVault writes the configuration, starts the server on v.port and
// brings it to a usable state.
func launchVault(ctx context.Context, o VaultOptions, v *Vault, dir string) (*process, error) {
	listen := "127.0.0.1:" + strconv.Itoa(v.port)
	// Clustering is disabled in both modes: otherwise Vault also binds
	// port+1 for cluster traffic, a port nobody picked or checked.
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "# Written by Cellar's harness at every start.\n")
	fmt.Fprintf(&cfg, "api_addr = %q\n", v.Addr)
	fmt.Fprintf(&cfg, "disable_clustering = true\n")
	var (
		cfgPath        string
		args, extraEnv []string
	)
	if o.Durable {
		fmt.Fprintf(&cfg, "disable_mlock = true\nui = false\n")
		fmt.Fprintf(&cfg, "storage \"file\" {\n  path = %q\n}\n", filepath.Join(dir, "data"))
		fmt.Fprintf(&cfg, "listener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\n", listen)
		cfgPath = filepath.Join(dir, "vault.hcl")
		args = []string{"server", "-config=" + cfgPath}
	} else {
		// -dev supplies storage (in memory) and the listener; the file
		// only adds the settings above. The token goes through the
		// environment, not the command line, where ps would show it.
		cfgPath = filepath.Join(dir, "dev.hcl")
		args = []string{"server", "-dev", "-dev-listen-address=" + listen, "-dev-no-store-token", "-config=" + cfgPath}
		extraEnv = []string{"VAULT_DEV_ROOT_TOKEN_ID=" + o.Token}
	}
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return nil, fmt.Errorf("vault: write config: %w", err)
	}

	proc, err := startProcess(procSpec{
		name:    "vault",
		bin:     o.Bin,
		args:    args,
		dir:     dir,
		env:     childEnv(dir, extraEnv...),
		logPath: o.LogPath,
		stopSig: syscall.SIGINT,
	})
	if err != nil {
		return nil, err
	}
	if err := bringUpVault(ctx, o, v, proc); err != nil {
		proc.kill()
		return nil, err
	}
	return proc, nil
}

// bringUpVault waits for the HTTP API, initialises and unseals a durable
// server as needed, waits until it is active and makes sure KV v2 is
// mounted.
func bringUpVault(ctx context.Context, o VaultOptions, v *Vault, proc *process) error {
	client, err := newVaultClient(v.Addr)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}

	// seal-status answers as soon as the listener is up, initialised or
	// not.
	var ss *vault.SealStatusResponse
	err = proc.waitReady(ctx, func(ctx context.Context) (bool, error) {
		st, err := client.Sys().SealStatusWithContext(ctx)
		ss = st
		return err == nil, err
	})
	if err != nil {
		return err
	}

	v.Token = o.Token
	if o.Durable {
		unsealKey := o.UnsealKey
		switch {
		case !ss.Initialized:
			if o.OnInit == nil {
				return errors.New("vault: the server is not initialised and VaultOptions.OnInit, which must store its keys, is nil")
			}
			init, err := client.Sys().InitWithContext(ctx, &vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
			if err != nil {
				return proc.failure("init: %v", err)
			}
			if len(init.Keys) != 1 || init.RootToken == "" {
				return errors.New("vault: init returned no key or no root token")
			}
			if err := o.OnInit(init.RootToken, init.Keys[0]); err != nil {
				return fmt.Errorf("vault: initialised, but storing its keys failed, so %s is now unusable: %w", o.Dir, err)
			}
			v.Token, unsealKey = init.RootToken, init.Keys[0]
		case unsealKey == "" || v.Token == "":
			return fmt.Errorf("vault: %s holds an initialised server but its unseal key or root token is unknown; "+
				"remove that directory to start over without its secrets", o.Dir)
		}
		v.unsealKey = unsealKey
		if ss.Sealed || !ss.Initialized {
			res, err := client.Sys().UnsealWithContext(ctx, unsealKey)
			if err != nil {
				return proc.failure("unseal: %v", err)
			}
			if res.Sealed {
				return proc.failure("still sealed after the unseal key was accepted")
			}
		}
	}
	client.SetToken(v.Token)

	// After unsealing, the server needs a moment to become active.
	err = proc.waitReady(ctx, func(ctx context.Context) (bool, error) {
		h, err := client.Sys().HealthWithContext(ctx)
		if err != nil {
			return false, err
		}
		if !h.Initialized || h.Sealed || h.Standby {
			return false, fmt.Errorf("health: initialized=%t sealed=%t standby=%t", h.Initialized, h.Sealed, h.Standby)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if _, err := client.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		return proc.failure("the root token is not accepted: %v", err)
	}
	return ensureKV(ctx, client, proc)
}

// ensureKV mounts KV v2 at secret/ unless it is there (-dev mounts it
// itself), then waits until the engine answers: a new KV v2 mount sets
// itself up in the background and briefly rejects requests.
func ensureKV(ctx context.Context, client *vault.Client, proc *process) error {
	mounts, err := client.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return proc.failure("list mounts: %v", err)
	}
	if m, ok := mounts[kvMount+"/"]; ok {
		if m.Type != "kv" || m.Options["version"] != "2" {
			return fmt.Errorf("vault: %s/ is mounted as %s version %q, not kv version 2", kvMount, m.Type, m.Options["version"])
		}
	} else {
		err := client.Sys().MountWithContext(ctx, kvMount, &vault.MountInput{
			Type:        "kv",
			Description: "Cellar secrets (KV version 2)",
			Options:     map[string]string{"version": "2"},
		})
		if err != nil {
			return proc.failure("mount kv v2 at %s/: %v", kvMount, err)
		}
	}
	return proc.waitReady(ctx, func(ctx context.Context) (bool, error) {
		_, err := client.Logical().ReadWithContext(ctx, kvMount+"/config")
		return err == nil, err
	})
}

// newVaultClient returns a client for addr that ignores VAULT_TOKEN and
// VAULT_NAMESPACE from the environment and does not retry: the callers poll
// themselves.
func newVaultClient(addr string) (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.ClearToken()
	c.ClearNamespace()
	return c, nil
}
