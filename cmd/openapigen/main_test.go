package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cellar/cellar/internal/api"
)

// TestGeneratedDocument_ValidAndCommitted checks that the generated
// document is a valid OpenAPI document (as kin-openapi, which the contract
// tests use, reads it) and that the committed one is current.
func TestGeneratedDocument_ValidAndCommitted(t *testing.T) {
	doc, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := openapi3.NewLoader().LoadFromData(doc)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	committed, err := os.ReadFile("../../internal/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, committed) {
		t.Fatal("internal/api/openapi.json is stale: run make generate")
	}
	if !bytes.Equal(doc, api.OpenAPIDocument()) {
		t.Fatal("the embedded document differs from the generated one: rebuild")
	}
}
