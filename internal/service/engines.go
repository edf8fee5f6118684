package service

import (
	"context"
	"fmt"
	"sort"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// EngineInfo describes one engine as offered by this Cellar.
type EngineInfo struct {
	Engine       cellar.Engine
	Version      string   // of the first reachable server; empty when none answers
	Versions     []string // distinct versions across the engine's servers
	Servers      int
	Available    bool // at least one enabled server answers
	Capabilities []string
}

// capabilities says what Cellar can do with databases of each engine.
var capabilities = map[cellar.Engine][]string{
	cellar.PostgreSQL: {"create", "delete", "list", "generated_credentials", "vault_secrets", "scram_sha_256"},
	cellar.MariaDB:    {"create", "delete", "list", "generated_credentials", "vault_secrets"},
}

// ListEngines reports each engine with the versions its servers really run.
func (s *Service) ListEngines(ctx context.Context, c Caller) ([]EngineInfo, error) {
	servers, err := s.store.ListServers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	out := make([]EngineInfo, 0, len(cellar.Engines))
	for _, e := range cellar.Engines {
		info := EngineInfo{Engine: e, Capabilities: capabilities[e], Versions: []string{}}
		seen := map[string]bool{}
		for _, srv := range servers {
			if srv.Engine != string(e) || !srv.Enabled {
				continue
			}
			info.Servers++
			v, err := s.serverVersion(ctx, srv)
			if err != nil {
				s.log.WarnContext(ctx, "server version", "server", srv.Name, "err", err)
				continue
			}
			info.Available = true
			if info.Version == "" {
				info.Version = v
			}
			if !seen[v] {
				seen[v] = true
				info.Versions = append(info.Versions, v)
			}
		}
		sort.Strings(info.Versions)
		out = append(out, info)
	}
	return out, nil
}

func (s *Service) serverVersion(ctx context.Context, srv store.Server) (string, error) {
	drv, err := s.fleet.driver(ctx, srv)
	if err != nil {
		return "", err
	}
	return drv.ServerVersion(ctx)
}

// Check is the result of one readiness probe.
type Check struct {
	Name string
	// State is what the probe reports when Err is set: "unavailable" if
	// empty, else e.g. "restarting" or "failed" for a supervised process.
	State string
	Err   error
}

// Readiness probes the metadata database, Vault and every enabled server.
func (s *Service) Readiness(ctx context.Context) []Check {
	checks := []Check{{Name: "metadata", Err: s.store.Pool.Ping(ctx)}, {Name: "vault", Err: s.vault.Ping(ctx)}}
	checks = append(checks, s.processChecks()...)
	servers, err := s.store.ListServers(ctx)
	if err != nil {
		return checks
	}
	for _, srv := range servers {
		if !srv.Enabled {
			continue
		}
		drv, err := s.fleet.driver(ctx, srv)
		if err == nil {
			err = drv.Ping(ctx)
		}
		checks = append(checks, Check{Name: "server:" + srv.Name, Err: err})
	}
	return checks
}
