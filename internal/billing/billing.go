// Package billing delivers usage events to the central billing endpoint:
// one event per request, signed with HMAC-SHA256 so the receiver can trust
// it, carrying a unique id so the receiver can deduplicate retries.
//
// Receivers must deduplicate on the event id (the signed body's "id", also
// in X-Cellar-Event-Id): a delivery whose answer was lost is sent again,
// and a re-queued dead letter arrives after events with a higher seq. They
// should refuse signatures whose time is more than SignatureTolerance from
// their clock: every attempt is signed afresh, so a retry is never stale.
package billing

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	SignatureHeader = "X-Cellar-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
	EventIDHeader   = "X-Cellar-Event-Id"
)

// SignatureTolerance is the age of a signature a receiver should accept
// (Verify's tolerance): long enough for clock skew and a slow network,
// short enough that a captured delivery cannot be replayed later.
const SignatureTolerance = 5 * time.Minute

// DefaultMaxAttempts is how many failed attempts set an event aside when
// Client.MaxAttempts is unset: with the backoff below that is about 8
// hours of refusals of the same event.
const DefaultMaxAttempts = 20

// Event is what the billing endpoint receives (and GET /v1/usage returns).
type Event struct {
	ID         string          `json:"id"`
	Seq        int64           `json:"seq"`
	Type       string          `json:"type"`
	CustomerID string          `json:"customer_id"`
	DatabaseID *string         `json:"database_id"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// Sign returns the signature header value for body at time t. Signing the
// time too lets a receiver refuse replays of old deliveries.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is returned by Verify for a missing, malformed, wrong or
// too old signature.
var ErrBadSignature = errors.New("billing: bad signature")

// Verify checks a signature header against the body, as a receiver does;
// tolerance bounds the age of the signed time (0: no bound).
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrBadSignature
	}
	if tolerance > 0 && now.Sub(time.Unix(unix, 0)).Abs() > tolerance {
		return ErrBadSignature
	}
	want, _ := hex.DecodeString(mac(secret, ts, body))
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(want, got) {
		return ErrBadSignature
	}
	return nil
}

// Client posts events to the billing endpoint.
type Client struct {
	URL    string
	Secret []byte
	HTTP   *http.Client
	// MaxAttempts is how many failed attempts dead-letter an event
	// (DefaultMaxAttempts if 0).
	MaxAttempts int
}

// Attempts is the number of failed attempts after which an event is
// dead-lettered.
func (c *Client) Attempts() int {
	if c.MaxAttempts > 0 {
		return c.MaxAttempts
	}
	return DefaultMaxAttempts
}

// Backoff is the wait after an event's nth failed attempt (n from 1):
// doubling from a second, at most an hour.
func Backoff(n int) time.Duration {
	return min(time.Duration(1)<<min(max(n-1, 0), 12)*time.Second, time.Hour)
}

// Deliver posts one event; only a 2xx answer counts as acknowledged.
func (c *Client) Deliver(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(EventIDHeader, e.ID)
	req.Header.Set(SignatureHeader, Sign(c.Secret, time.Now(), body))
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The error is stored and shown to operators with the dead
		// letter: keep the cause, drop the URL (its query may carry a
		// token).
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("billing endpoint: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drained for connection reuse only
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("billing endpoint answered %d", resp.StatusCode)
	}
	return nil
}
