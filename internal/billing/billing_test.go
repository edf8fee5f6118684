package billing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
