package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWithholdSecrets_RemovesEveryMemberThatHoldsOne(t *testing.T) {
	const pw = "Zq9xPassw0rdZq9x"
	body := []byte(`{"db_name":"cust_a_pg_x","password":"` + pw + `","connection_string":"postgresql://u:` + pw + `@h:5432/x",` +
		`"nested":{"dsn":"mysql://u:` + pw + `@h/x","ok":1},"list":["a","` + pw + `"],"port":5432}`)
	out := string(withholdSecrets(body, []string{pw}))
	if out == "" || strings.Contains(out, pw) {
		t.Fatalf("redacted: %q", out)
	}
	for _, keep := range []string{`"db_name":"cust_a_pg_x"`, `"port":5432`, `"ok":1`, `"list":["a",null]`} {
		if !strings.Contains(out, keep) {
			t.Errorf("lost %s: %s", keep, out)
		}
	}
	for _, gone := range []string{"password", "connection_string", "dsn"} {
		if strings.Contains(out, gone) {
			t.Errorf("kept %s: %s", gone, out)
		}
	}
	// Nothing named, or not JSON: nothing is kept.
	if withholdSecrets(body, nil) != nil || withholdSecrets([]byte("key="+pw), []string{pw}) != nil {
		t.Fatal("kept a body it could not redact with certainty")
	}
}

// A handler that marks a secret but forgets Cache-Control gets no-store
// anyway, and the response counts as secret-bearing.
func TestRecorder_MarkedSecretForcesNoStore(t *testing.T) {
	w := httptest.NewRecorder()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK, slot: &secretSlot{secrets: []string{"s3cret"}}}
	rec.Write([]byte(`{"key":"s3cret"}`))
	if w.Header().Get("Cache-Control") != "no-store" || !rec.carriesSecret() {
		t.Fatalf("headers %v", w.Header())
	}
	plain := &recorder{ResponseWriter: httptest.NewRecorder(), status: http.StatusOK, slot: &secretSlot{}}
	plain.Header().Set("Cache-Control", "private, no-store")
	if !plain.carriesSecret() {
		t.Fatal("a no-store response must count as secret-bearing")
	}
}
