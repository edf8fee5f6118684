package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/service"
)

// A response that carried a secret (a password, an API key, a connection
// string with a password) is never stored whole for an Idempotency-Key:
// the secret is shown once, in the first response. Its replay is a 409
// problem of type /problems/secret-not-replayed, which says that the first
// request succeeded, with which status, and what it answered minus the
// secret, so a client can tell "already done, secret lost" from a failure
// and act: rotate the credentials, or revoke the key and make a new one.
// A 409 rather than the first status with the secret left out, so that a
// client that does not look for the explanation fails loudly instead of
// going on with an empty password.

const secretNotReplayedSlug = "secret-not-replayed"

// secretNotReplayed is the problem a replay of a secret-bearing response
// answers with: a problem+json body with two extension members.
type secretNotReplayed struct {
	problem
	// OriginalStatus is the status of the first response (201, 200, 202).
	OriginalStatus int `json:"original_status"`
	// OriginalResponse is the first response without its secret members;
	// absent when the response could not be redacted with certainty.
	OriginalResponse json.RawMessage `json:"original_response,omitempty"`
}

// replayWithheld answers the replay of a response whose secret was not
// stored.
func (s *Server) replayWithheld(w http.ResponseWriter, r *http.Request, stored *service.StoredResponse) {
	k := kinds[cellar.CodeConflict]
	p := secretNotReplayed{
		problem: problem{
			Type: problemTypeBase + secretNotReplayedSlug, Title: "Secret shown only once", Status: k.status,
			Detail: fmt.Sprintf("A request with this Idempotency-Key already succeeded (status %d). Its response carried a secret "+
				"(a password or an API key), which is shown only once and never stored, so it is not sent again; "+
				"original_response is that response without the secret. To get a working secret, rotate the "+
				"database's credentials, or revoke the API key and create a new one.", stored.Status),
			Instance: r.URL.Path, RequestID: requestIDFrom(r.Context()),
		},
		OriginalStatus: stored.Status,
	}
	if len(stored.Body) > 0 && json.Valid(stored.Body) {
		p.OriginalResponse = stored.Body
	}
	w.Header().Set("Content-Type", "application/problem+json")
	writeJSON(w, p.Status, p)
}

// withholdSecrets returns body without any JSON member (at any depth) whose
// string value contains one of secrets, or nil when that cannot be done
// with certainty: no secret was named (the response was only marked
// no-store), the body is not JSON, or a secret is still in the result.
func withholdSecrets(body []byte, secrets []string) []byte {
	if len(secrets) == 0 || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	out, err := json.Marshal(redact(v, secrets))
	if err != nil {
		return nil
	}
	for _, sec := range secrets {
		escaped, _ := json.Marshal(sec)
		if bytes.Contains(out, []byte(sec)) || bytes.Contains(out, bytes.Trim(escaped, `"`)) {
			return nil
		}
	}
	return out
}

// redact removes from v every object member whose string value contains a
// secret, and nulls such strings inside arrays.
func redact(v any, secrets []string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, m := range x {
			if str, ok := m.(string); ok && containsAny(str, secrets) {
				delete(x, k)
				continue
			}
			x[k] = redact(m, secrets)
		}
		return x
	case []any:
		for i, m := range x {
			x[i] = redact(m, secrets)
		}
		return x
	case string:
		if containsAny(x, secrets) {
			return nil
		}
		return x
	default:
		return v
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
