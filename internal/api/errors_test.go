package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/testenv"
)

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// leaks are fragments that must never reach a client: internals of the
// server, its drivers and its SQL.
var leaks = []string{"goroutine", "panic", ".go:", "pgx", "SQLSTATE", "mysql", "SELECT", "INSERT", "CREATE ROLE", "vault", "runtime."}

func checkProblem(t *testing.T, r *testenv.Response, status int, field string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	var p problemBody
	r.Decode(t, &p)
	if p.Status != status || p.Title == "" || p.Detail == "" || p.Type == "" || p.RequestID == "" {
		t.Errorf("incomplete problem: %s", r.Body)
	}
	// A replayed response (Idempotency-Key) is the first one, verbatim.
	if p.RequestID != r.Header.Get("X-Request-ID") && r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("problem request_id %q != header %q", p.RequestID, r.Header.Get("X-Request-ID"))
	}
	if field != "" {
		found := false
		for _, fe := range p.Errors {
			found = found || fe.Field == field && fe.Message != ""
		}
		if !found {
			t.Errorf("problem does not name field %q: %s", field, r.Body)
		}
	}
	// Only what the server wrote in words: the random request id could
	// spell anything.
	text := strings.ToLower(p.Title + " " + p.Detail)
	for _, fe := range p.Errors {
		text += " " + strings.ToLower(fe.Message)
	}
	for _, l := range leaks {
		if strings.Contains(text, strings.ToLower(l)) {
			t.Errorf("problem leaks %q: %s", l, r.Body)
		}
	}
}

