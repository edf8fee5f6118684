//go:build tools

// Package tools pins sqlc, which `make generate` builds from this module so
// the server's own go.mod stays free of code-generator dependencies.
package tools

import _ "github.com/sqlc-dev/sqlc/cmd/sqlc"
