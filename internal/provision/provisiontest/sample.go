package provisiontest

// Checks of Sampler.Sample that every engine must pass, and the scale
// benchmark's set-up.

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/provision"
)

// SampleOf runs Sample and fails the test on error.
func SampleOf(t *testing.T, ctx context.Context, d provision.Driver, prefix string) provision.ServerSample {
	t.Helper()
	s, err := d.Sample(ctx, prefix)
	if err != nil {
		t.Fatalf("Sample(%q): %v", prefix, err)
	}
	if s.Databases == nil || s.MeasuredAt.IsZero() {
		t.Fatalf("Sample(%q) = %+v: nil map or no time", prefix, s)
	}
	return s
}

// SampleUntil samples until ok accepts a sample (statistics reach the
// server's views with a delay), for up to 20 s, and returns the last one.
func SampleUntil(t *testing.T, ctx context.Context, d provision.Driver, prefix string, ok func(provision.ServerSample) bool) provision.ServerSample {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := SampleOf(t, ctx, d, prefix)
		if ok(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// SampleNames returns a sample's database names, sorted.
func SampleNames(s provision.ServerSample) []string {
	return slices.Sorted(maps.Keys(s.Databases))
}

// CheckSampleCommon checks what both engines promise: the prefix filters,
// an invalid prefix is refused, and the process figures of a server on this
// host (the harness's servers are its children) are there and plausible.
func CheckSampleCommon(t *testing.T, ctx context.Context, d provision.Driver, before, after provision.ServerSample, prefix string, want []string) {
	t.Helper()
	if got := SampleNames(after); !slices.Equal(got, want) {
		t.Errorf("Sample(%q) databases = %v, want %v", prefix, got, want)
	}
	only := SampleOf(t, ctx, d, want[0])
	if got := SampleNames(only); !slices.Equal(got, want[:1]) {
		t.Errorf("Sample(%q) databases = %v, want %v", want[0], got, want[:1])
	}
	if got := SampleNames(SampleOf(t, ctx, d, prefix+"nothing_here")); len(got) != 0 {
		t.Errorf("Sample of an unused prefix = %v, want none", got)
	}
	all := SampleOf(t, ctx, d, "")
	for _, name := range want {
		if _, ok := all.Databases[name]; !ok {
			t.Errorf("Sample(\"\") lacks %s", name)
		}
	}
	if _, err := d.Sample(ctx, "Cust_"); err == nil {
		t.Error("Sample(\"Cust_\") succeeded, want an invalid prefix error")
	}

	for _, s := range []provision.ServerSample{before, after} {
		if s.CPUSeconds == nil || s.MemoryPercent == nil {
			t.Fatalf("process figures of a server on this host are missing: CPU %v, memory %v", s.CPUSeconds, s.MemoryPercent)
		}
		if *s.CPUSeconds <= 0 || !(*s.MemoryPercent > 0 && *s.MemoryPercent < 100) {
			t.Errorf("process figures: %v CPU seconds, %v%% memory; want > 0 and 0..100", *s.CPUSeconds, *s.MemoryPercent)
		}
	}
	t.Logf("process figures: %.2f -> %.2f CPU seconds, %.3f%% -> %.3f%% memory",
		*before.CPUSeconds, *after.CPUSeconds, *before.MemoryPercent, *after.MemoryPercent)
	if *after.CPUSeconds < *before.CPUSeconds {
		t.Errorf("CPU seconds went down from %v to %v", *before.CPUSeconds, *after.CPUSeconds)
	}
	if !after.MeasuredAt.After(before.MeasuredAt) {
		t.Errorf("MeasuredAt did not advance: %v, %v", before.MeasuredAt, after.MeasuredAt)
	}
}

// CheckRatio checks that a cache hit ratio, if present, is a percentage.
func CheckRatio(t *testing.T, what string, r *float64, required bool) {
	t.Helper()
	switch {
	case r == nil && required:
		t.Errorf("%s cache hit ratio is nil", what)
	case r != nil && !(*r >= 0 && *r <= 100):
		t.Errorf("%s cache hit ratio = %v, want 0..100", what, *r)
	}
}

// SampleScale creates n databases named cust_bench_NNNN through the driver,
// each with an owner of the same name and (by setup) a small table, n
// concurrent, and drops them all at the end.
func SampleScale(b *testing.B, d provision.Driver, n, workers int, setup func(ctx context.Context, name string) error) {
	b.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("cust_bench_%04d", i)
	}
	run := func(what string, f func(ctx context.Context, name string) error) {
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		work := make(chan string)
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for name := range work {
					if err := f(ctx, name); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("%s %s: %w", what, name, err))
						mu.Unlock()
					}
				}
			})
		}
		for _, name := range names {
			work <- name
		}
		close(work)
		wg.Wait()
		b.Logf("%s %d databases: %v", what, n, time.Since(began).Round(time.Millisecond))
		if len(errs) > 0 {
			b.Fatalf("%s: %d errors, first: %v", what, len(errs), errs[0])
		}
	}
	b.Cleanup(func() {
		run("drop", func(ctx context.Context, name string) error {
			if err := d.DropDatabase(ctx, name); err != nil {
				return err
			}
			return d.DropUser(ctx, name)
		})
	})
	run("create", func(ctx context.Context, name string) error {
		if err := d.EnsureUser(ctx, name, "pw-bench"); err != nil {
			return err
		}
		if err := d.EnsureDatabase(ctx, name, name); err != nil {
			return err
		}
		return setup(ctx, name)
	})
}

// BenchSample measures Sample over the benchmark's databases; cold, if
// set, empties the server's caches before the first pass.
func BenchSample(b *testing.B, d provision.Driver, n int, cold func(context.Context) error) {
	ctx := context.Background()
	if cold != nil {
		if err := cold(ctx); err != nil {
			b.Fatal(err)
		}
	}
	began := time.Now()
	s, err := d.Sample(ctx, "cust_bench_")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("first pass over %d databases: %v", len(s.Databases), time.Since(began).Round(time.Millisecond))
	if len(s.Databases) != n {
		b.Fatalf("Sample found %d databases, want %d", len(s.Databases), n)
	}
	for b.Loop() {
		if _, err := d.Sample(ctx, "cust_bench_"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchCount reads a database count from the environment.
func BenchCount(b *testing.B, env string, def int) int {
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 9999 {
			b.Fatalf("%s=%q: want 1..9999", env, v)
		}
		return n
	}
	return def
}
