package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/service"
)

// idempotent makes state-changing requests that carry an Idempotency-Key
// safe to retry: the first response is stored and sent again for a retry
// with the same key and request, so a retried rotation never rotates twice.
// Server errors (5xx) are not stored, so they can be retried for real.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" || r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if !validIdempotencyKey(key) {
			writeProblem(w, r, cellar.CodeMalformed, "Idempotency-Key must be 1 to 255 visible ASCII characters", nil)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, r, s.log, decodeReadError(err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		c := caller(r)
		outcome, stored, err := s.svc.ClaimIdempotencyKey(r.Context(), c, key, fingerprint(r, body))
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if outcome == service.ClaimReplay {
			s.replay(w, r, stored)
			return
		}

		slot := &secretSlot{}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), secretSlotKey{}, slot)))

		// The outcome must be recorded even if the client has gone.
		ctx := context.WithoutCancel(r.Context())
		if rec.status >= 500 {
			if err := s.svc.ReleaseIdempotencyKey(ctx, c, key); err != nil {
				s.log.ErrorContext(ctx, "release idempotency key", "err", err)
			}
			return
		}
		resp := service.StoredResponse{Status: rec.status, ContentType: rec.Header().Get("Content-Type"), Body: rec.body.Bytes()}
		if slot.password != "" {
			resp.Body = bytes.ReplaceAll(resp.Body, []byte(slot.password), []byte(service.SecretPlaceholder))
			resp.SecretPath, resp.SecretVersion = slot.path, slot.version
		}
		if err := s.svc.CompleteIdempotencyKey(ctx, c, key, resp); err != nil {
			s.log.ErrorContext(ctx, "store idempotent response", "err", err)
		}
	})
}

// replay sends a stored response again, with its password read back from
// Vault.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, stored *service.StoredResponse) {
	body := stored.Body
	if stored.SecretPath != "" {
		pw, err := s.svc.RevealSecret(r.Context(), stored.SecretPath, stored.SecretVersion)
		if err != nil {
			s.log.WarnContext(r.Context(), "replay: stored secret unavailable", "err", err)
			writeProblem(w, r, cellar.CodeConflict,
				"the first response to this Idempotency-Key can no longer be reproduced (its password has since been replaced)", nil)
			return
		}
		body = bytes.ReplaceAll(body, []byte(service.SecretPlaceholder), []byte(pw))
		noStore(w)
	}
	w.Header().Set("Content-Type", stored.ContentType)
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(stored.Status)
	w.Write(body)
}

func validIdempotencyKey(k string) bool {
	if len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// fingerprint identifies a request: method, path, query and body. A JSON
// body is compared by meaning (key order and spacing do not matter).
func fingerprint(r *http.Request, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(r.Method + "\n" + r.URL.Path + "\n" + r.URL.RawQuery + "\n"))
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if len(bytes.TrimSpace(body)) > 0 && dec.Decode(&v) == nil {
		canonical, _ := json.Marshal(v) // map keys are sorted
		h.Write(canonical)
	} else {
		h.Write(body)
	}
	return h.Sum(nil)
}

// secretSlot is where a handler notes the password its response carries,
// so the stored copy can leave it out.
type secretSlot struct {
	password string
	path     string
	version  int
}

type secretSlotKey struct{}

// rememberSecret tells the idempotency layer, if any, which password the
// response carries and where Vault keeps it.
func rememberSecret(ctx context.Context, password, path string, version int) {
	if slot, ok := ctx.Value(secretSlotKey{}).(*secretSlot); ok && !strings.Contains(password, service.SecretPlaceholder) {
		slot.password, slot.path, slot.version = password, path, version
	}
}

// recorder passes a response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
