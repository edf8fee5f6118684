// Command bench measures Cellar's create and delete latency through the
// API against the raw operations on the same servers in the same run: the
// DDL a careful operator would type plus the Vault write. It also measures
// creates per second with concurrent clients, snapshot throughput against
// the bare dump tools, and a metrics collection pass over 1,000 databases
// per server. `make bench` runs it.
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
	snapRuns := flag.Int("snapshot-runs", 3, "snapshots per engine in the throughput comparison (0 skips it)")
	collectDBs := flag.Int("collect-databases", 1000, "databases per server for the metrics pass (0 skips it)")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := run(ctx, *n, *clients, *perClient, *target, *snapRuns, *collectDBs, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
