package api_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/testenv"
)

type created struct {
	Success           bool    `json:"success"`
	DBType            string  `json:"db_type"`
	DBName            string  `json:"db_name"`
	Username          string  `json:"username"`
	Password          *string `json:"password"`
	Host              string  `json:"host"`
	Port              int     `json:"port"`
	ConnectionString  string  `json:"connection_string"`
	Message           string  `json:"message"`
	PasswordGenerated bool    `json:"password_generated"`
	Idempotent        bool    `json:"idempotent"`
}

func createDB(t *testing.T, c *testenv.Client, engine, name string) created {
	t.Helper()
	body := map[string]any{"db_type": engine}
	if name != "" {
		body["requested_name"] = name
	}
	var out created
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", body).Decode(t, &out)
	return out
}

func TestCreateDatabase_PostgreSQL_PsqlConnectsAndCreatesTable(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)

	r := c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": "postgresql", "requested_name": "webapp_prod_db"})
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	var db created
	r.Decode(t, &db)
	want := "cust_" + c.CustomerID + "_pg_webapp_prod_db"
	if db.DBName != want || db.Username != want || db.DBType != "postgresql" || !db.Success || !db.PasswordGenerated || db.Idempotent {
		t.Fatalf("unexpected response: %+v", db)
	}
	if db.Password == nil || len(*db.Password) < 32 {
		t.Fatalf("password missing or short: %v", db.Password)
	}
	if db.Host != e.Services.PG.Host || db.Port != e.Services.PG.Port {
		t.Errorf("host:port = %s:%d, want %s:%d", db.Host, db.Port, e.Services.PG.Host, e.Services.PG.Port)
	}

	// The real psql client, with the connection string exactly as returned.
	out, err := exec.Command("psql", db.ConnectionString, "-v", "ON_ERROR_STOP=1", "-qAt", "-c",
		"CREATE TABLE orders (id serial PRIMARY KEY, item text); INSERT INTO orders (item) VALUES ('book'); SELECT count(*) FROM orders;").CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("psql output %q, want 1", out)
	}

	x := e.Inspect(t, "postgresql", c.CustomerID, db.DBName)
	if !x.Database || !x.User || !x.Secret {
		t.Fatalf("after create: %+v, want all present", x)
	}
	// Vault holds exactly the password the client got.
	s, err := e.Vault(t).KVv2("secret").Get(context.Background(), "cellar/customers/"+c.CustomerID+"/postgresql/"+db.DBName)
	if err != nil || s.Data["password"] != *db.Password {
		t.Fatalf("vault secret does not hold the returned password (err %v)", err)
	}
}

func TestCreateDatabase_PostgreSQL_TenantIsolation(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	a, b := e.NewCustomer(t), e.NewCustomer(t)
	dbA := createDB(t, a, "postgresql", "private")
	dbB := createDB(t, b, "postgresql", "private")

	// B's credentials cannot open A's database: CONNECT is revoked from PUBLIC.
	u, _ := url.Parse(dbB.ConnectionString)
	u.Path = "/" + dbA.DBName
	if conn, err := pgx.Connect(context.Background(), u.String()); err == nil {
		conn.Close(context.Background())
		t.Fatal("customer B connected to customer A's database")
	} else if !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("want permission denied, got %v", err)
	}
	// Nor the shared postgres database.
	u.Path = "/postgres"
	if conn, err := pgx.Connect(context.Background(), u.String()); err == nil {
		conn.Close(context.Background())
		t.Fatal("a tenant connected to the postgres database")
	}
}

func mariadbCreds(t *testing.T, db created) (user, pass, host, port, name string) {
	t.Helper()
	u, err := url.Parse(db.ConnectionString)
	if err != nil || u.Scheme != "mysql" {
		t.Fatalf("connection string %q is not a mysql:// URL", db.ConnectionString)
	}
	pass, _ = u.User.Password()
	return u.User.Username(), pass, u.Hostname(), u.Port(), strings.TrimPrefix(u.Path, "/")
}

func TestCreateDatabase_MariaDB_ClientConnectsAndCreatesTable(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "mariadb", "webapp_prod_db")
	want := "cust_" + c.CustomerID + "_my_webapp_prod_db"
	if db.DBName != want || db.Username != want || db.Port != e.Services.MariaDB.Port {
		t.Fatalf("unexpected response: %+v", db)
	}
	user, pass, host, port, name := mariadbCreds(t, db)
	if pass != *db.Password || name != db.DBName || user != db.Username {
		t.Fatalf("connection string disagrees with fields: %+v", db)
	}
	// The real mariadb client.
	cmd := exec.Command("mariadb", "-h", host, "-P", port, "-u", user, name, "-N", "-e",
		"CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, item TEXT); INSERT INTO orders (item) VALUES ('book'); SELECT COUNT(*) FROM orders;")
	cmd.Env = append(cmd.Environ(), "MYSQL_PWD="+pass)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("mariadb output %q, want 1", out)
	}
	// The user sees its own database and no other customer's.
	other := createDB(t, e.NewCustomer(t), "mariadb", "webapp_prod_db")
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, pass, "tcp", host+":"+port
	conn, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec("USE `" + other.DBName + "`"); err == nil {
		t.Fatal("customer reached another customer's MariaDB database")
	}
	if x := e.Inspect(t, "mariadb", c.CustomerID, db.DBName); !x.Database || !x.User || !x.Secret {
		t.Fatalf("after create: %+v, want all present", x)
	}
}

