package supervise_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellar/cellar/internal/supervise"
)

// sleeper is a real child process (sleep) as a Target.
type sleeper struct {
	t *testing.T

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	failWith error // Restart fails with this while set
}

func newSleeper(t *testing.T) *sleeper {
	s := &sleeper{t: t}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.mu.Lock()
		cmd, done := s.cmd, s.done
		s.mu.Unlock()
		_ = cmd.Process.Kill()
		<-done
	})
	return s
}

func (s *sleeper) start() error {
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(done)
	}()
	return nil
}

func (s *sleeper) Exited() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

func (s *sleeper) ExitReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waitErr == nil {
		return ""
	}
	return s.waitErr.Error()
}

func (s *sleeper) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

func (s *sleeper) Restart(ctx context.Context) error {
	s.mu.Lock()
	fail := s.failWith
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	return s.start()
}

func (s *sleeper) kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(s.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, sup *supervise.Supervisor, what string, ok func(supervise.Status) bool) supervise.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := sup.Status()[0]
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSupervisor_KilledProcessIsRestartedAndCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	sup := supervise.New(supervise.Options{Registerer: reg, MinBackoff: 10 * time.Millisecond})
	defer sup.Close()
	s := newSleeper(t)
	if err := sup.Watch("sleeper", s); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		old := s.Pid()
		s.kill(t)
		st := waitFor(t, sup, "restart", func(st supervise.Status) bool { return st.Restarts == i && st.State == supervise.Running })
		if st.Pid == old || st.Pid != s.Pid() {
			t.Fatalf("pid %d after restart, was %d, process has %d", st.Pid, old, s.Pid())
		}
	}
	sup.Close()
	if got := metricValue(t, reg, "cellar_supervised_restarts_total"); got != 2 {
		t.Fatalf("restarts_total = %v, want 2", got)
	}
}

func TestSupervisor_RepeatedFailuresAreReportedAsFailed(t *testing.T) {
	reg := prometheus.NewRegistry()
	sup := supervise.New(supervise.Options{Registerer: reg, MinBackoff: 5 * time.Millisecond, MaxFailures: 3})
	defer sup.Close()
	s := newSleeper(t)
	s.failWith = errors.New("port 5432 is taken\nlong log tail")
	if err := sup.Watch("sleeper", s); err != nil {
		t.Fatal(err)
	}
	s.kill(t)
	st := waitFor(t, sup, "failed", func(st supervise.Status) bool { return st.State == supervise.Failed })
	if !strings.Contains(st.Reason, "signal: killed") || !strings.Contains(st.Reason, "port 5432 is taken") ||
		strings.Contains(st.Reason, "long log tail") || !strings.Contains(st.Reason, "3 consecutive failures") {
		t.Fatalf("reason %q", st.Reason)
	}
	if got := metricValue(t, reg, "cellar_supervised_failed"); got != 1 {
		t.Fatalf("failed = %v", got)
	}
	if got := metricValue(t, reg, "cellar_supervised_up"); got != 0 {
		t.Fatalf("up = %v", got)
	}
}

// Closing the supervisor must not stop what it watched: a process meant to
// outlive Cellar keeps running.
func TestSupervisor_CloseLeavesProcessesRunning(t *testing.T) {
	sup := supervise.New(supervise.Options{MinBackoff: 5 * time.Millisecond})
	s := newSleeper(t)
	if err := sup.Watch("sleeper", s); err != nil {
		t.Fatal(err)
	}
	sup.Close()
	if err := syscall.Kill(s.Pid(), 0); err != nil {
		t.Fatalf("process gone after Close: %v", err)
	}
	s.kill(t)
	<-s.Exited()
	time.Sleep(50 * time.Millisecond)
	if st := sup.Status()[0]; st.Restarts != 0 {
		t.Fatalf("restarted after Close: %+v", st)
	}
}

// metricValue reads the single series of a counter or gauge family.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
