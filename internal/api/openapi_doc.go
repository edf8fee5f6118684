package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
)

// The OpenAPI document is generated from the route table (endpoints), the
// request and response types of each endpoint (openapi_schema.go) and the
// words a reader needs (opDocs and fieldNotes, openapi_notes.go), by
// `go run ./cmd/openapigen` (make generate). The server embeds the result
// (health.go); make check-generated keeps it fresh, and the contract tests
// validate every response against it.

// opDoc documents one endpoint.
type opDoc struct {
	ID, Summary, Description string
	// Success describes the success response ("OK" when empty).
	Success string
	// Also lists other success statuses with the same body (a repeated
	// create answers 200).
	Also map[int]string
	// Headers are headers of the success response beyond Cache-Control
	// (which NoStore and secret-carrying responses document themselves).
	Headers map[string]string
	// Params documents path and query parameters (path parameters not
	// listed are plain strings; db_type and db_name have one definition).
	Params []param
	// Errors describes error statuses; the generic ones (401, 403, 429,
	// 500; body and Idempotency-Key errors) are added where they apply.
	Errors map[int]string
}

// param is a parameter: name, where it is, and its schema in struct-tag
// syntax (type, enum, format, minimum, maximum, default, doc, required).
type param struct{ name, in, tag string }

func query(name, tag string) param { return param{name, "query", tag} }
func path(name, tag string) param  { return param{name, "path", tag} }