func TestBadInput_EachGetsAClearProblem(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	ct := func(v string) testenv.Header { return testenv.Header{Name: "Content-Type", Value: v} }
	noCT := testenv.Header{Name: "Content-Type"}
	tooBig := `{"db_type":"postgresql","requested_name":"` + strings.Repeat("a", 70_000) + `"}`
	otherEngine := "cust_" + c.CustomerID + "_my_orders"

	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []testenv.Header
		status  int
		field   string
	}{
		{"malformed JSON", "POST", "/v1/databases", `{"db_type":`, nil, 400, ""},
		{"not JSON at all", "POST", "/v1/databases", `hello`, nil, 400, ""},
		{"empty body", "POST", "/v1/databases", ``, nil, 400, ""},
		{"whitespace body", "POST", "/v1/databases", "  \n", nil, 400, ""},
		{"array body", "POST", "/v1/databases", `[]`, nil, 400, ""},
		{"number body", "POST", "/v1/databases", `42`, nil, 400, ""},
		{"two JSON values", "POST", "/v1/databases", `{"db_type":"mariadb"}{}`, nil, 400, ""},
		{"missing db_type", "POST", "/v1/databases", `{}`, nil, 422, "db_type"},
		{"null db_type", "POST", "/v1/databases", `{"db_type":null}`, nil, 422, "db_type"},
		{"unknown engine", "POST", "/v1/databases", `{"db_type":"oracle"}`, nil, 422, "db_type"},
		{"engine wrong case", "POST", "/v1/databases", `{"db_type":"PostgreSQL"}`, nil, 422, "db_type"},
		{"engine as number", "POST", "/v1/databases", `{"db_type":5}`, nil, 422, "db_type"},
		{"empty requested_name", "POST", "/v1/databases", `{"db_type":"postgresql","requested_name":""}`, nil, 422, "requested_name"},
		{"requested_name 31 chars", "POST", "/v1/databases", `{"db_type":"postgresql","requested_name":"` + strings.Repeat("a", 31) + `"}`, nil, 422, "requested_name"},
		{"requested_name hyphen", "POST", "/v1/databases", `{"db_type":"postgresql","requested_name":"web-app"}`, nil, 422, "requested_name"},
		{"requested_name space", "POST", "/v1/databases", `{"db_type":"mariadb","requested_name":"web app"}`, nil, 422, "requested_name"},
		{"requested_name SQL injection", "POST", "/v1/databases", `{"db_type":"postgresql","requested_name":"x\"; DROP DATABASE postgres; --"}`, nil, 422, "requested_name"},
		{"requested_name backtick", "POST", "/v1/databases", "{\"db_type\":\"mariadb\",\"requested_name\":\"a`b\"}", nil, 422, "requested_name"},
		{"requested_name unicode", "POST", "/v1/databases", `{"db_type":"postgresql","requested_name":"ünïcode"}`, nil, 422, "requested_name"},
		{"requested_name number", "POST", "/v1/databases", `{"db_type":"postgresql","requested_name":123}`, nil, 422, "requested_name"},
		{"requested_name array", "POST", "/v1/databases", `{"db_type":"postgresql","requested_name":["a"]}`, nil, 422, "requested_name"},
		{"misspelt field", "POST", "/v1/databases", `{"db_type":"postgresql","requested_nmae":"x"}`, nil, 422, "requested_nmae"},
		{"malformed customer_id", "POST", "/v1/databases", `{"db_type":"postgresql","customer_id":"BAD-ID"}`, nil, 422, "customer_id"},
		{"text/plain body", "POST", "/v1/databases", `{"db_type":"postgresql"}`, []testenv.Header{ct("text/plain")}, 415, ""},
		{"no Content-Type", "POST", "/v1/databases", `{"db_type":"postgresql"}`, []testenv.Header{noCT}, 415, ""},
		{"form encoded", "POST", "/v1/databases", `db_type=postgresql`, []testenv.Header{ct("application/x-www-form-urlencoded")}, 415, ""},
		{"latin1 charset", "POST", "/v1/databases", `{"db_type":"postgresql"}`, []testenv.Header{ct("application/json; charset=latin1")}, 415, ""},
		{"body over the limit", "POST", "/v1/databases", tooBig, nil, 413, ""},
		{"delete without db_name", "DELETE", "/v1/databases", `{"db_type":"postgresql"}`, nil, 422, "db_name"},
		{"delete without db_type", "DELETE", "/v1/databases", `{"db_name":"cust_a_pg_b"}`, nil, 422, "db_type"},
		{"delete non-Cellar name", "DELETE", "/v1/databases", `{"db_type":"postgresql","db_name":"postgres"}`, nil, 422, "db_name"},
		{"delete name of other engine", "DELETE", "/v1/databases", `{"db_type":"postgresql","db_name":"` + otherEngine + `"}`, nil, 422, "db_name"},
		{"delete with foreign username", "DELETE", "/v1/databases", `{"db_type":"mariadb","db_name":"` + otherEngine + `","username":"root"}`, nil, 422, "username"},
		{"delete injection in name", "DELETE", "/v1/databases", `{"db_type":"postgresql","db_name":"cust_a_pg_b; DROP TABLE x"}`, nil, 422, "db_name"},
		{"delete empty body", "DELETE", "/v1/databases", ``, nil, 400, ""},
		{"list unknown engine", "GET", "/v1/databases/oracle", nil, nil, 422, "db_type"},
		{"delete path unknown engine", "DELETE", "/v1/databases/redis/cust_a_pg_b", nil, nil, 422, "db_type"},
		{"delete path malformed name", "DELETE", "/v1/databases/postgresql/template1", nil, nil, 422, "db_name"},
		{"delete path absent database", "DELETE", "/v1/databases/postgresql/cust_" + c.CustomerID + "_pg_nothing_here", nil, nil, 404, ""},
		{"delete path username mismatch", "DELETE", "/v1/databases/postgresql/cust_" + c.CustomerID + "_pg_x?username=postgres", nil, nil, 422, "username"},
		{"unknown endpoint", "GET", "/v1/nothing", nil, nil, 404, ""},
		{"wrong method", "PUT", "/v1/databases", `{}`, nil, 405, ""},
		{"admin endpoint with customer key", "GET", "/v1/admin/keys", nil, nil, 403, ""},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Do(t, tc.method, tc.path, tc.body, tc.headers...)
			checkProblem(t, r, tc.status, tc.field)
		})
	}
}

