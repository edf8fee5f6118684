package api

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// JSON Schemas of the request and response types, by reflection over the
// types and their json tags, which are what the encoder and the strict
// decoder really use: a field without omitempty is always sent, so it is
// required; a pointer may be null unless it is also omitempty; time.Time
// is a date-time string. What reflection cannot know (descriptions, enums,
// patterns, bounds, the required fields of a request body) comes from
// annotations in struct-tag syntax, on the field itself or, for types of
// other packages, in fieldNotes (openapi_notes.go):
//
//	doc        description
//	enum       allowed values, separated by |
//	itemsEnum  allowed values of an array's items
//	format     format (uuid, date-time)
//	pattern    pattern
//	minimum, maximum, minLength, maxLength, minItems   bounds
//	default    default, as JSON
//	type       a JSON type that replaces the derived one (e.g. null)
//	required   "true": a request field that must be present
//	nullable   "false": a pointer that is never null (left out instead)
//
// kin-openapi's openapi3gen was considered: it writes OpenAPI 3.0 schemas
// (nullable: true) where the document is 3.1 (type: [T, "null"]), knows no
// omitempty-means-optional rule and has no place for these annotations
// without a customizer as large as this file.

// schemaGen builds schemas and collects the named ones as components.
type schemaGen struct {
	names      map[reflect.Type]string
	components map[string]any
}

func newSchemaGen() *schemaGen {
	g := &schemaGen{names: map[reflect.Type]string{}, components: map[string]any{}}
	for _, n := range schemaNames {
		g.names[n.t] = n.name
	}
	return g
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	rawJSONType = reflect.TypeFor[json.RawMessage]()
)

// ref is the schema of t: a $ref for a named type (its component is built
// on first use), otherwise inline.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name, ok := g.names[t]
	if !ok {
		return g.schemaOf(t)
	}
	if _, done := g.components[name]; !done {
		g.components[name] = nil // a placeholder stops recursion
		g.components[name] = g.schemaOf(t)
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

// schemaOf is the schema of t itself.
func (g *schemaGen) schemaOf(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawJSONType:
		return map[string]any{"type": "object"}
	case isOptional(t):
		// service.Optional[T] tells "left out" from "null": a nullable T.
		s := g.schemaOf(t.Field(1).Type.Elem())
		return nullable(s)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.ref(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.ref(t.Elem())}
	case reflect.Map:
		s := map[string]any{"type": "object"}
		if t.Elem().Kind() != reflect.Interface {
			s["additionalProperties"] = g.ref(t.Elem())
		}
		return s
	case reflect.Struct:
		return g.object(t)
	}
	return map[string]any{}
}

// object is the schema of a struct: its JSON members, embedded structs'
// members promoted as encoding/json does.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			ft := f.Type
			if f.Anonymous && name == "" {
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, shadowed := props[name]; shadowed {
				continue // an outer field of the same name wins
			}
			tag := noteFor(t, f, name)
			omitempty := strings.Contains(opts, "omitempty")
			props[name] = g.field(f.Type, tag, omitempty)
			if tag.Get("required") == "true" || !omitempty && tag.Get("required") != "false" && !isRequest(t) {
				required = append(required, name)
			}
		}
	}
	walk(t)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	if !openTypes[t] {
		s["additionalProperties"] = false
	}
	applyNotes(s, reflect.StructTag(typeNotes[t.Name()]))
	return s
}

// field is the schema of one member.
func (g *schemaGen) field(t reflect.Type, tag reflect.StructTag, omitempty bool) map[string]any {
	ptr := t.Kind() == reflect.Pointer
	var s map[string]any
	if ptr {
		s = g.ref(t.Elem())
	} else {
		s = g.ref(t)
	}
	s = copyMap(s)
	if ptr && !omitempty && tag.Get("nullable") != "false" {
		s = nullable(s)
	}
	applyNotes(s, tag)
	return s
}

// applyNotes adds a tag's annotations to s.
func applyNotes(s map[string]any, tag reflect.StructTag) {
	if v, ok := tag.Lookup("type"); ok {
		s["type"] = v
		delete(s, "format")
	}
	if v, ok := tag.Lookup("doc"); ok {
		s["description"] = v
	}
	if v, ok := tag.Lookup("enum"); ok {
		s["enum"] = enumValues(v, s)
	}
	if v, ok := tag.Lookup("itemsEnum"); ok {
		if items, ok := s["items"].(map[string]any); ok {
			items = copyMap(items)
			items["enum"] = strings.Split(v, "|")
			s["items"] = items
		}
	}
	for _, k := range []string{"format", "pattern"} {
		if v, ok := tag.Lookup(k); ok {
			s[k] = v
		}
	}
	for _, k := range []string{"minimum", "maximum", "minLength", "maxLength", "minItems", "minProperties"} {
		if v, ok := tag.Lookup(k); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				panic("openapi: bad " + k + " annotation " + v)
			}
			s[k] = n
		}
	}
	if v, ok := tag.Lookup("default"); ok {
		var d any
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			panic("openapi: default must be JSON: " + v)
		}
		s["default"] = d
	}
}

// enumValues lists an enum; a nullable schema's enum admits null too.
func enumValues(v string, s map[string]any) []any {
	var out []any
	for _, e := range strings.Split(v, "|") {
		out = append(out, e)
	}
	if ts, ok := s["type"].([]any); ok && len(ts) == 2 {
		out = append(out, nil)
	}
	return out
}

// nullable is s admitting null as well.
func nullable(s map[string]any) map[string]any {
	if typ, ok := s["type"].(string); ok {
		s = copyMap(s)
		s["type"] = []any{typ, "null"}
		return s
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func isOptional(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && strings.HasPrefix(t.Name(), "Optional[") && t.NumField() == 2 &&
		t.Field(1).Type.Kind() == reflect.Pointer
}

// isRequest reports whether t is a request body: its fields are required
// only when annotated so, since the decoder accepts any of them left out.
func isRequest(t reflect.Type) bool { return requestTypes[t] }

// noteFor is the annotation of field f (json name) of t: its own tag, or
// the entry of fieldNotes for types whose source carries no annotations.
func noteFor(t reflect.Type, f reflect.StructField, name string) reflect.StructTag {
	if n, ok := fieldNotes[t.Name()+"."+name]; ok {
		return reflect.StructTag(n)
	}
	return f.Tag
}
