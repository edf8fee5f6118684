package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/cellar/cellar/internal/cellar"
)

// writeJSON encodes v as the response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decode reads a JSON object body into a T. It insists on a JSON content
// type, one object, known fields only (a misspelt field is an error, not a
// silently ignored option) and values of the right types; each failure
// becomes an error that names the problem.
func decode[T any](r *http.Request) (T, error) {
	var v T
	err := decodeInto(r, &v)
	return v, err
}

// decodeInto is decode into dst, a pointer.
func decodeInto(r *http.Request, dst any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeReadError(err)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return cellar.Errorf(cellar.CodeMalformed, "the request body is empty; send a JSON object")
	}
	// encoding/json decodes a bare null into a struct as "no change", which
	// would make null pass for an object with every field left out.
	if string(trimmed) == "null" {
		return cellar.Errorf(cellar.CodeMalformed, "the request body must be a JSON object, not null")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return cellar.Errorf(cellar.CodeMalformed, "the request body holds more than one JSON value")
	}
	return nil
}

// decodeOptionalInto is decodeInto for endpoints whose body may be
// omitted: an empty body leaves dst as it is, whatever the Content-Type
// says.
func decodeOptionalInto(r *http.Request, dst any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeReadError(err)
	}
	// An optional body may be left out entirely or sent as null.
	if t := bytes.TrimSpace(body); len(t) == 0 || string(t) == "null" {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return decodeInto(r, dst)
}

// decodeReadError explains a failure to read a request body.
func decodeReadError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return cellar.Errorf(cellar.CodeTooLarge, "the request body exceeds %d bytes", tooLarge.Limit)
	}
	return cellar.Errorf(cellar.CodeMalformed, "the request body could not be read")
}

func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return cellar.Errorf(cellar.CodeUnsupported, "missing Content-Type; send application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return cellar.Errorf(cellar.CodeUnsupported, "Content-Type %q is not supported; send application/json", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return cellar.Errorf(cellar.CodeUnsupported, "charset %q is not supported; send UTF-8", cs)
	}
	return nil
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return cellar.Errorf(cellar.CodeMalformed, "the request body is not valid JSON (error at byte %d)", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return cellar.Errorf(cellar.CodeMalformed, "the request body is truncated JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return cellar.Errorf(cellar.CodeMalformed, "the request body must be a JSON object, not %s", typ.Value)
		}
		return cellar.Invalid(cellar.FieldError{Field: typ.Field, Message: fmt.Sprintf("must be %s, not %s", jsonTypeName(typ.Type.Kind().String()), typ.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return cellar.Invalid(cellar.FieldError{Field: field, Message: "is not a known field"})
	}
	return cellar.Errorf(cellar.CodeMalformed, "the request body could not be decoded")
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int32", "int64", "uint", "uint32", "uint64", "float64":
		return "a number"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "another type"
}
