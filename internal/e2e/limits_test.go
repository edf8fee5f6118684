package e2e

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
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/testenv"
)

// limitDB is a database made through the API, with the password it came
// with (or got from the last rotation).
type limitDB struct {
	Engine   string  `json:"db_type"`
	Name     string  `json:"db_name"`
	Username string  `json:"username"`
	Password *string `json:"password"`
	Host     string  `json:"host"`
	Port     int     `json:"port"`
}

func (d limitDB) path(suffix string) string {
	return "/v1/databases/" + d.Engine + "/" + d.Name + suffix
}

// login opens one session as the tenant with a real client of the engine.
func (d limitDB) login(ctx context.Context) (closer func(), exec func(string) error, err error) {
	if d.Engine == "postgresql" {
		c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", d.Username, *d.Password, d.Host, d.Port, d.Name))
		if err != nil {
			return nil, nil, err
		}
		return func() { c.Close(context.Background()) }, func(q string) error { _, err := c.Exec(ctx, q); return err }, nil
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = d.Username, *d.Password, "tcp", fmt.Sprintf("%s:%d", d.Host, d.Port), d.Name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, nil, err
	}
	c, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return func() { c.Close(); db.Close() }, func(q string) error { _, err := c.ExecContext(ctx, q); return err }, nil
}

// fillTo opens sessions as the tenant until n are open, then checks that
// session n+1 is refused by the engine's connection limit.
func (d limitDB) fillTo(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		closer, _, err := d.login(ctx)
		if err != nil {
			t.Fatalf("%s: session %d of %d: %v", d.Engine, i+1, n, err)
		}
		t.Cleanup(closer)
	}
	closer, _, err := d.login(ctx)
	if err == nil {
		closer()
		t.Fatalf("%s: session %d accepted with a connection limit of %d", d.Engine, n+1, n)
	}
	msg := err.Error()
	if !strings.Contains(msg, "too many connections for role") && !strings.Contains(msg, "max_user_connections") {
		t.Fatalf("%s: session %d: %v, want the connection limit's refusal", d.Engine, n+1, err)
	}
	t.Logf("%s: session %d refused: %v", d.Engine, n+1, err)
}

// serverLimits reads every place the engine holds the database's limit:
// PostgreSQL the owner role's and the database's, MariaDB every account.
func serverLimits(t *testing.T, ctx context.Context, e *testenv.Env, d limitDB) []string {
	t.Helper()
	var out []string
	if d.Engine == "postgresql" {
		var role, db int
		if err := e.PG(t).QueryRow(ctx, `SELECT r.rolconnlimit, d.datconnlimit FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
			WHERE d.datname = $1`, d.Name).Scan(&role, &db); err != nil {
			t.Fatal(err)
		}
		return []string{"role=" + strconv.Itoa(role), "database=" + strconv.Itoa(db)}
	}
	rows, err := e.MariaDB(t).QueryContext(ctx, "SELECT Host, max_user_connections FROM mysql.user WHERE User = ? ORDER BY Host", d.Username)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var host string
		var n int
		if err := rows.Scan(&host, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, host+"="+strconv.Itoa(n))
	}
	return out
}

// allAre checks that every limit read by serverLimits is want.
func allAre(t *testing.T, what string, got []string, want int) {
	t.Helper()
	if len(got) == 0 {
		t.Fatalf("%s: no limit found", what)
	}
	for _, g := range got {
		if !strings.HasSuffix(g, "="+strconv.Itoa(want)) {
			t.Errorf("%s: limits %v, want all %d", what, got, want)
			return
		}
	}
}

// scrape reads one sample of a Prometheus text exposition: the value of the
// series whose name and labels start with series (e.g.
// `cellar_drift_repaired_total{engine="mariadb",kind="connection_limit"}`).
func scrape(t testing.TB, baseURL, series string) float64 {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Error(err) // not Fatal: samplers call this from their own goroutine
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Errorf("metric %s: %q", series, line)
			}
			return v
		}
	}
	return 0
}

