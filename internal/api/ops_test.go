package api_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/testenv"
)

func TestOperationsSurface_HealthReadyMetricsOpenAPI(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	anon := e.Client("", "")
	anon.Expect(t, http.StatusOK, "GET", "/healthz", nil)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	anon.Expect(t, http.StatusOK, "GET", "/readyz", nil).Decode(t, &ready)
	for _, name := range []string{"metadata", "vault", "server:pg-1", "server:mariadb-1"} {
		if ready.Checks[name] != "ok" {
			t.Errorf("readiness check %s = %q", name, ready.Checks[name])
		}
	}
	// Make one database so provisioning metrics exist.
	createDB(t, e.NewCustomer(t), "mariadb", "metered")
	m := anon.Expect(t, http.StatusOK, "GET", "/metrics", nil)
	for _, want := range []string{
		`cellar_http_request_duration_seconds_bucket{method="POST",route="/v1/databases",status="201"`,
		`cellar_provision_duration_seconds_count{engine="mariadb",operation="create",outcome="success"}`,
	} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	doc := anon.Expect(t, http.StatusOK, "GET", "/v1/openapi.json", nil).Map(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi version %v", doc["openapi"])
	}
}

// TestSecrets_NeverInLogsOrMetadata turns on full statement logging on both
// managed servers, creates databases, and then looks for the passwords in
// every log Cellar and the servers wrote and in every metadata table.
func TestSecrets_NeverInLogsOrMetadata(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	pg, my := e.PG(t), e.MariaDB(t)
	must(t, exec1(pg.Exec(ctx, "ALTER SYSTEM SET log_statement = 'all'")))
	must(t, exec1(pg.Exec(ctx, "SELECT pg_reload_conf()")))
	_, err := my.Exec("SET GLOBAL general_log = 1")
	must(t, err)
	t.Cleanup(func() {
		pg.Exec(ctx, "ALTER SYSTEM RESET log_statement")
		pg.Exec(ctx, "SELECT pg_reload_conf()")
		my.Exec("SET GLOBAL general_log = 0")
	})

	c := e.NewCustomer(t)
	var passwords []string
	for _, engine := range []string{"postgresql", "mariadb"} {
		db := createDB(t, c, engine, "secretive")
		passwords = append(passwords, *db.Password)
		c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/"+engine+"/"+db.DBName, nil)
	}
	var generalLog string
	must(t, my.QueryRow("SELECT @@general_log_file").Scan(&generalLog))
	if !filepath.IsAbs(generalLog) {
		var datadir string
		must(t, my.QueryRow("SELECT @@datadir").Scan(&datadir))
		generalLog = filepath.Join(datadir, generalLog)
	}

	var files []string
	filepath.Walk(e.Dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && (strings.HasSuffix(path, ".log") || strings.Contains(path, "/logs/")) {
			files = append(files, path)
		}
		return nil
	})
	files = append(files, generalLog)
	if len(files) < 3 {
		t.Fatalf("found only %v to search", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, p := range passwords {
			if strings.Contains(string(data), p) {
				t.Errorf("a password appears in %s", f)
			}
		}
	}
	// Every text of every metadata table, dumped as JSON rows.
	md := e.Metadata(t)
	for _, table := range []string{"databases", "operations", "database_events", "servers", "api_keys"} {
		var dump string
		must(t, md.QueryRow(ctx, "SELECT coalesce(json_agg(t)::text, '') FROM "+table+" t").Scan(&dump))
		for _, p := range passwords {
			if strings.Contains(dump, p) {
				t.Errorf("a password appears in metadata table %s", table)
			}
		}
		if strings.Contains(dump, e.Services.PG.Password) || strings.Contains(dump, e.Services.MariaDB.Password) {
			t.Errorf("a server admin password appears in metadata table %s", table)
		}
	}
}

func exec1[T any](_ T, err error) error { return err }
