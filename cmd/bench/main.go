// Command bench measures Cellar's create and delete latency through the
// API against the raw operations on the same servers in the same run: the
// DDL a careful operator would type plus the Vault write. It also measures
// creates per second with concurrent clients. `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	n := flag.Int("n", 40, "sequential creates and deletes per engine and path")
	clients := flag.Int("clients", 16, "concurrent clients for the throughput run")
	perClient := flag.Int("per-client", 4, "creates per client in the throughput run")
	target := flag.Float64("target", 1.3, "API create p50 must be within this ratio of raw")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := run(ctx, *n, *clients, *perClient, *target, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