// TestConnectionLimit_EveryPathKeepsIt_TenantCannotLiftIt_DriftRepaired
// drives both engines through the API: the limit set at create and by
// PATCH is on the place the tenant cannot change (PostgreSQL: the owner
// role; MariaDB: every account, including the host variants that access
// rules make) and survives a rotation; the tenant's own attempts to lift it
// change nothing, and session limit+1 is refused; an administrator's change
// behind Cellar's back is set back by a reconcile pass and counted in
// cellar_drift_repaired_total.
func TestConnectionLimit_EveryPathKeepsIt_TenantCannotLiftIt_DriftRepaired(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Config: map[string]string{"CELLAR_DEFAULT_CONNECTION_LIMIT": "10"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := e.NewCustomer(t)
	dbs := map[string]*limitDB{}
	for _, engine := range []string{"postgresql", "mariadb"} {
		var d limitDB
		c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "capped"}).Decode(t, &d)
		dbs[engine] = &d
		allAre(t, engine+" after create", serverLimits(t, ctx, e, d), 10)
	}
	// MariaDB: access rules make an account per source; each gets the limit.
	my := dbs["mariadb"]
	for _, src := range []string{"10.201.0.0/16", "10.202.3.4"} {
		c.Expect(t, http.StatusCreated, "POST", my.path("/firewall"), map[string]any{"ip_address": src})
	}
	if got := serverLimits(t, ctx, e, *my); len(got) < 3 {
		t.Fatalf("mariadb accounts after access rules: %v, want one per source plus loopback", got)
	}

	const limit = 11
	for engine, d := range dbs {
		c.Expect(t, http.StatusOK, "PATCH", d.path(""), map[string]any{"connection_limit": limit})
		allAre(t, engine+" after PATCH", serverLimits(t, ctx, e, *d), limit)
		var rot struct {
			Password string `json:"password"`
		}
		c.Expect(t, http.StatusOK, "POST", d.path("/credentials/rotate"), nil).Decode(t, &rot)
		d.Password = &rot.Password
		allAre(t, engine+" after rotation", serverLimits(t, ctx, e, *d), limit)
	}

	// The tenant tries to lift its own limit, then opens limit+1 sessions.
	tries := map[string][]string{
		"postgresql": {
			"ALTER DATABASE " + dbs["postgresql"].Name + " CONNECTION LIMIT -1", // allowed to the owner, and harmless
			"ALTER ROLE " + dbs["postgresql"].Username + " CONNECTION LIMIT -1",
			"ALTER ROLE CURRENT_USER CONNECTION LIMIT 1000",
		},
		"mariadb": {
			"ALTER USER CURRENT_USER() WITH MAX_USER_CONNECTIONS 0",
			"GRANT USAGE ON *.* TO '" + my.Username + "'@'127.0.0.1' WITH MAX_USER_CONNECTIONS 0",
		},
	}
	for engine, d := range dbs {
		closer, exec, err := d.login(ctx)
		if err != nil {
			t.Fatalf("%s: tenant login: %v", engine, err)
		}
		for i, q := range tries[engine] {
			err := exec(q)
			if engine == "postgresql" && i == 0 {
				t.Logf("%s as the tenant: %q: %v", engine, q, err)
				continue
			}
			if err == nil {
				t.Errorf("%s as the tenant: %q succeeded", engine, q)
			}
		}
		closer()
		d.fillTo(t, ctx, limit)
	}

	// An administrator changes limits behind Cellar's back.
	pg := dbs["postgresql"]
	for _, q := range []string{"ALTER ROLE " + pg.Username + " CONNECTION LIMIT -1", "ALTER DATABASE " + pg.Name + " CONNECTION LIMIT -1"} {
		if _, err := e.PG(t).Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.MariaDB(t).ExecContext(ctx, "ALTER USER '"+my.Username+"'@'127.0.0.1' WITH MAX_USER_CONNECTIONS 0"); err != nil {
		t.Fatal(err)
	}
	const pgSeries = `cellar_drift_repaired_total{engine="postgresql",kind="connection_limit"}`
	const mySeries = `cellar_drift_repaired_total{engine="mariadb",kind="connection_limit"}`
	before := scrape(t, e.BaseURL, pgSeries) + scrape(t, e.BaseURL, mySeries)
	if before != 0 {
		t.Fatalf("drift repaired before any pass: %v", before)
	}
	// A second Cellar runs one reconcile pass at start, before it is ready.
	addr, stop, err := e.StartServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for engine, d := range dbs {
		allAre(t, engine+" after the reconcile pass", serverLimits(t, ctx, e, *d), limit)
	}
	for _, series := range []string{pgSeries, mySeries} {
		if v := scrape(t, "http://"+addr, series); v != 1 {
			t.Errorf("%s = %v after one pass, want 1", series, v)
		}
	}
	// GET …/info reports the limit that binds.
	for engine, d := range dbs {
		var info struct {
			ConnectionLimit *int `json:"connection_limit"`
		}
		c.Expect(t, http.StatusOK, "GET", d.path("/info"), nil).Decode(t, &info)
		if info.ConnectionLimit == nil || *info.ConnectionLimit != limit {
			t.Errorf("%s: info connection_limit = %v, want %d", engine, info.ConnectionLimit, limit)
		}
	}
}
