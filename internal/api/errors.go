package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cellar/cellar/internal/cellar"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type      string              `json:"type" doc:"URI reference identifying the problem type, e.g. /problems/validation-error"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail"`
	Instance  string              `json:"instance,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []cellar.FieldError `json:"errors,omitempty"`
	// Members are extension members (cellar.Error.Members).
	Members map[string]string `json:"-"`
}

// withMembers is p with its extension members beside the standard ones;
// a member named like a standard one is dropped rather than shadow it.
// (Not a MarshalJSON method: types that embed problem, such as the
// readiness answer, would lose their own fields to it.)
func withMembers(p problem) (map[string]any, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range p.Members {
		switch k {
		case "type", "title", "status", "detail", "instance", "request_id", "errors":
		default:
			m[k] = v
		}
	}
	return m, nil
}

// problemKind is how one error code looks over HTTP.
type problemKind struct {
	status int
	slug   string
	title  string
}

// kinds is the one place where error codes become HTTP statuses.
var kinds = map[cellar.Code]problemKind{
	cellar.CodeMalformed:     {http.StatusBadRequest, "malformed-request", "Malformed request"},
	cellar.CodeUnauthorized:  {http.StatusUnauthorized, "unauthorized", "Unauthorized"},
	cellar.CodeForbidden:     {http.StatusForbidden, "forbidden", "Forbidden"},
	cellar.CodeNotFound:      {http.StatusNotFound, "not-found", "Not found"},
	cellar.CodeConflict:      {http.StatusConflict, "conflict", "Conflict"},
	cellar.CodeTooLarge:      {http.StatusRequestEntityTooLarge, "request-too-large", "Request body too large"},
	cellar.CodeUnsupported:   {http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"},
	cellar.CodeInvalid:       {http.StatusUnprocessableEntity, "validation-error", "Validation failed"},
	cellar.CodeQuotaExceeded: {http.StatusForbidden, "quota-exceeded", "Quota exceeded"},
	cellar.CodeUnavailable:   {http.StatusServiceUnavailable, "unavailable", "Service unavailable"},
	cellar.CodeRateLimited:   {http.StatusTooManyRequests, "rate-limited", "Too many requests"},
	cellar.CodeInternal:      {http.StatusInternalServerError, "internal-error", "Internal server error"},
}

// problemTypeBase prefixes problem type URIs. They are relative references
// (RFC 9457 allows them), resolved against the API's own address.
const problemTypeBase = "/problems/"

// writeError answers with the problem for err. Errors without a code are
// bugs or outages: they are logged in full and answered with a generic
// message that carries the request id, never the cause.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *cellar.Error
	if !errors.As(err, &e) {
		log.ErrorContext(r.Context(), "request failed", "err", err)
		e = &cellar.Error{Code: cellar.CodeInternal, Message: "an unexpected error occurred; quote the request id when reporting it"}
	} else if e.Err != nil || e.Code == cellar.CodeInternal || e.Code == cellar.CodeUnavailable {
		log.WarnContext(r.Context(), "request failed", "code", e.Code, "err", err)
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeCodedProblem(w, r, e.Code, e.Message, e.Fields, e.Members)
}

func writeProblem(w http.ResponseWriter, r *http.Request, code cellar.Code, detail string, fields []cellar.FieldError) {
	writeCodedProblem(w, r, code, detail, fields, nil)
}

func writeCodedProblem(w http.ResponseWriter, r *http.Request, code cellar.Code, detail string, fields []cellar.FieldError, members map[string]string) {
	k, ok := kinds[code]
	if !ok {
		k = kinds[cellar.CodeInternal]
	}
	if code == cellar.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `APIKey header="X-API-Key"`)
	}
	writeProblemBody(w, r, problem{Type: problemTypeBase + k.slug, Title: k.title, Status: k.status, Detail: detail, Errors: fields, Members: members})
}

// writeProblemStatus answers with a problem that has no error code of its
// own, such as 405 from the router.
func writeProblemStatus(w http.ResponseWriter, r *http.Request, status int, slug, title, detail string) {
	writeProblemBody(w, r, problem{Type: problemTypeBase + slug, Title: title, Status: status, Detail: detail})
}

func writeProblemBody(w http.ResponseWriter, r *http.Request, p problem) {
	p.Instance = r.URL.Path
	p.RequestID = requestIDFrom(r.Context())
	w.Header().Set("Content-Type", "application/problem+json")
	if len(p.Members) > 0 {
		if m, err := withMembers(p); err == nil {
			writeJSON(w, p.Status, m)
			return
		}
	}
	writeJSON(w, p.Status, p)
}
