// Command openapigen writes internal/api/openapi.json, the OpenAPI document
// of Cellar's API, from the route table and the endpoints' request and
// response types (internal/api/openapi_doc.go). make generate runs it.
package main

import (
	"fmt"
	"os"

	"github.com/cellar/cellar/internal/api"
)

func main() {
	out := "internal/api/openapi.json"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := run(out); err != nil {
		fmt.Fprintln(os.Stderr, "openapigen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	doc, err := api.OpenAPI()
	if err != nil {
		return err
	}
	return os.WriteFile(out, doc, 0o644)
}
