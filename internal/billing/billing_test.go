package billing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"id":"1"}`)
	now := time.Unix(1_800_000_000, 0)
	h := Sign(secret, now, body)
	if err := Verify(secret, h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		secret []byte
		header string
		body   []byte
		now    time.Time
	}{
		"other secret":     {[]byte("other"), h, body, now},
		"tampered body":    {secret, h, []byte(`{"id":"2"}`), now},
		"too old":          {secret, h, body, now.Add(time.Hour)},
		"no signature":     {secret, "", body, now},
		"garbage":          {secret, "t=x,v1=zz", body, now},
		"signature only":   {secret, "v1=" + h[len("t=1800000000,v1="):], body, now},
		"wrong hex length": {secret, "t=1800000000,v1=abcd", body, now},
	} {
		if err := Verify(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDeliver_OnlyA2xxIsAnAcknowledgement(t *testing.T) {
	status := http.StatusServiceUnavailable
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.WriteHeader(status)
	}))
	defer srv.Close()
	c := &Client{URL: srv.URL, Secret: []byte("k")}
	e := Event{ID: "e1", Seq: 1, Type: "database.created", CustomerID: "c", Data: []byte(`{}`)}
	if err := c.Deliver(context.Background(), e); err == nil {
		t.Fatal("503 counted as delivered")
	}
	status = http.StatusNoContent
	if err := c.Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if got.Header.Get(EventIDHeader) != "e1" || got.Header.Get(SignatureHeader) == "" {
		t.Fatalf("headers: %v", got.Header)
	}
}

func TestBackoff_DoublesFromASecondUpToAnHour(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := Backoff(100); got != time.Hour {
		t.Errorf("Backoff(100) = %s", got)
	}
	var total time.Duration
	for n := 1; n < DefaultMaxAttempts; n++ {
		total += Backoff(n)
	}
	t.Logf("an event refused %d times is dead-lettered after %s", DefaultMaxAttempts, total)
}

// A transport error is stored and shown to operators: it must not carry
// the endpoint's URL, whose query may hold a token.
func TestDeliver_TransportErrorOmitsTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	url := srv.URL + "/hook?token=hunter2"
	srv.Close()
	c := &Client{URL: url, Secret: []byte("k")}
	err := c.Deliver(context.Background(), Event{ID: "e1"})
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "/hook") {
		t.Fatalf("error: %v", err)
	}
}
