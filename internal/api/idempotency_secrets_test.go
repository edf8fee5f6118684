package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/testenv"
)

// secretNotReplayed is the answer to a retry of a request whose response
// carried a secret.
type secretNotReplayed struct {
	Type             string          `json:"type"`
	Status           int             `json:"status"`
	Detail           string          `json:"detail"`
	OriginalStatus   int             `json:"original_status"`
	OriginalResponse json.RawMessage `json:"original_response"`
}

// expectSecretNotReplayed checks that a retry answers 409
// secret-not-replayed, names the first status, and carries no secret.
func expectSecretNotReplayed(t *testing.T, r *testenv.Response, firstStatus int, secrets ...string) map[string]any {
	t.Helper()
	checkProblem(t, r, http.StatusConflict, "")
	var p secretNotReplayed
	r.Decode(t, &p)
	if p.Type != "/problems/secret-not-replayed" || p.OriginalStatus != firstStatus || r.Header.Get("Idempotent-Replayed") != "true" ||
		!strings.Contains(p.Detail, "shown only once") {
		t.Fatalf("replay of a secret-bearing response: %s", r.Body)
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(r.Body, []byte(s)) {
			t.Fatalf("the replay shows the secret again: %s", r.Body)
		}
	}
	var orig map[string]any
	if len(p.OriginalResponse) > 0 {
		if err := json.Unmarshal(p.OriginalResponse, &orig); err != nil {
			t.Fatalf("original_response: %v", err)
		}
	}
	return orig
}

// idempotencyRowsContaining counts the rows of idempotency_keys (read
// directly with SQL) that hold any of the values anywhere.
func idempotencyRowsContaining(t *testing.T, e *testenv.Env, values ...string) int {
	t.Helper()
	rows, err := e.Metadata(t).Query(context.Background(),
		"SELECT idem_key, coalesce(content_type, ''), coalesce(body, ''::bytea), fingerprint FROM idempotency_keys")
	must(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var key, ct string
		var body, fp []byte
		must(t, rows.Scan(&key, &ct, &body, &fp))
		for _, v := range values {
			if v != "" && (bytes.Contains(body, []byte(v)) || strings.Contains(key+ct, v) || bytes.Contains(fp, []byte(v))) {
				n++
				break
			}
		}
	}
	must(t, rows.Err())
	return n
}