// OpenAPI returns the OpenAPI document of the API.
func OpenAPI() ([]byte, error) {
	g := newSchemaGen()
	paths := map[string]map[string]any{}
	add := func(pattern, method string, op map[string]any) {
		if paths[pattern] == nil {
			paths[pattern] = map[string]any{}
		}
		paths[pattern][strings.ToLower(method)] = op
	}
	for _, e := range (&Server{}).endpoints() {
		key := e.meta.Method + " " + e.meta.Pattern
		d, ok := opDocs[key]
		if !ok {
			return nil, fmt.Errorf("endpoint %s has no entry in opDocs", key)
		}
		add(e.meta.Pattern, e.meta.Method, operation(g, e, d))
	}
	for pattern, ops := range plainPaths(g) {
		for method, op := range ops {
			add(pattern, method, op)
		}
	}
	g.ref(reflect.TypeFor[problemSchema]())
	doc := map[string]any{
		"openapi":  "3.1.0",
		"info":     map[string]any{"title": "Cellar API", "version": "1.0.0", "description": apiDescription},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"apiKey": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"}},
			"schemas":         g.components,
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// operation describes one endpoint.
func operation(g *schemaGen, e endpoint, d opDoc) map[string]any {
	m := e.meta
	mutation := m.Method != http.MethodGet
	op := map[string]any{"operationId": d.ID, "summary": d.Summary}
	if d.Description != "" {
		op["description"] = d.Description
	}

	var params []any
	documented := map[string]param{}
	for _, p := range d.Params {
		documented[p.in+":"+p.name] = p
	}
	for _, match := range pathParam.FindAllStringSubmatch(m.Pattern, -1) {
		name := match[1]
		p, ok := documented["path:"+name]
		if !ok {
			p = sharedParams[name]
			if p.name == "" {
				p = path(name, "")
			}
		}
		params = append(params, parameter(p))
	}
	for _, p := range d.Params {
		if p.in != "path" {
			params = append(params, parameter(p))
		}
	}
	if mutation {
		params = append(params, idempotencyKeyParam)
	}
	if len(params) > 0 {
		op["parameters"] = params
	}

	if m.Body != bodyNone {
		body := e.req
		if holder, ok := reflect.New(e.req).Interface().(bodyHolder); ok {
			body = reflect.TypeOf(holder.body()).Elem()
		}
		op["requestBody"] = map[string]any{"required": m.Body == bodyRequired,
			"content": map[string]any{"application/json": map[string]any{"schema": g.ref(body)}}}
	}

	responses := map[string]any{}
	headers := map[string]any{}
	_, carries := reflect.New(e.resp).Interface().(secretCarrier)
	if m.NoStore || carries {
		headers["Cache-Control"] = map[string]any{"description": "no-store: the body carries a secret", "schema": str}
	}
	for h, desc := range d.Headers {
		headers[h] = map[string]any{"description": desc, "schema": str}
	}
	success := func(desc string) map[string]any {
		if desc == "" {
			desc = "OK"
		}
		r := map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": g.ref(e.resp)}}}
		if len(headers) > 0 {
			r["headers"] = headers
		}
		return r
	}
	responses[fmt.Sprint(m.Status)] = success(d.Success)
	for status, desc := range d.Also {
		responses[fmt.Sprint(status)] = success(desc)
	}
	errs := map[int]string{
		http.StatusUnauthorized:        "Missing, unknown or revoked API key",
		http.StatusForbidden:           "The key lacks the required permission",
		http.StatusInternalServerError: "Unexpected error; quote request_id",
	}
	if mutation {
		errs[http.StatusBadRequest] = "Malformed request or Idempotency-Key"
		errs[http.StatusConflict] = "A request with this Idempotency-Key is still in progress, or the database is busy, or (type /problems/secret-not-replayed) it already succeeded and its response carried a secret, which is shown only once"
		errs[http.StatusUnprocessableEntity] = "Invalid field values, or an Idempotency-Key reused with a different request"
	}
	if m.Body != bodyNone {
		errs[http.StatusRequestEntityTooLarge] = "Body too large"
		errs[http.StatusUnsupportedMediaType] = "Content-Type is not application/json"
	}
	if m.Body == bodyRequired {
		errs[http.StatusBadRequest] = "Malformed JSON or empty body"
	}
	for status, desc := range d.Errors {
		errs[status] = desc
	}
	for status, desc := range errs {
		responses[fmt.Sprint(status)] = problemResponse(desc)
	}
	responses["429"] = rateLimitedResponse
	op["responses"] = responses
	return op
}

// parameter is the Parameter Object of p.
func parameter(p param) map[string]any {
	tag := reflect.StructTag(p.tag)
	schema := map[string]any{"type": "string"}
	applyNotes(schema, tag)
	out := map[string]any{"name": p.name, "in": p.in, "schema": schema}
	if d, ok := schema["description"]; ok {
		delete(schema, "description")
		out["description"] = d
	}
	if p.in == "path" || tag.Get("required") == "true" {
		out["required"] = true
	}
	return out
}

var str = map[string]any{"type": "string"}

func problemResponse(desc string) map[string]any {
	return map[string]any{"description": desc,
		"content": map[string]any{"application/problem+json": map[string]any{"schema": problemRef}}}
}

var problemRef = map[string]any{"$ref": "#/components/schemas/Problem"}

var rateLimitedResponse = map[string]any{
	"description": "Problem type /problems/rate-limited: this API key sent too many requests (token bucket per key: CELLAR_RATE_LIMIT per second, bursts of CELLAR_RATE_BURST), or, on a change, this customer already runs CELLAR_MAX_CONCURRENT_CHANGES changes at once; retry after Retry-After seconds",
	"headers":     map[string]any{"Retry-After": map[string]any{"description": "Seconds until the key may send again", "schema": str}},
	"content":     map[string]any{"application/problem+json": map[string]any{"schema": problemRef}},
}

var idempotencyKeyParam = map[string]any{
	"name": "Idempotency-Key", "in": "header", "required": false,
	"schema":      map[string]any{"type": "string", "minLength": 1, "maxLength": 255},
	"description": "Makes the request safe to retry: a retry with the same key and request gets the first response (header Idempotent-Replayed: true), never a second change. The same key with a different request is 422; a retry while the first is running is 409. Keys are kept 24 h per API key. Server errors (5xx) are not stored. A response that carried a secret (a password, an API key: every response with Cache-Control: no-store) is never stored with its secret: its retry answers 409 with problem type /problems/secret-not-replayed, original_status (the first response's status) and original_response (the first response without its secret members, when it could be redacted). The secret was shown once: rotate the credentials, or revoke the key (its id is in original_response) and create a new one.",
}

// sharedParams are path parameters with one definition everywhere.
var sharedParams = map[string]param{
	"db_type": path("db_type", `enum:"postgresql|mariadb"`),
	"db_name": path("db_name", `pattern:"^cust_[a-z0-9]{1,24}_(pg|my)_[a-z0-9_]{1,30}$" doc:"Database name with customer prefix, e.g. cust_6dd1d906_pg_webapp_prod_db"`),
}

// problemSchema documents a problem body: the problem type plus the
// extension members some problems carry.
type problemSchema struct {
	problem
	SnapshotID string `json:"snapshot_id,omitempty" doc:"Extension member of a 409 from POST …/snapshots: the snapshot of the database still being taken"`
	Limit      string `json:"limit,omitempty" doc:"Extension member of quota-exceeded: the limit that was reached, e.g. max_snapshots or max_snapshot_gb"`
}

// plainPaths describes the endpoints that are plain handlers.
func plainPaths(g *schemaGen) map[string]map[string]map[string]any {
	jsonOK := func(schema any) map[string]any {
		return map[string]any{"200": map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": schema}}}}
	}
	public := []any{}
	notReady := map[string]any{"allOf": []any{problemRef, map[string]any{"type": "object", "required": []any{"checks"},
		"properties": map[string]any{"checks": map[string]any{"type": "object", "additionalProperties": str}}}}}
	readyResponses := jsonOK(g.ref(reflect.TypeFor[readiness]()))
	readyResponses["503"] = map[string]any{"description": "A dependency is unavailable",
		"content": map[string]any{"application/problem+json": map[string]any{"schema": notReady}}}
	return map[string]map[string]map[string]any{
		"/": {"get": {"operationId": "dashboard", "summary": "The web dashboard", "security": public,
			"responses": map[string]any{"200": map[string]any{"description": "HTML", "content": map[string]any{"text/html": map[string]any{"schema": str}}}}}},
		"/healthz": {"get": {"operationId": "healthz", "summary": "Liveness", "security": public,
			"responses": jsonOK(map[string]any{"type": "object", "required": []any{"status"}, "properties": map[string]any{"status": str}})}},
		"/readyz": {"get": {"operationId": "readyz", "security": public,
			"summary":     "Readiness: metadata database, Vault, every managed server and, with embedded servers, each supervised process",
			"description": "Each check (metadata, vault, server:<name>, process:<name>) is ok, unavailable, or for a supervised process restarting or failed. The 503 problem's detail names what is down.",
			"responses":   readyResponses}},
		"/v1/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": public,
			"responses": jsonOK(map[string]any{"type": "object"})}},
		"/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics", "security": public,
			"responses": map[string]any{"200": map[string]any{"description": "Prometheus text format", "content": map[string]any{"text/plain": map[string]any{"schema": str}}}}}},
	}
}
