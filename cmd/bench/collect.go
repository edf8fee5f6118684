package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/secrets"
	"github.com/cellar/cellar/internal/service"
	"github.com/cellar/cellar/internal/snapstore"
	"github.com/cellar/cellar/internal/store"
)

// collectBench creates n databases per server through the service and
// times one metrics collection pass over them: one sample per server and
// the metadata writes, as the collector runs it.
func (r *rig) collectBench(ctx context.Context, out io.Writer, n int) error {
	fmt.Fprintf(out, "\nMetrics collection pass over %d databases per server:\n", n)
	st, err := store.Open(ctx, r.svcs.Metadata.DSN("cellar"), 16)
	if err != nil {
		return err
	}
	defer st.Close()
	vault, err := secrets.Open(secrets.Config{Addr: r.svcs.Vault.Addr, Token: r.svcs.Vault.Token, Mount: "secret", Prefix: "cellar"})
	if err != nil {
		return err
	}
	snaps, err := snapstore.NewLocal(r.snapshotDir)
	if err != nil {
		return err
	}
	svc := service.New(service.Deps{Store: st, Vault: vault, Logger: slog.New(slog.DiscardHandler), Snapshots: snaps,
		DefaultConnectionLimit: 100, Quota: service.QuotaDefaults{MaxDatabases: 1 << 20}})
	defer svc.Close()
	caller := service.Caller{Principal: cellar.Principal{KeyPrefix: "bench", CustomerID: "bench", Permissions: cellar.AllPermissions}}

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tdatabases\tcreate (untimed)\tpass\t")
	var names []struct{ engine, name string }
	for _, engine := range cellar.Engines {
		start := time.Now()
		created, err := createMany(ctx, svc, caller, engine, n)
		if err != nil {
			return err
		}
		setup := time.Since(start)
		for _, c := range created {
			names = append(names, struct{ engine, name string }{string(engine), c})
		}
		// One warm-up pass (the first opens every table), then the timed one.
		if _, err := svc.CollectMetrics(ctx); err != nil {
			return err
		}
		start = time.Now()
		sampled, err := svc.CollectMetrics(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f s\t%s\t\n", engine, sampled, setup.Seconds(), ms(time.Since(start)))
	}
	tw.Flush()
	fmt.Fprintln(out, "(each pass samples both servers; the second row's pass covers both engines' databases)")
	for _, d := range names {
		if err := svc.DeleteDatabase(ctx, caller, service.DeleteDatabaseRequest{DBType: d.engine, DBName: d.name}); err != nil {
			return err
		}
	}
	return nil
}

// createMany creates n databases with a few concurrent clients.
func createMany(ctx context.Context, svc *service.Service, c service.Caller, engine cellar.Engine, n int) ([]string, error) {
	var (
		mu    sync.Mutex
		names []string
		first error
		wg    sync.WaitGroup
	)
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				name := fmt.Sprintf("m%05d", i)
				res, err := svc.CreateDatabase(ctx, c, service.CreateDatabaseRequest{DBType: string(engine), RequestedName: &name})
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					names = append(names, res.Database)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return names, first
}