// Every secret-bearing call made with an Idempotency-Key (key creation,
// database creation, rotation, restore to a new database) leaves no secret
// in idempotency_keys, and its retry answers 409 secret-not-replayed with
// the first response minus the secret; no log holds the secrets either.
func TestIdempotencyKey_SecretBearingResponses_SecretNeverStored_RetryExplains(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	var secrets []string
	idem := func(k string) testenv.Header { return testenv.Header{Name: "Idempotency-Key", Value: k} }

	t.Run("api key", func(t *testing.T) {
		customer := "t" + strings.ToLower(cellar.RandomToken(9))
		body := map[string]any{"name": "idem", "customer_id": customer, "permissions": []string{"database:read"}}
		first := e.Admin().Expect(t, http.StatusCreated, "POST", "/v1/admin/keys", body, idem("key-"+customer))
		if first.Header.Get("Cache-Control") != "no-store" {
			t.Error("key creation is not no-store")
		}
		var k struct {
			ID, Prefix, Key string
		}
		first.Decode(t, &k)
		secrets = append(secrets, k.Key)
		if n := idempotencyRowsContaining(t, e, k.Key); n != 0 {
			t.Fatalf("the new API key is stored in %d idempotency_keys rows", n)
		}
		orig := expectSecretNotReplayed(t, e.Admin().Do(t, "POST", "/v1/admin/keys", body, idem("key-"+customer)), http.StatusCreated, k.Key)
		if orig["id"] != k.ID || orig["prefix"] != k.Prefix || orig["key"] != nil {
			t.Fatalf("original_response should name the key without its secret: %v", orig)
		}
		// The key made by the first request works: the retry made no second one.
		e.Client(k.Key, customer).Expect(t, http.StatusOK, "GET", "/v1/me", nil)
	})

	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			c := e.NewCustomer(t)
			body := map[string]any{"db_type": engine, "requested_name": "idemsecret"}
			first := c.Expect(t, http.StatusCreated, "POST", "/v1/databases", body, idem("create-"+c.CustomerID))
			var db created
			first.Decode(t, &db)
			secrets = append(secrets, *db.Password)
			if first.Header.Get("Cache-Control") != "no-store" {
				t.Error("database creation is not no-store")
			}
			if n := idempotencyRowsContaining(t, e, *db.Password); n != 0 {
				t.Fatalf("the password is stored in %d idempotency_keys rows", n)
			}
			orig := expectSecretNotReplayed(t, c.Do(t, "POST", "/v1/databases", body, idem("create-"+c.CustomerID)), http.StatusCreated, *db.Password)
			if orig["db_name"] != db.DBName || orig["password"] != nil || orig["connection_string"] != nil {
				t.Fatalf("original_response should name the database without its password: %v", orig)
			}

			// Reading the credentials shows no password (so needs no no-store);
			// rotating is the way back to a working one.
			cr := c.Expect(t, http.StatusOK, "GET", path(db, "/credentials"), nil)
			if bytes.Contains(cr.Body, []byte(*db.Password)) {
				t.Error("GET credentials shows the password")
			}

			r1 := c.Expect(t, http.StatusOK, "POST", path(db, "/credentials/rotate"), nil, idem("rotate-"+c.CustomerID))
			var rot rotated
			r1.Decode(t, &rot)
			secrets = append(secrets, rot.Password)
			if r1.Header.Get("Cache-Control") != "no-store" {
				t.Error("rotation is not no-store")
			}
			if n := idempotencyRowsContaining(t, e, rot.Password); n != 0 {
				t.Fatalf("the rotated password is stored in %d idempotency_keys rows", n)
			}
			expectSecretNotReplayed(t, c.Do(t, "POST", path(db, "/credentials/rotate"), nil, idem("rotate-"+c.CustomerID)), http.StatusOK, rot.Password)
			// Rotated once: the password of the first answer still works.
			if conn, err := connectWith(t, engine, db, rot.Password); err != nil {
				t.Fatalf("the first rotation's password does not work (rotated twice?): %v", err)
			} else {
				conn.Close()
			}

			// Restore into a new database returns its credentials once.
			snap := takeSnapshot(t, c, db, "for idempotency")
			waitSnapshot(t, c, db, snap.SnapshotID)
			rbody := map[string]any{"snapshot_id": snap.SnapshotID, "target_db_name": "idemcopy"}
			rr := c.Do(t, "POST", path(db, "/restore"), rbody, idem("restore-"+c.CustomerID))
			if rr.Status != http.StatusOK && rr.Status != http.StatusAccepted {
				t.Fatalf("restore to a new name: %d %s", rr.Status, rr.Body)
			}
			var restored struct {
				Password *string `json:"password"`
			}
			rr.Decode(t, &restored)
			if restored.Password == nil || rr.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("restore to a new name should show the new password once, no-store: %s", rr.Body)
			}
			secrets = append(secrets, *restored.Password)
			if n := idempotencyRowsContaining(t, e, *restored.Password); n != 0 {
				t.Fatalf("the restored database's password is stored in %d idempotency_keys rows", n)
			}
			expectSecretNotReplayed(t, c.Do(t, "POST", path(db, "/restore"), rbody, idem("restore-"+c.CustomerID)), rr.Status, *restored.Password)
		})
	}

	t.Cleanup(func() {
		// No log of the server (request logs, errors) holds any of them.
		logs, _ := filepath.Glob(filepath.Join(e.Dir, "*.log"))
		if len(logs) == 0 {
			t.Error("no server log to search")
		}
		for _, f := range logs {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, s := range secrets {
				if bytes.Contains(data, []byte(s)) {
					t.Errorf("a secret appears in %s", f)
				}
			}
		}
	})
}
