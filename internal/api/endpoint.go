package api

import (
	"context"
	"net/http"
	"net/url"
	"reflect"

	"github.com/go-chi/chi/v5"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/service"
)

// An endpoint is a request type, an Execute function and a Meta. The one
// adapter below (handle) does what every JSON endpoint needs, so that
// Execute holds only the call into the service and the shaping of its
// answer: decode the body, read path and query values (ExtractRaw),
// validate, call, map errors (writeError is called nowhere else for an
// endpoint), mark secrets and no-store, encode.
//
// The technique is riverui's apiendpoint (now riverqueue/apiframe): a typed
// request, an Execute, and metadata that both routes the endpoint and
// describes it.

// bodyKind says whether an endpoint reads a JSON body.
type bodyKind int

const (
	bodyNone     bodyKind = iota // the body is not read
	bodyRequired                 // a JSON object (strict decode)
	bodyOptional                 // may be left out or null; otherwise as bodyRequired
)

// Meta describes an endpoint.
type Meta struct {
	Method  string
	Pattern string
	// Status is the success status; a response may choose another one by
	// implementing statusCoder (a repeated create answers 200, not 201).
	Status int
	// Permission is required of the caller before Validate and Execute
	// run. It is the permission the service method checks first; the
	// service checks it again (and any finer rule), so every caller of the
	// service is held to it. Empty for endpoints whose rule is not one
	// permission (operator only, any key); the service decides those.
	Permission cellar.Permission
	// NoStore: every success response carries a secret (or the place where
	// one would be), so it is sent with Cache-Control: no-store and never
	// stored whole for an Idempotency-Key. Responses that carry a secret
	// only sometimes say so through secretCarrier.
	NoStore bool
	Body    bodyKind
}

// rawRequest is what a request type may read besides its body.
type rawRequest struct{ r *http.Request }

// Path is the value of the path parameter name.
func (raw rawRequest) Path(name string) string { return chi.URLParam(raw.r, name) }

// Query is the parsed query string.
func (raw rawRequest) Query() url.Values { return raw.r.URL.Query() }

// rawExtractor is a request that takes values from the path or the query.
type rawExtractor interface{ ExtractRaw(raw rawRequest) error }

// bodyHolder is a request whose JSON body is one of its fields rather than
// the request itself: the path values stay out of the body's field set,
// and the body type's own Validate (which the service calls, in its own
// order: after the address) is not promoted to the request.
type bodyHolder interface{ body() any }

// validator is a request that checks itself before Execute runs. Rules
// that bind every caller of the service (field values of a body) are
// checked by the service; Validate checks what only HTTP has (the syntax
// of query parameters).
type validator interface{ Validate() error }

// statusCoder is a response whose status is not the endpoint's default.
type statusCoder interface{ StatusCode() int }

// headerSetter is a response that sets headers of its own (Location).
type headerSetter interface{ SetHeaders(h http.Header) }

// secretCarrier is a response that may carry secrets: when it names any,
// the response is no-store and the idempotency layer leaves them out of
// its stored copy.
type secretCarrier interface{ Secrets() []string }

// endpoint is one entry of the route table.
type endpoint struct {
	meta      Meta
	handler   http.HandlerFunc
	req, resp reflect.Type // for the API description (openapi_doc.go)
}

// execFunc is an endpoint's Execute.
type execFunc[Req, Resp any] func(ctx context.Context, c service.Caller, req *Req) (*Resp, error)

// handle builds an endpoint from its Meta and Execute.
func handle[Req, Resp any](s *Server, m Meta, execute execFunc[Req, Resp]) endpoint {
	return endpoint{meta: m, req: reflect.TypeFor[Req](), resp: reflect.TypeFor[Resp](), handler: func(w http.ResponseWriter, r *http.Request) {
		resp, err := run(r, m, execute)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		respond(w, r, m, resp)
	}}
}

// run decodes, extracts, checks the permission, validates and executes,
// in the order the hand-written handlers answered in: a malformed body
// (400, 413, 415) or query (422) before a missing permission (403), that
// before a field error (422).
func run[Req, Resp any](r *http.Request, m Meta, execute execFunc[Req, Resp]) (*Resp, error) {
	req := new(Req)
	var dst any = req
	if b, ok := dst.(bodyHolder); ok {
		dst = b.body()
	}
	var err error
	switch m.Body {
	case bodyRequired:
		err = decodeInto(r, dst)
	case bodyOptional:
		err = decodeOptionalInto(r, dst)
	}
	if err != nil {
		return nil, err
	}
	if x, ok := any(req).(rawExtractor); ok {
		if err := x.ExtractRaw(rawRequest{r}); err != nil {
			return nil, err
		}
	}
	c := caller(r)
	if m.Permission != "" {
		if err := c.Require(m.Permission); err != nil {
			return nil, err
		}
	}
	if v, ok := any(req).(validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return execute(r.Context(), c, req)
}

// respond encodes a successful response.
func respond(w http.ResponseWriter, r *http.Request, m Meta, resp any) {
	status := m.Status
	if sc, ok := resp.(statusCoder); ok {
		status = sc.StatusCode()
	}
	if hs, ok := resp.(headerSetter); ok {
		hs.SetHeaders(w.Header())
	}
	noStoreIt := m.NoStore
	if sc, ok := resp.(secretCarrier); ok {
		if secrets := sc.Secrets(); len(secrets) > 0 {
			markSecret(r.Context(), secrets...)
			noStoreIt = true
		}
	}
	if noStoreIt {
		noStore(w)
	}
	writeJSON(w, status, resp)
}

// dbAddress is the {db_type}/{db_name} of a path, for request types that
// address one database.
type dbAddress struct {
	DBType string
	DBName string
}

func (a *dbAddress) extract(raw rawRequest) {
	a.DBType, a.DBName = raw.Path("db_type"), raw.Path("db_name")
}

// ExtractRaw reads the address from the path.
func (a *dbAddress) ExtractRaw(raw rawRequest) error {
	a.extract(raw)
	return nil
}
