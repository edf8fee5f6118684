package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad_DefaultsAreEmbedded(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded || c.ListenAddr != "127.0.0.1:8080" || c.Vault.Mount != "secret" || c.ServerCapacity != 500 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoad_ExternalServers(t *testing.T) {
	c, err := Load(env(map[string]string{
		"CELLAR_METADATA_DSN":        "postgres://u:p@meta:5432/cellar",
		"CELLAR_VAULT_ADDR":          "https://vault:8200",
		"CELLAR_VAULT_TOKEN":         "t",
		"CELLAR_PG_ADMIN_DSN":        "postgres://admin:secret@pg.internal:6432/postgres",
		"CELLAR_PG_PUBLIC_HOST":      "pg.example.com",
		"CELLAR_MARIADB_ADMIN_DSN":   "root:secret@tcp(my.internal)/",
		"CELLAR_MARIADB_PUBLIC_PORT": "13306",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Embedded || len(c.Servers) != 2 {
		t.Fatalf("%+v", c)
	}
	pg, my := c.Servers[0], c.Servers[1]
	if pg.PublicHost != "pg.example.com" || pg.PublicPort != 6432 || pg.Name != "pg-1" {
		t.Errorf("pg: %+v", pg)
	}
	if my.PublicHost != "my.internal" || my.PublicPort != 13306 || my.Name != "mariadb-1" {
		t.Errorf("mariadb: %+v", my)
	}
}

func TestLoad_ErrorsNameTheVariableAndHideSecrets(t *testing.T) {
	_, err := Load(env(map[string]string{
		"CELLAR_METADATA_DSN":       "postgres://u:p@meta/cellar",
		"CELLAR_VAULT_ADDR":         "vault:8200",
		"CELLAR_PG_ADMIN_DSN":       "mysql://admin:hunter2@x/",
		"CELLAR_LOG_LEVEL":          "loud",
		"CELLAR_RECONCILE_INTERVAL": "soon",
		"CELLAR_BOOTSTRAP_API_KEY":  "short",
	}))
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, want := range []string{"CELLAR_VAULT_ADDR", "CELLAR_VAULT_TOKEN", "CELLAR_PG_ADMIN_DSN", "CELLAR_LOG_LEVEL", "CELLAR_RECONCILE_INTERVAL", "CELLAR_BOOTSTRAP_API_KEY"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") || strings.Contains(msg, "short") {
		t.Errorf("error leaks a secret:\n%s", msg)
	}
}

func TestLoad_EmbeddedRejectsHalfExternalConfig(t *testing.T) {
	_, err := Load(env(map[string]string{"CELLAR_VAULT_ADDR": "http://vault:8200"}))
	if err == nil || !strings.Contains(err.Error(), "CELLAR_METADATA_DSN") {
		t.Fatalf("want a hint about CELLAR_METADATA_DSN, got %v", err)
	}
}

func TestLoad_SnapshotLimitsAndRetention(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.QuotaMaxSnapshots != 200 || c.QuotaMaxSnapshotGB != 100 || c.ScheduledBackupWorkers != 1 || c.BackupKeepMin != 1 {
		t.Fatalf("defaults: snapshots %d, %g GB, scheduled workers %d, keep %d", c.QuotaMaxSnapshots, c.QuotaMaxSnapshotGB, c.ScheduledBackupWorkers, c.BackupKeepMin)
	}
	_, err = Load(env(map[string]string{
		"CELLAR_QUOTA_MAX_SNAPSHOTS":      "0",
		"CELLAR_QUOTA_MAX_SNAPSHOT_GB":    "-1",
		"CELLAR_SCHEDULED_BACKUP_WORKERS": "0",
		"CELLAR_BACKUP_KEEP_MIN":          "0",
	}))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"CELLAR_QUOTA_MAX_SNAPSHOTS", "CELLAR_QUOTA_MAX_SNAPSHOT_GB", "CELLAR_SCHEDULED_BACKUP_WORKERS", "CELLAR_BACKUP_KEEP_MIN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%s", want, err)
		}
	}
}