func TestAuth_MissingUnknownRevokedKeysAre401_MissingPermissionIs403(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	body := map[string]any{"db_type": "postgresql", "requested_name": "authz"}

	anon := e.Client("", "")
	checkProblem(t, anon.Do(t, "POST", "/v1/databases", body), 401, "")
	checkProblem(t, e.Client("ck_deadbeef_"+cellar.RandomToken(40), "").Do(t, "POST", "/v1/databases", body), 401, "")
	checkProblem(t, e.Client(strings.Repeat("k", 300), "").Do(t, "GET", "/v1/databases/postgresql", nil), 401, "")

	reader := e.NewCustomer(t, cellar.PermDatabaseRead)
	checkProblem(t, reader.Do(t, "POST", "/v1/databases", body), 403, "")
	checkProblem(t, reader.Do(t, "DELETE", "/v1/databases/postgresql/cust_"+reader.CustomerID+"_pg_authz", nil), 403, "")
	reader.Expect(t, http.StatusOK, "GET", "/v1/databases/postgresql", nil)

	creator := e.NewCustomer(t, cellar.PermDatabaseCreate)
	checkProblem(t, creator.Do(t, "GET", "/v1/databases/mariadb", nil), 403, "")

	// Revoke by prefix; the key stops working at once.
	var keys struct {
		Keys []struct {
			Prefix     string  `json:"prefix"`
			CustomerID string  `json:"customer_id"`
			RevokedAt  *string `json:"revoked_at"`
		} `json:"keys"`
	}
	e.Admin().Expect(t, http.StatusOK, "GET", "/v1/admin/keys", nil).Decode(t, &keys)
	prefix := ""
	for _, k := range keys.Keys {
		if k.CustomerID == reader.CustomerID {
			prefix = k.Prefix
		}
	}
	if prefix == "" || !strings.HasPrefix(reader.Key, prefix) {
		t.Fatalf("key of %s not listed by its prefix", reader.CustomerID)
	}
	e.Admin().Expect(t, http.StatusOK, "DELETE", "/v1/admin/keys/"+prefix, nil, testenv.Header{Name: "X-Request-ID", Value: "revoke-" + prefix})
	checkProblem(t, reader.Do(t, "GET", "/v1/databases/postgresql", nil), 401, "")
	// Both the creation and the revocation are in the audit log, with who,
	// from where and which request.
	var actions []string
	rows, err := e.Metadata(t).Query(context.Background(),
		"SELECT action || ':' || actor || ':' || remote_addr || ':' || (request_id <> '') FROM audit_log WHERE resource = $1 ORDER BY id", prefix)
	must(t, err)
	for rows.Next() {
		var a string
		must(t, rows.Scan(&a))
		actions = append(actions, a)
	}
	admin := e.AdminKey[:11]
	if want := "api_key.created:" + admin + ":127.0.0.1:true,api_key.revoked:" + admin + ":127.0.0.1:true"; strings.Join(actions, ",") != want {
		t.Errorf("audit log %v, want %s", actions, want)
	}
	checkProblem(t, e.Admin().Do(t, "DELETE", "/v1/admin/keys/"+prefix, nil), 409, "")
	checkProblem(t, e.Admin().Do(t, "DELETE", "/v1/admin/keys/ck_nope", nil), 404, "")
	checkProblem(t, e.Admin().Do(t, "POST", "/v1/admin/keys", map[string]any{"customer_id": "x", "permissions": []string{"root"}}), 422, "permissions")
}

func TestCrossCustomer_AnotherCustomersDatabaseIs404Everywhere(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	owner, intruder := e.NewCustomer(t), e.NewCustomer(t)
	for _, engine := range []string{"postgresql", "mariadb"} {
		db := createDB(t, owner, engine, "secret_stuff")
		checkProblem(t, intruder.Do(t, "DELETE", "/v1/databases/"+engine+"/"+db.DBName, nil), 404, "")
		checkProblem(t, intruder.Do(t, "DELETE", "/v1/databases", map[string]any{"db_type": engine, "db_name": db.DBName}), 404, "")
		// A name that does not exist at all reads the same.
		missing := intruder.Do(t, "DELETE", "/v1/databases/"+engine+"/cust_"+owner.CustomerID+"_"+cellar.Engine(engine).Short()+"_no_such_db", nil)
		checkProblem(t, missing, 404, "")
		var l listed
		intruder.Expect(t, http.StatusOK, "GET", "/v1/databases/"+engine, nil).Decode(t, &l)
		if len(l.Databases) != 0 {
			t.Fatalf("intruder lists %v", names(l))
		}
		if x := e.Inspect(t, engine, owner.CustomerID, db.DBName); !x.Database || !x.User || !x.Secret {
			t.Fatalf("owner's database damaged: %+v", x)
		}
	}
}

func TestRequestID_EchoedOrGenerated(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	c := e.NewCustomer(t)
	r := c.Do(t, "GET", "/v1/databases/postgresql", nil, testenv.Header{Name: "X-Request-ID", Value: "trace-123"})
	if r.Header.Get("X-Request-ID") != "trace-123" {
		t.Errorf("request id not echoed: %q", r.Header.Get("X-Request-ID"))
	}
	r = c.Do(t, "GET", "/v1/databases/postgresql", nil, testenv.Header{Name: "X-Request-ID", Value: "bad id\twith junk"})
	if id := r.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, "junk") {
		t.Errorf("unsafe request id accepted: %q", id)
	}
}
