package api_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellar/cellar/internal/testenv"
)

var engines = []string{"postgresql", "mariadb"}

// connectWith opens a session with the given password and proves it works.
func connectWith(t *testing.T, engine string, db created, password string) (session, error) {
	t.Helper()
	u, _ := url.Parse(db.ConnectionString)
	if engine == "postgresql" {
		u.User = url.UserPassword(db.Username, password)
		conn, err := pgx.Connect(context.Background(), u.String())
		if err != nil {
			return nil, err
		}
		return pgSession{conn}, nil
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = db.Username, password, "tcp", u.Host, db.DBName
	return pinMySQL(cfg.FormatDSN())
}

// mySession is one pinned MariaDB connection: a pool would quietly
// reconnect after a kill and hide it.
type mySession struct {
	pool *sql.DB
	*sql.Conn
}

func (s mySession) Close() error {
	s.Conn.Close()
	return s.pool.Close()
}

func pinMySQL(dsn string) (session, error) {
	pool, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Conn(context.Background())
	if err == nil {
		err = conn.PingContext(context.Background())
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return mySession{pool, conn}, nil
}

// alive runs a trivial query on the session.
func alive(s session) bool {
	switch c := s.(type) {
	case pgSession:
		_, err := c.Exec(context.Background(), "SELECT 1")
		return err == nil
	case mySession:
		_, err := c.ExecContext(context.Background(), "SELECT 1")
		return err == nil
	}
	return false
}

func path(db created, suffix string) string {
	return "/v1/databases/" + db.DBType + "/" + db.DBName + suffix
}

func TestCredentials_ConnectionDetailsWithoutPassword(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		c := e.NewCustomer(t)
		db := createDB(t, c, engine, "creds")
		r := c.Expect(t, http.StatusOK, "GET", path(db, "/credentials"), nil)
		m := r.Map(t)
		if pw, ok := m["password"]; !ok || pw != nil {
			t.Errorf("%s: password field %v, want present and null", engine, pw)
		}
		if m["database"] != db.DBName || m["username"] != db.Username || int(m["port"].(float64)) != db.Port || m["host"] != db.Host {
			t.Errorf("%s: %v", engine, m)
		}
		if strings.Contains(string(r.Body), *db.Password) {
			t.Errorf("%s: credentials reveal the password", engine)
		}
	}
}

type rotated struct {
	Password           string `json:"password"`
	ConnectionString   string `json:"connection_string"`
	DBName             string `json:"db_name"`
	CreatedAt          string `json:"created_at"`
	SessionsTerminated int    `json:"sessions_terminated"`
}

func TestRotate_OldPasswordFailsNewWorks(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			db := createDB(t, c, engine, "rotating")
			held := openSession(t, engine, db)
			defer held.Close()

			var rot rotated
			r := c.Expect(t, http.StatusOK, "POST", path(db, "/credentials/rotate"), nil)
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Error("rotate response may be cached")
			}
			r.Decode(t, &rot)
			if rot.Password == "" || rot.Password == *db.Password || !strings.Contains(rot.ConnectionString, rot.Password) {
				t.Fatalf("rotation: %+v", rot)
			}
			if _, err := connectWith(t, engine, db, *db.Password); err == nil {
				t.Fatal("the old password still works")
			}
			s, err := connectWith(t, engine, db, rot.Password)
			if err != nil {
				t.Fatalf("the new password does not work: %v", err)
			}
			s.Close()
			// Without terminate_sessions the old session lives on.
			if !alive(held) {
				t.Error("rotation without terminate_sessions ended a session")
			}
			secret, err := e.Vault(t).KVv2("secret").Get(context.Background(), "cellar/customers/"+c.CustomerID+"/"+engine+"/"+db.DBName)
			if err != nil || secret.Data["password"] != rot.Password || secret.VersionMetadata.Version != 2 {
				t.Fatalf("vault: %v, version %d", err, secret.VersionMetadata.Version)
			}
		})
	}
}

