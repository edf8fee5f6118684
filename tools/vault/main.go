// Command vault builds a real HashiCorp Vault binary from the Go module proxy.
//
// Debian does not package Vault, so `make deps` builds this tool module once
// and caches the binary; Cellar's harness uses it for the dev server.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
