package app_test

// outage_check_test.go: what the outage tests check from outside: the
// metadata, the servers and Vault agree, and nothing is orphaned or lost.

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
)

// restartsMetric reads cellar_supervised_restarts_total for process.
func restartsMetric(t *testing.T, c *embeddedCellar, process string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + c.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	prefix := `cellar_supervised_restarts_total{process="` + process + `"} `
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

func metadataConn(t *testing.T, st harnessState) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(),
		fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/cellar?sslmode=disable", st.MetadataPG.Password, st.MetadataPG.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func waitNoPending(t *testing.T, st harnessState) {
	t.Helper()
	md := metadataConn(t, st)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var pending int
		if err := md.QueryRow(context.Background(), "SELECT count(*) FROM operations WHERE state = 'pending'").Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d operations still pending", pending)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func checkNoOrphans(t *testing.T, w *workload, st harnessState) {
	t.Helper()
	ctx := context.Background()
	md := metadataConn(t, st)
	active := map[string]map[string]bool{"postgresql": {}, "mariadb": {}}
	rows, err := md.Query(ctx, "SELECT engine, name FROM databases WHERE status = 'active'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e, n string
		if err := rows.Scan(&e, &n); err != nil {
			t.Fatal(err)
		}
		active[e][n] = true
	}
	rows.Close()
	var notSettled int
	md.QueryRow(ctx, "SELECT count(*) FROM databases WHERE status NOT IN ('active', 'deleted', 'failed')").Scan(&notSettled)
	if notSettled != 0 {
		t.Errorf("%d databases neither active, deleted nor failed", notSettled)
	}

	// No lost row: every acknowledged create not deleted since is active;
	// every acknowledged delete is not. Creates that answered an error may
	// have gone either way, but wholly.
	for n, e := range w.live {
		if !active[e][n] {
			t.Errorf("%s %s was created (2xx) but is not active", e, n)
		}
	}
	for n, e := range w.deleted {
		if active[e][n] {
			t.Errorf("%s %s was deleted (2xx) but is active", e, n)
		}
	}
	for e, names := range active {
		for n := range names {
			if _, ok := w.tried[n]; !ok {
				t.Errorf("%s %s is active but was never asked for", e, n)
			}
		}
	}

	// The servers and Vault hold exactly the active databases.
	pg, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", st.ManagedPG.Password, st.ManagedPG.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	compare(t, "postgresql databases", active["postgresql"], pgNames(t, pg, "SELECT datname FROM pg_database WHERE datname LIKE 'cust\\_%'"))
	compare(t, "postgresql roles", active["postgresql"], pgNames(t, pg, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'cust\\_%'"))

	mcfg := mysql.NewConfig()
	mcfg.User, mcfg.Passwd, mcfg.Net, mcfg.Addr = st.MariaDB.User, st.MariaDB.Password, "tcp", fmt.Sprintf("127.0.0.1:%d", st.MariaDB.Port)
	my, err := sql.Open("mysql", mcfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	compare(t, "mariadb databases", active["mariadb"], sqlNames(t, my, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'cust\\_%'"))
	compare(t, "mariadb users", active["mariadb"], sqlNames(t, my, "SELECT DISTINCT User FROM mysql.user WHERE User LIKE 'cust\\_%'"))

	vc, err := vault.NewClient(&vault.Config{Address: fmt.Sprintf("http://127.0.0.1:%d", st.Vault.Port)})
	if err != nil {
		t.Fatal(err)
	}
	vc.SetToken(st.Vault.RootToken)
	for _, engine := range []string{"postgresql", "mariadb"} {
		got := map[string]bool{}
		s, err := vc.Logical().ListWithContext(ctx, "secret/metadata/cellar/customers/admin/"+engine)
		if err != nil {
			t.Fatal(err)
		}
		if s != nil {
			keys, _ := s.Data["keys"].([]any)
			for _, k := range keys {
				got[k.(string)] = true
			}
		}
		compare(t, engine+" secrets", active[engine], got)
		// Each secret logs in: rotations cut short by an outage were
		// settled to the password Vault holds.
		for n := range active[engine] {
			sec, err := vc.KVv2("secret").Get(ctx, "cellar/customers/admin/"+engine+"/"+n)
			if err != nil {
				t.Errorf("secret of %s: %v", n, err)
				continue
			}
			pw, _ := sec.Data["password"].(string)
			if err := loginAt(engine, n, pw, st); err != nil {
				t.Errorf("%s %s: the password in Vault does not log in: %v", engine, n, err)
			}
		}
	}
	t.Logf("at the end: %d postgresql and %d mariadb databases active; %d acknowledged deletes",
		len(active["postgresql"]), len(active["mariadb"]), len(w.deleted))
}

func loginAt(engine, name, password string, st harnessState) error {
	ctx := context.Background()
	if engine == "postgresql" {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", name, password, st.ManagedPG.Port, name))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = name, password, "tcp", fmt.Sprintf("127.0.0.1:%d", st.MariaDB.Port), name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

func pgNames(t *testing.T, conn *pgx.Conn, q string) map[string]bool {
	t.Helper()
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	return out
}

func sqlNames(t *testing.T, db *sql.DB, q string) map[string]bool {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	return out
}

func compare(t *testing.T, what string, want, got map[string]bool) {
	t.Helper()
	for n := range want {
		if !got[n] {
			t.Errorf("%s: %s is missing", what, n)
		}
	}
	for n := range got {
		if !want[n] {
			t.Errorf("%s: %s is an orphan", what, n)
		}
	}
}
