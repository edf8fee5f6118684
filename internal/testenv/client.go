package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/cellar"
)

// Client calls the API as one key.
type Client struct {
	env     *Env
	baseURL string
	Key     string
	// CustomerID is the customer the key belongs to.
	CustomerID string
	http       *http.Client
}

// Response is an API answer, already validated against the OpenAPI document.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v, failing the test on error.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map returns the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.Decode(t, &m)
	return m
}

// Client returns a client for key against the environment's server.
func (e *Env) Client(key, customerID string) *Client {
	return &Client{env: e, baseURL: e.BaseURL, Key: key, CustomerID: customerID, http: &http.Client{Timeout: 2 * time.Minute}}
}

// Admin is a client with the bootstrap admin key.
func (e *Env) Admin() *Client { return e.Client(e.AdminKey, "admin") }

// WithBaseURL returns a copy of the client aimed at another Cellar.
func (c *Client) WithBaseURL(url string) *Client {
	cp := *c
	cp.baseURL = url
	return &cp
}

// Header is an extra request header.
type Header struct{ Name, Value string }

// Do sends a request. body may be nil, a string or []byte (sent as is, for
// malformed-input tests) or any value (sent as JSON). JSON bodies get
// Content-Type: application/json unless a header overrides it. The response
// is validated against the OpenAPI document; a mismatch fails the test.
func (c *Client) Do(t testing.TB, method, path string, body any, headers ...Header) *Response {
	t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	if body != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.baseURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("X-API-Key", c.Key)
	}
	for _, h := range headers {
		if h.Value == "" {
			req.Header.Del(h.Name)
		} else {
			req.Header.Set(h.Name, h.Value)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Validate against a fresh request carrying the same body.
	vreq, _ := http.NewRequest(method, c.baseURL+path, bytes.NewReader(raw))
	vreq.Header = req.Header.Clone()
	if err := c.env.spec.validate(vreq, resp.StatusCode, resp.Header, out); err != nil {
		t.Error(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: out}
}

// Expect sends a request and fails the test unless the status is want.
func (c *Client) Expect(t testing.TB, want int, method, path string, body any, headers ...Header) *Response {
	t.Helper()
	r := c.Do(t, method, path, body, headers...)
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// NewCustomer makes a fresh customer with a key holding the given
// permissions (all database permissions when none are given).
func (e *Env) NewCustomer(t testing.TB, perms ...cellar.Permission) *Client {
	t.Helper()
	if len(perms) == 0 {
		perms = []cellar.Permission{cellar.PermDatabaseCreate, cellar.PermDatabaseRead, cellar.PermDatabaseUpdate, cellar.PermDatabaseDelete}
	}
	customer := "t" + strings.ToLower(cellar.RandomToken(9))
	return e.NewKey(t, customer, false, perms...)
}

// NewKey creates a key for customer through the admin API.
func (e *Env) NewKey(t testing.TB, customer string, internal bool, perms ...cellar.Permission) *Client {
	t.Helper()
	ps := make([]string, len(perms))
	for i, p := range perms {
		ps[i] = string(p)
	}
	var k struct {
		Key string `json:"key"`
	}
	e.Admin().Expect(t, http.StatusCreated, "POST", "/v1/admin/keys", map[string]any{
		"name": t.Name(), "customer_id": customer, "permissions": ps, "internal": internal,
	}).Decode(t, &k)
	return e.Client(k.Key, customer)
}
