package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/service"
)

// FuzzDecode feeds arbitrary bodies and Content-Types to decode for every
// request type the API reads. Invariants:
//   - it never panics, and neither does the request's own validation;
//   - a refusal is a client error (malformed, invalid, unsupported, too
//     large) carrying no wrapped cause, so no internals can reach a response;
//   - an accepted body is one JSON object (never null, which would decode
//     to an all-zero request), and the value it gives survives a round
//     trip: encoded and decoded again it is accepted and equal.
//
// The seeds run in plain `go test`; explore with
// go test -short -run='^$' -fuzz=FuzzDecode ./internal/api
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"db_type":"postgresql","requested_name":"orders"}`,
		`{"db_type":"mariadb","requested_name":null,"customer_id":"acme"}`,
		`{"db_type":"postgresql","db_name":"cust_acme_pg_orders","username":"x"}`,
		`{"ip_address":"10.0.0.0/24","description":"office"}`,
		`{"name":"ci","customer_id":"acme","permissions":["database:read"],"internal":false}`,
		`{"terminate_sessions":true}`,
		`{"description":"before migration"}`,
		`{"max_databases":3,"max_storage_gb":1.5}`,
		`{"snapshot_id":"snap_20260101_000000_abcdef01","target_db_name":"copy"}`,
		`{"enabled":true,"schedule":"daily","retention_days":7}`,
		`{}`, ``, ` `, `null`, ` null `, `[]`, `"x"`, `1`, `true`,
		`{"db_type":1}`, `{"unknown":1}`, `{"a":1}{"b":2}`, `{"db_type":"postgresql"`, `{"db_type":"\ud800"}`,
		`{"max_databases":1e400}`, `{"max_databases":-1}`, `{"db_type":"postgresql","db_type":"mariadb"}`,
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{}`), "")
	f.Add([]byte(`{}`), "text/plain")
	f.Add([]byte(`{}`), "application/json; charset=latin1")
	f.Add([]byte(`{}`), "application/json; charset=UTF-8")
	f.Add([]byte(`{}`), "application/json; charset")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		checkDecode[service.CreateDatabaseRequest](t, body, contentType, true)
		checkDecode[service.DeleteDatabaseRequest](t, body, contentType, true)
		// Optional fields are decode-only (no MarshalJSON: "left out" and
		// null differ only on the way in), so no round trip here.
		checkDecode[service.UpdateDatabaseRequest](t, body, contentType, false)
		checkDecode[service.AddAccessRuleRequest](t, body, contentType, true)
		checkDecode[service.CreateKeyRequest](t, body, contentType, true)
		checkDecode[service.RotateRequest](t, body, contentType, true)
		checkDecode[service.CreateSnapshotRequest](t, body, contentType, true)
		checkDecode[service.RestoreRequest](t, body, contentType, true)
		checkDecode[service.BackupPolicyRequest](t, body, contentType, true)
		checkDecode[service.QuotaOverride](t, body, contentType, true)
	})
}

// clientErrors are the codes a body alone may earn.
var clientErrors = map[cellar.Code]bool{
	cellar.CodeMalformed: true, cellar.CodeInvalid: true, cellar.CodeUnsupported: true, cellar.CodeTooLarge: true,
}

func checkDecode[T any](t *testing.T, body []byte, contentType string, roundTrip bool) {
	t.Helper()
	v, err := decode[T](request(body, contentType))
	if err != nil {
		var ce *cellar.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%T: refusal without a code: %v", v, err)
		}
		if !clientErrors[ce.Code] || ce.Err != nil {
			t.Fatalf("%T: refusal %q (code %s, cause %v) is not a plain client error", v, ce.Message, ce.Code, ce.Err)
		}
		return
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		t.Fatalf("%T: accepted a body that is not a JSON object: %q", v, body)
	}
	validate(&v)
	if !roundTrip {
		return
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%T: re-encode: %v", v, err)
	}
	w, err := decode[T](request(again, "application/json"))
	if err != nil {
		t.Fatalf("%T: the re-encoded value %s is refused: %v", v, again, err)
	}
	if !reflect.DeepEqual(v, w) {
		t.Fatalf("%T: round trip changed the value: %+v became %+v", v, v, w)
	}
}

// validate runs a request type's own checks, whatever they return.
func validate(v any) {
	switch r := v.(type) {
	case interface{ Validate() error }:
		_ = r.Validate()
	case *service.AddAccessRuleRequest:
		_, _ = r.Validate()
	}
}

// request is a POST carrying body with the given Content-Type ("" for none).
func request(body []byte, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}
