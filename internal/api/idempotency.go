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
		rec := &recorder{ResponseWriter: w, status: http.StatusOK, slot: slot}
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
		if rec.carriesSecret() {
			resp.Body, resp.SecretWithheld = withholdSecrets(resp.Body, slot.secrets), true
		}
		if err := s.svc.CompleteIdempotencyKey(ctx, c, key, resp); err != nil {
			s.log.ErrorContext(ctx, "store idempotent response", "err", err)
		}
	})
}

// replay sends a stored response again. A response that carried a secret
// is not sent again: see replayWithheld.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, stored *service.StoredResponse) {
	w.Header().Set("Idempotent-Replayed", "true")
	if stored.SecretWithheld {
		s.replayWithheld(w, r, stored)
		return
	}
	w.Header().Set("Content-Type", stored.ContentType)
	w.WriteHeader(stored.Status)
	_, _ = w.Write(stored.Body) // the client went away; nothing to do
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

// secretSlot is where a handler notes the secrets its response carries,
// so that the stored copy can leave them out.
type secretSlot struct {
	secrets []string
}

type secretSlotKey struct{}

// markSecret tells the idempotency layer, if any, that the response carries
// these secret values (a password, an API key); the endpoint adapter calls
// it with what a response's Secrets names. The stored copy of the
// response leaves out every member that contains one; the response itself
// is made no-store even if the handler forgets to.
func markSecret(ctx context.Context, secrets ...string) {
	slot, ok := ctx.Value(secretSlotKey{}).(*secretSlot)
	if !ok {
		return
	}
	for _, v := range secrets {
		if v != "" {
			slot.secrets = append(slot.secrets, v)
		}
	}
}

// recorder passes a response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	slot        *secretSlot
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
		if len(r.slot.secrets) > 0 && !isNoStore(r.Header()) {
			noStore(r.ResponseWriter) // a secret must never be cached
		}
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// carriesSecret reports whether the response carried a secret: either the
// handler marked one, or the response is no-store, which every
// secret-bearing response is (and nothing else needs to be).
func (r *recorder) carriesSecret() bool {
	return len(r.slot.secrets) > 0 || isNoStore(r.Header())
}

func isNoStore(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-store") {
				return true
			}
		}
	}
	return false
}
