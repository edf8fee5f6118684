package harness

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// killAndRestart kills the server's process with SIGKILL, as an operator or
// the OOM killer would, waits for the exit and restarts it.
func killAndRestart(t *testing.T, name string, x interface {
	Exited() <-chan struct{}
	ExitReason() string
	Pid() int
	Restart(context.Context) error
}) {
	t.Helper()
	pid := x.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("%s: kill: %v", name, err)
	}
	select {
	case <-x.Exited():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: did not exit after SIGKILL", name)
	}
	if r := x.ExitReason(); r != "signal: killed" {
		t.Errorf("%s: exit reason %q", name, r)
	}
	began := time.Now()
	if err := x.Restart(t.Context()); err != nil {
		t.Fatalf("%s: restart: %v", name, err)
	}
	t.Logf("%s: restarted in %s", name, time.Since(began).Round(time.Millisecond))
	if x.Pid() == pid {
		t.Fatalf("%s: same pid %d after restart", name, pid)
	}
}

// TestKilledServersRestartWithTheirData kills each durable server with
// SIGKILL (PostgreSQL with a session open, so that backends outlive the
// postmaster) and restarts it: same port, same credentials, same data, and
// Vault unsealed again with the same root token.
func TestKilledServersRestartWithTheirData(t *testing.T) {
	requireDatabases(t)
	dir := newRoot(t)
	s := startServices(t, dir, true)

	checkVaultRoundTrip(t, s.Vault, "harness/survivor", "kept")
	pg := checkPostgres(t, s.PG, "postgres")
	if _, err := pg.Exec(t.Context(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('pg')"); err != nil {
		t.Fatal(err)
	}
	my := checkMariaDB(t, s.MariaDB)
	for _, q := range []string{"CREATE DATABASE kept", "CREATE TABLE kept.kept (v text)", "INSERT INTO kept.kept VALUES ('maria')"} {
		if _, err := my.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	md := checkPostgres(t, s.Metadata, MetadataDatabase) // an open session on the metadata server

	ports := []int{s.Metadata.Port, s.PG.Port, s.MariaDB.Port, s.Vault.port}
	token := s.Vault.Token
	killAndRestart(t, "metadata-pg", s.Metadata)
	killAndRestart(t, "managed-pg", s.PG)
	killAndRestart(t, "mariadb", s.MariaDB)
	killAndRestart(t, "vault", s.Vault)
	if got := []int{s.Metadata.Port, s.PG.Port, s.MariaDB.Port, s.Vault.port}; got[0] != ports[0] || got[1] != ports[1] || got[2] != ports[2] || got[3] != ports[3] {
		t.Fatalf("ports changed: %v -> %v", ports, got)
	}
	if s.Vault.Token != token {
		t.Fatal("root token changed")
	}
	if err := md.Ping(t.Context()); err == nil {
		t.Error("a session of the killed metadata server still answers")
	}

	checkVaultSecret(t, s.Vault, "harness/survivor", "kept")
	var v string
	if err := checkPostgres(t, s.PG, "postgres").QueryRow(t.Context(), "SELECT v FROM kept").Scan(&v); err != nil || v != "pg" {
		t.Errorf("postgres row after restart: %q, %v", v, err)
	}
	if err := checkMariaDB(t, s.MariaDB).QueryRowContext(t.Context(), "SELECT v FROM kept.kept").Scan(&v); err != nil || v != "maria" {
		t.Errorf("mariadb row after restart: %q, %v", v, err)
	}
	checkPostgres(t, s.Metadata, MetadataDatabase)

	// A server stopped on purpose is not restarted.
	if err := s.Vault.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Vault.Restart(t.Context()); !errors.Is(err, errStopped) {
		t.Fatalf("Restart after Stop: %v", err)
	}
}