func TestCreateDatabase_RepeatIsIdempotent(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range []string{"postgresql", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			first := createDB(t, c, engine, "orders")
			var again created
			r := c.Expect(t, http.StatusOK, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "Orders"})
			r.Decode(t, &again)
			if !again.Idempotent || again.Password != nil || again.PasswordGenerated || again.DBName != first.DBName {
				t.Fatalf("repeat create: %+v", again)
			}
			if strings.Contains(again.ConnectionString, *first.Password) {
				t.Fatal("idempotent answer reveals the password")
			}
		})
	}
}

func TestCreateDatabase_TwentyConcurrentCreatesMakeOne(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range []string{"postgresql", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			const n = 20
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i] = c.Do(t, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "contended"}).Status
				}()
			}
			wg.Wait()
			count := map[int]int{}
			for _, s := range statuses {
				count[s]++
			}
			if count[http.StatusCreated] != 1 || count[http.StatusOK] != n-1 {
				t.Fatalf("statuses %v: want one 201 and %d 200", count, n-1)
			}
			name := "cust_" + c.CustomerID + "_" + cellar.Engine(engine).Short() + "_contended"
			var rows int
			err := e.Metadata(t).QueryRow(context.Background(),
				"SELECT count(*) FROM databases WHERE name = $1", name).Scan(&rows)
			if err != nil || rows != 1 {
				t.Fatalf("metadata rows for %s: %d (%v), want 1", name, rows, err)
			}
			if x := e.Inspect(t, engine, c.CustomerID, name); !x.Database || !x.User || !x.Secret {
				t.Fatalf("server state %+v", x)
			}
		})
	}
}

func TestCreateDatabase_GeneratedNameWhenNoneRequested(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	a := createDB(t, c, "postgresql", "")
	b := createDB(t, c, "postgresql", "")
	prefix := "cust_" + c.CustomerID + "_pg_"
	if !strings.HasPrefix(a.DBName, prefix) || !strings.HasPrefix(b.DBName, prefix) || a.DBName == b.DBName {
		t.Fatalf("generated names %q, %q", a.DBName, b.DBName)
	}
	if _, err := cellar.ParseDatabaseName(cellar.PostgreSQL, a.DBName); err != nil {
		t.Fatal(err)
	}
}

type listed struct {
	DBType    string `json:"db_type"`
	Databases []struct {
		DBName     string `json:"db_name"`
		Status     string `json:"status"`
		CustomerID string `json:"customer_id"`
	} `json:"databases"`
}

func names(l listed) []string {
	var out []string
	for _, d := range l.Databases {
		out = append(out, d.DBName)
	}
	return out
}

func TestListDatabases_ShowsOnlyTheCallersDatabases(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	a, b := e.NewCustomer(t), e.NewCustomer(t)
	pg := createDB(t, a, "postgresql", "one")
	my := createDB(t, a, "mariadb", "two")

	var l listed
	a.Expect(t, http.StatusOK, "GET", "/v1/databases/postgresql", nil).Decode(t, &l)
	if got := names(l); len(got) != 1 || got[0] != pg.DBName || l.DBType != "postgresql" || l.Databases[0].Status != "active" {
		t.Fatalf("A's postgresql list: %+v", l)
	}
	a.Expect(t, http.StatusOK, "GET", "/v1/databases/mariadb", nil).Decode(t, &l)
	if got := names(l); len(got) != 1 || got[0] != my.DBName {
		t.Fatalf("A's mariadb list: %v", got)
	}
	// B sees nothing, and naming A as customer_id is ignored for a regular key.
	b.Expect(t, http.StatusOK, "GET", "/v1/databases/postgresql?customer_id="+a.CustomerID, nil).Decode(t, &l)
	if len(l.Databases) != 0 {
		t.Fatalf("B sees %v", names(l))
	}
	// An internal key may look at A's databases.
	internal := e.NewKey(t, "ops"+strings.ToLower(cellar.RandomToken(6)), true, cellar.PermDatabaseRead)
	internal.Expect(t, http.StatusOK, "GET", "/v1/databases/postgresql?customer_id="+a.CustomerID, nil).Decode(t, &l)
	if got := names(l); len(got) != 1 || got[0] != pg.DBName {
		t.Fatalf("internal key sees %v", got)
	}
}

