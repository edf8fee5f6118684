package service

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// Idempotency keys are kept this long, and a claimed key whose request
// never finished (its process died) may be taken over after staleAfter.
const (
	IdempotencyRetention = 24 * time.Hour
	idempotencyStale     = 10 * time.Minute
)

// StoredResponse is a response kept for an Idempotency-Key. It never holds
// a secret: for a response that carried one, Body is the response with
// every secret-bearing member removed (or nil) and SecretWithheld is set, so
// that a replay can say the secret was shown once instead of showing it.
type StoredResponse struct {
	Status         int
	ContentType    string
	Body           []byte
	SecretWithheld bool
}

// ClaimOutcome says what to do with a request that carries an
// Idempotency-Key.
type ClaimOutcome int

// Outcomes of ClaimIdempotencyKey.
const (
	ClaimProceed ClaimOutcome = iota // first use: run the request, then Complete or Release
	ClaimReplay                      // answered before: send the stored response
)

// ClaimIdempotencyKey registers the first use of an Idempotency-Key for an
// API key, or returns the stored response of an earlier use with the same
// request. The same key with a different request is 422; a retry while the
// first is still running is 409.
func (s *Service) ClaimIdempotencyKey(ctx context.Context, c Caller, key string, fingerprint []byte) (ClaimOutcome, *StoredResponse, error) {
	keyID, err := uuid.Parse(c.KeyID)
	if err != nil {
		return 0, nil, fmt.Errorf("idempotency: key id: %w", err)
	}
	for range 3 {
		_, err := s.store.ClaimIdempotencyKey(ctx, store.ClaimIdempotencyKeyParams{
			ApiKeyID: keyID, IdemKey: key, Fingerprint: fingerprint,
			RetentionSecs: IdempotencyRetention.Seconds(), StaleAfterSecs: idempotencyStale.Seconds(),
		})
		if err == nil {
			return ClaimProceed, nil, nil
		}
		if !store.IsNotFound(err) {
			return 0, nil, fmt.Errorf("idempotency: claim: %w", err)
		}
		row, err := s.store.GetIdempotencyKey(ctx, store.GetIdempotencyKeyParams{ApiKeyID: keyID, IdemKey: key})
		if store.IsNotFound(err) {
			continue // released between the two queries: claim again
		}
		if err != nil {
			return 0, nil, fmt.Errorf("idempotency: look up: %w", err)
		}
		if string(row.Fingerprint) != string(fingerprint) {
			return 0, nil, cellar.Invalid(cellar.FieldError{Field: "Idempotency-Key",
				Message: "was already used with a different request; use a new key for a new request"})
		}
		if row.State != "done" {
			return 0, nil, cellar.Errorf(cellar.CodeConflict, "a request with this Idempotency-Key is still in progress; retry later")
		}
		resp := &StoredResponse{Body: row.Body}
		if row.Status != nil {
			resp.Status = int(*row.Status)
		}
		if row.ContentType != nil {
			resp.ContentType = *row.ContentType
		}
		resp.SecretWithheld = row.SecretWithheld
		return ClaimReplay, resp, nil
	}
	return 0, nil, cellar.Errorf(cellar.CodeConflict, "a request with this Idempotency-Key is still in progress; retry later")
}

// CompleteIdempotencyKey stores the response of a claimed key.
func (s *Service) CompleteIdempotencyKey(ctx context.Context, c Caller, key string, resp StoredResponse) error {
	keyID, err := uuid.Parse(c.KeyID)
	if err != nil {
		return err
	}
	status := int32(resp.Status)
	return s.store.CompleteIdempotencyKey(ctx, store.CompleteIdempotencyKeyParams{
		ApiKeyID: keyID, IdemKey: key, Status: &status, ContentType: &resp.ContentType, Body: resp.Body,
		SecretWithheld: resp.SecretWithheld,
	})
}

// ReleaseIdempotencyKey forgets a claimed key, so that a retry runs the
// request again (after a server-side failure).
func (s *Service) ReleaseIdempotencyKey(ctx context.Context, c Caller, key string) error {
	keyID, err := uuid.Parse(c.KeyID)
	if err != nil {
		return err
	}
	return s.store.ReleaseIdempotencyKey(ctx, store.ReleaseIdempotencyKeyParams{ApiKeyID: keyID, IdemKey: key})
}