func TestRotate_TerminateSessionsEndsOldSessions(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			db := createDB(t, c, engine, "rotkill")
			a, b := openSession(t, engine, db), openSession(t, engine, db)
			defer a.Close()
			defer b.Close()
			var rot rotated
			c.Expect(t, http.StatusOK, "POST", path(db, "/credentials/rotate"), map[string]any{"terminate_sessions": true}).Decode(t, &rot)
			if rot.SessionsTerminated != 2 {
				t.Errorf("sessions_terminated = %d, want 2", rot.SessionsTerminated)
			}
			if alive(a) || alive(b) {
				t.Error("a session opened with the old password survived")
			}
			s, err := connectWith(t, engine, db, rot.Password)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		})
	}
}

func TestUpdate_ConnectionLimitEnforcedOnServer(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			db := createDB(t, c, engine, "limited")
			c.Expect(t, http.StatusOK, "PATCH", path(db, ""), map[string]any{"connection_limit": 10, "description": "capped"})

			var open []session
			defer func() {
				for _, s := range open {
					s.Close()
				}
			}()
			for i := 0; i < 10; i++ {
				s, err := connectWith(t, engine, db, *db.Password)
				if err != nil {
					t.Fatalf("connection %d of 10 refused: %v", i+1, err)
				}
				open = append(open, s)
			}
			s, err := connectWith(t, engine, db, *db.Password)
			if err == nil {
				s.Close()
				t.Fatal("an 11th connection was allowed with limit 10")
			}
			if !tooManyConnections(err) {
				t.Fatalf("11th connection: %v, want a too-many-connections error", err)
			}

			c.Expect(t, http.StatusOK, "PATCH", path(db, ""), map[string]any{"connection_limit": 11})
			s, err = connectWith(t, engine, db, *db.Password)
			if err != nil {
				t.Fatalf("11th connection refused after raising the limit: %v", err)
			}
			open = append(open, s)

			var info struct {
				ConnectionLimit *int `json:"connection_limit"`
				ConnectionCount int  `json:"connection_count"`
			}
			c.Expect(t, http.StatusOK, "GET", path(db, "/info"), nil).Decode(t, &info)
			if info.ConnectionLimit == nil || *info.ConnectionLimit != 11 || info.ConnectionCount != 11 {
				t.Errorf("info: limit %v, connections %d; want 11, 11", info.ConnectionLimit, info.ConnectionCount)
			}
			var l struct {
				Databases []struct {
					Description     *string `json:"description"`
					ConnectionLimit *int    `json:"connection_limit"`
				} `json:"databases"`
			}
			c.Expect(t, http.StatusOK, "PATCH", path(db, ""), map[string]any{"description": nil})
			c.Expect(t, http.StatusOK, "GET", "/v1/databases/"+engine, nil).Decode(t, &l)
			if l.Databases[0].Description != nil || *l.Databases[0].ConnectionLimit != 11 {
				t.Errorf("list after clearing description: %+v", l.Databases[0])
			}
		})
	}
}

func tooManyConnections(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "53300"
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		// 1226: the account's own MAX_USER_CONNECTIONS (1203 is the
		// server-wide max_user_connections).
		return myErr.Number == 1226
	}
	return false
}