func TestCreateDatabase_InternalKeyActsForCustomer_RegularKeyCannot(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	target := "tgt" + strings.ToLower(cellar.RandomToken(6))
	internal := e.NewKey(t, "ops"+strings.ToLower(cellar.RandomToken(6)), true, cellar.PermDatabaseCreate, cellar.PermDatabaseDelete)
	var db created
	internal.Expect(t, http.StatusCreated, "POST", "/v1/databases",
		map[string]any{"db_type": "mariadb", "requested_name": "billing", "customer_id": target}).Decode(t, &db)
	if db.DBName != "cust_"+target+"_my_billing" {
		t.Fatalf("internal create made %q", db.DBName)
	}
	regular := e.NewCustomer(t)
	regular.Expect(t, http.StatusCreated, "POST", "/v1/databases",
		map[string]any{"db_type": "mariadb", "requested_name": "billing", "customer_id": target}).Decode(t, &db)
	if db.DBName != "cust_"+regular.CustomerID+"_my_billing" {
		t.Fatalf("regular key's customer_id override was honoured: %q", db.DBName)
	}
	internal.Expect(t, http.StatusOK, "DELETE", "/v1/databases/mariadb/cust_"+target+"_my_billing", nil)
}

func TestEngines_ReportRealServerVersions(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t, cellar.PermDatabaseRead)
	var out struct {
		Engines []struct {
			DBType       string   `json:"db_type"`
			Version      *string  `json:"version"`
			Available    bool     `json:"available"`
			Capabilities []string `json:"capabilities"`
		} `json:"engines"`
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/engines", nil).Decode(t, &out)
	if len(out.Engines) != 2 {
		t.Fatalf("engines: %+v", out)
	}
	var pgVersion, myVersion string
	must(t, e.PG(t).QueryRow(context.Background(), "SHOW server_version").Scan(&pgVersion))
	must(t, e.MariaDB(t).QueryRow("SELECT VERSION()").Scan(&myVersion))
	want := map[string]string{"postgresql": pgVersion, "mariadb": myVersion}
	for _, eng := range out.Engines {
		if eng.Version == nil || !strings.HasPrefix(want[eng.DBType], *eng.Version) && !strings.HasPrefix(*eng.Version, want[eng.DBType]) {
			t.Errorf("%s version %v, server says %q", eng.DBType, eng.Version, want[eng.DBType])
		}
		if !eng.Available || len(eng.Capabilities) == 0 {
			t.Errorf("%s: %+v", eng.DBType, eng)
		}
	}
}

func TestDeleteDatabase_RemovesDatabaseUserAndSecret(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, tc := range []struct{ engine, how string }{
		{"postgresql", "body"}, {"postgresql", "path"}, {"mariadb", "body"}, {"mariadb", "path"},
	} {
		t.Run(tc.engine+"/"+tc.how, func(t *testing.T) {
			c := e.NewCustomer(t)
			db := createDB(t, c, tc.engine, "doomed")
			// A connected client must not stop the delete.
			hold := openSession(t, tc.engine, db)
			defer hold.Close()

			if tc.how == "body" {
				c.Expect(t, http.StatusOK, "DELETE", "/v1/databases", map[string]any{"db_type": tc.engine, "db_name": db.DBName, "username": db.Username})
			} else {
				c.Expect(t, http.StatusOK, "DELETE", "/v1/databases/"+tc.engine+"/"+db.DBName+"?username="+db.Username, nil)
			}
			if x := e.Inspect(t, tc.engine, c.CustomerID, db.DBName); x.Database || x.User || x.Secret {
				t.Fatalf("after delete: %+v, want nothing left", x)
			}
			// Gone from the list, kept in the metadata as deleted, with both events.
			var l listed
			c.Expect(t, http.StatusOK, "GET", "/v1/databases/"+tc.engine, nil).Decode(t, &l)
			if len(l.Databases) != 0 {
				t.Fatalf("still listed: %v", names(l))
			}
			var status string
			var events []string
			md := e.Metadata(t)
			must(t, md.QueryRow(context.Background(), "SELECT status FROM databases WHERE name = $1", db.DBName).Scan(&status))
			rows, err := md.Query(context.Background(),
				"SELECT kind FROM database_events e JOIN databases d ON d.id = e.database_id WHERE d.name = $1 ORDER BY e.id", db.DBName)
			must(t, err)
			events, err = pgx.CollectRows(rows, pgx.RowTo[string])
			must(t, err)
			if status != "deleted" || strings.Join(events, ",") != "created,deleted" {
				t.Fatalf("metadata: status %q, events %v", status, events)
			}
			// Deleting again is a 404, and the name can be reused.
			c.Expect(t, http.StatusNotFound, "DELETE", "/v1/databases/"+tc.engine+"/"+db.DBName, nil)
			createDB(t, c, tc.engine, "doomed")
		})
	}
}

// session is an open client connection to a customer database.
type session interface{ Close() error }

type pgSession struct{ *pgx.Conn }

func (s pgSession) Close() error { return s.Conn.Close(context.Background()) }

func openSession(t *testing.T, engine string, db created) session {
	t.Helper()
	if engine == "postgresql" {
		conn, err := pgx.Connect(context.Background(), db.ConnectionString)
		if err != nil {
			t.Fatal(err)
		}
		return pgSession{conn}
	}
	user, pass, host, port, name := mariadbCreds(t, db)
	s, err := pinMySQL(fmt.Sprintf("%s:%s@tcp(%s:%s)/%s", user, pass, host, port, name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
