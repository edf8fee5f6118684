package cellar

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error for callers; the API maps each code to exactly
// one HTTP status in one place.
type Code string

// Error codes.
const (
	CodeInvalid       Code = "invalid"        // the request is understood but its values are wrong
	CodeMalformed     Code = "malformed"      // the request body cannot be parsed
	CodeNotFound      Code = "not_found"      // absent, or owned by someone else
	CodeConflict      Code = "conflict"       // the current state forbids the change
	CodeUnauthorized  Code = "unauthorized"   // no valid credentials
	CodeForbidden     Code = "forbidden"      // valid credentials, missing permission
	CodeTooLarge      Code = "too_large"      // request body over the limit
	CodeUnsupported   Code = "unsupported"    // wrong content type
	CodeUnavailable   Code = "unavailable"    // a dependency is down or out of capacity
	CodeQuotaExceeded Code = "quota_exceeded" // a customer limit would be exceeded
	CodeRateLimited   Code = "rate_limited"   // too many requests or concurrent operations; retry later
	CodeInternal      Code = "internal"       // a bug or an unexpected failure
)

// FieldError names one invalid field of a request and says what is wrong.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error with a code and a message safe to show to API clients.
// Err, when set, holds the underlying cause for logs; it is never shown.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// RetryAfter, when positive, tells the client when to try again
	// (the Retry-After header of a 429 or 503).
	RetryAfter time.Duration
	// Members are machine-readable facts about the problem, shown as RFC
	// 9457 extension members (e.g. snapshot_id of the snapshot in the way,
	// limit of a quota). Values must be safe to show; a name never
	// replaces a standard member.
	Members map[string]string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted public message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a validation error listing the offending fields.
func Invalid(fields ...FieldError) *Error {
	msg := "the request has invalid fields"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Code: CodeInvalid, Message: msg, Fields: fields}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// NotFound is the error for a resource that is absent or not the caller's.
// Both cases read the same so that existence never leaks across customers.
func NotFound(kind, name string) *Error {
	return Errorf(CodeNotFound, "%s %q not found", kind, name)
}