func TestUpdate_BadValuesName_TheField(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "mariadb", "patchy")
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"connection_limit": 9}`, "connection_limit"},
		{`{"connection_limit": 1001}`, "connection_limit"},
		{`{"connection_limit": "100"}`, "connection_limit"},
		{`{"connection_limit": 10.5}`, "connection_limit"},
		{`{"description": 5}`, "description"},
		{`{"description": "` + strings.Repeat("d", 1001) + `"}`, "description"},
		{`{}`, "connection_limit"},
		{`{"size_gb": 100}`, "size_gb"},
	} {
		checkProblem(t, c.Do(t, "PATCH", path(db, ""), tc.body), http.StatusUnprocessableEntity, tc.field)
	}
}

func TestRestart_EndsSessionsOfThatDatabaseOnly(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c, other := e.NewCustomer(t), e.NewCustomer(t)
			target := createDB(t, c, engine, "restartme")
			sibling := createDB(t, c, engine, "sibling")
			stranger := createDB(t, other, engine, "stranger")
			var victims []session
			for range 3 {
				victims = append(victims, openSession(t, engine, target))
			}
			bystanders := []session{openSession(t, engine, sibling), openSession(t, engine, stranger)}
			defer func() {
				for _, s := range append(victims, bystanders...) {
					s.Close()
				}
			}()
			var out struct {
				SessionsTerminated int `json:"sessions_terminated"`
			}
			c.Expect(t, http.StatusOK, "POST", path(target, "/restart"), nil).Decode(t, &out)
			if out.SessionsTerminated != 3 {
				t.Errorf("sessions_terminated = %d, want 3", out.SessionsTerminated)
			}
			for i, s := range victims {
				if alive(s) {
					t.Errorf("session %d on the restarted database survived", i)
				}
			}
			for i, s := range bystanders {
				if !alive(s) {
					t.Errorf("session %d on another database was ended", i)
				}
			}
		})
	}
}

func TestInfo_LiveFiguresFromTheServer(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			db := createDB(t, c, engine, "measured")
			type infoBody struct {
				SizeMB          float64 `json:"size_mb"`
				ConnectionCount int     `json:"connection_count"`
				ConnectionLimit *int    `json:"connection_limit"`
				Owner           string  `json:"owner"`
				CreatedAt       string  `json:"created_at"`
			}
			var before infoBody
			c.Expect(t, http.StatusOK, "GET", path(db, "/info"), nil).Decode(t, &before)
			if before.Owner != db.Username || before.ConnectionLimit == nil || *before.ConnectionLimit != 100 || before.ConnectionCount != 0 {
				t.Fatalf("fresh database: %+v", before)
			}
			s := openSession(t, engine, db)
			defer s.Close()
			fill(t, s, 4<<20)
			var after infoBody
			c.Expect(t, http.StatusOK, "GET", path(db, "/info"), nil).Decode(t, &after)
			if after.SizeMB < before.SizeMB+3 {
				t.Errorf("size %.2f MB -> %.2f MB after writing 4 MB", before.SizeMB, after.SizeMB)
			}
			if after.ConnectionCount != 1 {
				t.Errorf("connection_count = %d with one session open", after.ConnectionCount)
			}
		})
	}
}

// fill writes about n bytes of incompressible data into a new table.
func fill(t *testing.T, s session, n int) {
	t.Helper()
	switch c := s.(type) {
	case pgSession:
		_, err := c.Exec(context.Background(), `CREATE TABLE filler AS
			SELECT g, md5(g::text) || md5((g*7)::text) || md5((g*13)::text) AS v FROM generate_series(1, $1) g`, n/100)
		must(t, err)
	case mySession:
		ctx := context.Background()
		_, err := c.ExecContext(ctx, "CREATE TABLE filler (g INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB")
		must(t, err)
		_, err = c.ExecContext(ctx, "SET SESSION max_recursive_iterations = 1000000")
		must(t, err)
		_, err = c.ExecContext(ctx, `INSERT INTO filler WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < ?)
			SELECT g, CONCAT(MD5(g), MD5(g*7), MD5(g*13)) FROM seq`, n/100)
		must(t, err)
		// InnoDB's size statistics lag until the table is analysed.
		_, err = c.ExecContext(ctx, "ANALYZE TABLE filler")
		must(t, err)
	}
}

func TestDay2_AnotherCustomersDatabaseIs404(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	owner, intruder := e.NewCustomer(t), e.NewCustomer(t)
	for _, engine := range engines {
		db := createDB(t, owner, engine, "guarded")
		for _, req := range []struct {
			method, suffix string
			body           any
		}{
			{"GET", "/credentials", nil},
			{"POST", "/credentials/rotate", nil},
			{"PATCH", "", map[string]any{"connection_limit": 50}},
			{"POST", "/restart", nil},
			{"GET", "/info", nil},
			{"GET", "/metrics", nil},
			{"GET", "/firewall", nil},
			{"POST", "/firewall", map[string]any{"ip_address": "203.0.113.7"}},
			{"DELETE", "/firewall/6f9619ff-8b86-d011-b42d-00c04fc964ff", nil},
			{"GET", "/snapshots", nil},
			{"POST", "/snapshots", nil},
			{"DELETE", "/snapshots/snap_20260101_000000_00000000", nil},
			{"POST", "/restore", map[string]any{"snapshot_id": "snap_20260101_000000_00000000"}},
			{"GET", "/restores/6f9619ff-8b86-d011-b42d-00c04fc964ff", nil},
			{"GET", "/backup-policy", nil},
			{"PUT", "/backup-policy", map[string]any{"enabled": true}},
			{"DELETE", "", nil},
		} {
			checkProblem(t, intruder.Do(t, req.method, path(db, req.suffix), req.body), http.StatusNotFound, "")
		}
		// Nothing changed for the owner.
		if s, err := connectWith(t, engine, db, *db.Password); err != nil {
			t.Fatalf("owner's password changed: %v", err)
		} else {
			s.Close()
		}
	}
	var h history
	intruder.Expect(t, http.StatusOK, "GET", "/v1/databases/history", nil).Decode(t, &h)
	if len(h.Databases) != 0 {
		t.Fatalf("intruder's history shows %d databases", len(h.Databases))
	}
}

type history struct {
	Databases []struct {
		DBName    string  `json:"db_name"`
		DBType    string  `json:"db_type"`
		Status    string  `json:"status"`
		Server    string  `json:"server"`
		DeletedAt *string `json:"deleted_at"`
		Events    []struct {
			Kind       string         `json:"kind"`
			Actor      string         `json:"actor"`
			RequestID  string         `json:"request_id"`
			RemoteAddr string         `json:"remote_addr"`
			Details    map[string]any `json:"details"`
		} `json:"events"`
	} `json:"databases"`
	NextCursor *string `json:"next_cursor"`
}

func TestHistory_EveryDatabaseWithEventsInOrder_MatchesServers(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	start := time.Now().UTC().Add(-time.Second)
	pg := createDB(t, c, "postgresql", "h_one")
	my := createDB(t, c, "mariadb", "h_two")
	gone := createDB(t, c, "postgresql", "h_three")
	reqID := testenv.Header{Name: "X-Request-ID", Value: "audit-" + c.CustomerID}
	c.Expect(t, http.StatusOK, "POST", path(pg, "/credentials/rotate"), nil, reqID)
	c.Expect(t, http.StatusOK, "PATCH", path(pg, ""), map[string]any{"connection_limit": 20})
	c.Expect(t, http.StatusOK, "POST", path(pg, "/restart"), nil)
	c.Expect(t, http.StatusOK, "DELETE", path(gone, ""), nil)

	var h history
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/history", nil).Decode(t, &h)
	if len(h.Databases) != 3 || h.NextCursor != nil {
		t.Fatalf("history: %+v", h)
	}
	kinds := map[string]string{}
	for _, d := range h.Databases {
		var ks []string
		for _, ev := range d.Events {
			ks = append(ks, ev.Kind)
			if !strings.HasPrefix(c.Key, ev.Actor) || ev.RemoteAddr != "127.0.0.1" || ev.RequestID == "" {
				t.Errorf("%s %s: actor %q remote %q request %q", d.DBName, ev.Kind, ev.Actor, ev.RemoteAddr, ev.RequestID)
			}
			if ev.Kind == "rotated" && ev.RequestID != reqID.Value {
				t.Errorf("rotation recorded request id %q, want %q", ev.RequestID, reqID.Value)
			}
		}
		kinds[d.DBName] = strings.Join(ks, ",")
		// The history must match the servers exactly.
		x := e.Inspect(t, d.DBType, c.CustomerID, d.DBName)
		if (d.Status == "active") != (x.Database && x.User && x.Secret) || (d.Status == "deleted") != (!x.Database && !x.User && !x.Secret) {
			t.Errorf("%s is %s in history but on the servers %+v", d.DBName, d.Status, x)
		}
		if d.Server == "" || (d.Status == "deleted") != (d.DeletedAt != nil) {
			t.Errorf("%s: server %q, deleted_at %v", d.DBName, d.Server, d.DeletedAt)
		}
	}
	want := map[string]string{
		pg.DBName:   "created,rotated,updated,restarted",
		my.DBName:   "created",
		gone.DBName: "created,deleted",
	}
	for name, w := range want {
		if kinds[name] != w {
			t.Errorf("%s events %q, want %q", name, kinds[name], w)
		}
	}
	// Audit entries never carry a secret.
	raw := c.Expect(t, http.StatusOK, "GET", "/v1/databases/history", nil).Body
	if strings.Contains(string(raw), *pg.Password) {
		t.Error("history contains a password")
	}

	// Filters.
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/history?db_type=mariadb", nil).Decode(t, &h)
	if len(h.Databases) != 1 || h.Databases[0].DBName != my.DBName {
		t.Errorf("db_type filter: %+v", h.Databases)
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/history?include_deleted=false", nil).Decode(t, &h)
	if len(h.Databases) != 2 {
		t.Errorf("include_deleted=false: %d databases", len(h.Databases))
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/history?since="+time.Now().UTC().Add(time.Hour).Format(time.RFC3339), nil).Decode(t, &h)
	if len(h.Databases) != 2 {
		t.Errorf("since the future: %d databases, want the 2 still alive", len(h.Databases))
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/history?since="+start.Format(time.RFC3339), nil).Decode(t, &h)
	if len(h.Databases) != 3 {
		t.Errorf("since the start: %d databases, want 3", len(h.Databases))
	}

	// Pagination: one at a time, in creation order, nothing missed or repeated.
	var seen []string
	cursor := ""
	for page := 0; page < 5; page++ {
		q := "/v1/databases/history?limit=1"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		c.Expect(t, http.StatusOK, "GET", q, nil).Decode(t, &h)
		for _, d := range h.Databases {
			seen = append(seen, d.DBName)
		}
		if h.NextCursor == nil {
			break
		}
		cursor = *h.NextCursor
	}
	if strings.Join(seen, ",") != strings.Join([]string{pg.DBName, my.DBName, gone.DBName}, ",") {
		t.Errorf("paged history: %v", seen)
	}
	for _, bad := range []string{"limit=0", "limit=201", "limit=x", "cursor=nope", "since=yesterday", "include_deleted=maybe", "db_type=oracle"} {
		field := strings.SplitN(bad, "=", 2)[0]
		checkProblem(t, c.Do(t, "GET", "/v1/databases/history?"+bad, nil), http.StatusUnprocessableEntity, field)
	}
}

func TestIdempotencyKey_RetryGetsFirstResponse(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			key := func(k string) testenv.Header {
				return testenv.Header{Name: "Idempotency-Key", Value: k + "-" + c.CustomerID}
			}
			body := map[string]any{"db_type": engine, "requested_name": "idem"}

			first := c.Expect(t, http.StatusCreated, "POST", "/v1/databases", body, key("create"))
			var db created
			first.Decode(t, &db)
			// The same request (keys in another order) is a retry; its first
			// response carried a password, which is shown once only.
			again := c.Do(t, "POST", "/v1/databases", map[string]any{"requested_name": "idem", "db_type": engine}, key("create"))
			expectSecretNotReplayed(t, again, http.StatusCreated, *db.Password)

			// A response without a secret is replayed verbatim.
			restart1 := c.Expect(t, http.StatusOK, "POST", path(db, "/restart"), nil, key("restart"))
			restart2 := c.Expect(t, http.StatusOK, "POST", path(db, "/restart"), nil, key("restart"))
			if string(restart1.Body) != string(restart2.Body) || restart2.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay differs:\n%s\n%s", restart1.Body, restart2.Body)
			}

			// A retried rotation rotates once; the retry does not show the
			// password again.
			r1 := c.Expect(t, http.StatusOK, "POST", path(db, "/credentials/rotate"), nil, key("rotate"))
			var a rotated
			r1.Decode(t, &a)
			expectSecretNotReplayed(t, c.Do(t, "POST", path(db, "/credentials/rotate"), nil, key("rotate")), http.StatusOK, a.Password)
			s, err := e.Vault(t).KVv2("secret").Get(context.Background(), "cellar/customers/"+c.CustomerID+"/"+engine+"/"+db.DBName)
			if err != nil || s.VersionMetadata.Version != 2 || s.Data["password"] != a.Password {
				t.Fatalf("vault after a retried rotation: version %d, err %v; want exactly one rotation", s.VersionMetadata.Version, err)
			}
			if conn, err := connectWith(t, engine, db, a.Password); err != nil {
				t.Fatalf("the first rotation's password does not work: %v", err)
			} else {
				conn.Close()
			}
			// The stored responses hold no password.
			var leaked int
			must(t, e.Metadata(t).QueryRow(context.Background(),
				"SELECT count(*) FROM idempotency_keys WHERE position($1::bytea in body) > 0 OR position($2::bytea in body) > 0",
				[]byte(a.Password), []byte(*db.Password)).Scan(&leaked))
			if leaked != 0 {
				t.Fatal("a password is stored in idempotency_keys")
			}

			// The same key with another request is refused.
			checkProblem(t, c.Do(t, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": "other"}, key("create")),
				http.StatusUnprocessableEntity, "Idempotency-Key")
			checkProblem(t, c.Do(t, "POST", path(db, "/restart"), nil, key("rotate")), http.StatusUnprocessableEntity, "Idempotency-Key")
			checkProblem(t, c.Do(t, "POST", path(db, "/restart"), nil, testenv.Header{Name: "Idempotency-Key", Value: "bad key with spaces"}),
				http.StatusBadRequest, "")
			// Errors are replayed too (4xx): a retried delete of a missing database stays 404.
			missing := "/v1/databases/" + engine + "/cust_" + c.CustomerID + "_" + shortOf(engine) + "_missing"
			checkProblem(t, c.Do(t, "DELETE", missing, nil, key("delete")), http.StatusNotFound, "")
			checkProblem(t, c.Do(t, "DELETE", missing, nil, key("delete")), http.StatusNotFound, "")
		})
	}
}

func TestIdempotencyKey_ConcurrentRetriesRotateOnce(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	db := createDB(t, c, "postgresql", "idemrace")
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	passwords := make([]string, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.Do(t, "POST", path(db, "/credentials/rotate"), nil, testenv.Header{Name: "Idempotency-Key", Value: "race-" + c.CustomerID})
			statuses[i] = r.Status
			if r.Status == http.StatusOK {
				var rot rotated
				r.Decode(t, &rot)
				passwords[i] = rot.Password
			}
		}()
	}
	wg.Wait()
	distinct := map[string]bool{}
	for i, s := range statuses {
		switch s {
		case http.StatusOK:
			distinct[passwords[i]] = true
		case http.StatusConflict:
		default:
			t.Errorf("status %d", s)
		}
	}
	s, err := e.Vault(t).KVv2("secret").Get(context.Background(), "cellar/customers/"+c.CustomerID+"/postgresql/"+db.DBName)
	if err != nil || s.VersionMetadata.Version != 2 || len(distinct) != 1 {
		t.Fatalf("%d distinct passwords, vault version %d (%v): want exactly one rotation", len(distinct), s.VersionMetadata.Version, err)
	}
}

func shortOf(engine string) string {
	if engine == "postgresql" {
		return "pg"
	}
	return "my"
}
