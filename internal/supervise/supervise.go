// Package supervise keeps long-running server processes alive: when one
// exits, it is restarted with exponential backoff, every exit and restart is
// logged and counted, and its health can be read at any time. After too many
// failures in a row it is reported as failed, with the reason, and left
// alone for an operator.
//
// The package knows nothing about what it supervises: a Target says when
// the current incarnation of a process has exited and how to start the next
// one. A Target may own a child process (the embedded servers of `make run`)
// or watch one it adopted (a process in its own session that outlives
// Cellar, found again at start through its pid file and command line); the
// Supervisor treats both alike. Closing the Supervisor stops watching and
// restarting but never stops a process: stopping is the owner's business,
// and a process meant to outlive Cellar must not die with it.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Target is one supervised process.
type Target interface {
	// Exited returns a channel that is closed when the current incarnation
	// has exited. It is called again after every successful Restart.
	Exited() <-chan struct{}
	// ExitReason says how the current incarnation ended, e.g. "signal:
	// killed"; valid once Exited is closed. It must not contain secrets.
	ExitReason() string
	// Restart starts a new incarnation with the same data, address and
	// credentials, and returns once it serves again. ctx bounds the start.
	Restart(ctx context.Context) error
	// Pid is the current incarnation's process id, for logs and status.
	Pid() int
}

// State is a supervised process's condition.
type State string

// States.
const (
	Running    State = "running"    // serving
	Restarting State = "restarting" // exited; waiting for or in a restart
	Failed     State = "failed"     // given up on after MaxFailures; needs an operator
)

// Status is a snapshot of one supervised process.
type Status struct {
	Name     string
	State    State
	Pid      int
	Restarts int // successful restarts since the Supervisor began
	// Reason says why the process is not running (for Restarting and
	// Failed): its exit and, once a restart failed, that failure's first
	// line. For logs and operators; not for untrusted clients.
	Reason string
	Since  time.Time // when State was entered
}

// Options configures a Supervisor. Zero values take the defaults.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// MinBackoff is the wait before the first restart (default 500ms);
	// each consecutive failure doubles it up to MaxBackoff (default 30s).
	MinBackoff, MaxBackoff time.Duration
	// MaxFailures is how many consecutive failures (a restart that fails,
	// or an incarnation that exits before StableAfter) put a process in
	// the Failed state (default 5).
	MaxFailures int
	// StableAfter is how long an incarnation must run for its start to
	// count as a success that resets the failure count (default 30s).
	StableAfter time.Duration
	// StartTimeout bounds one Restart (default 2m).
	StartTimeout time.Duration
}

// Supervisor watches targets and restarts them.
type Supervisor struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	units map[string]*unit

	restarts *prometheus.CounterVec
	exits    *prometheus.CounterVec
	up       *prometheus.GaugeVec
	failed   *prometheus.GaugeVec
}

type unit struct {
	name   string
	target Target
	status Status
}

// New returns a Supervisor. Register processes with Watch; Close stops it.
func New(o Options) *Supervisor {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.StableAfter <= 0 {
		o.StableAfter = 30 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{
		opts: o, log: o.Logger, ctx: ctx, cancel: cancel, units: map[string]*unit{},
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellar_supervised_restarts_total",
			Help: "Successful restarts of a supervised process after it exited.",
		}, []string{"process"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellar_supervised_exits_total",
			Help: "Unexpected exits of a supervised process.",
		}, []string{"process"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellar_supervised_up",
			Help: "1 while a supervised process is running, 0 while it is restarting or failed.",
		}, []string{"process"}),
		failed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellar_supervised_failed",
			Help: "1 once a supervised process was given up on after repeated failures.",
		}, []string{"process"}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.restarts, s.exits, s.up, s.failed)
	}
	return s
}

// Watch starts supervising a running target under a unique name.
func (s *Supervisor) Watch(name string, t Target) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return errors.New("supervise: closed")
	}
	if _, ok := s.units[name]; ok {
		return fmt.Errorf("supervise: %q is already watched", name)
	}
	u := &unit{name: name, target: t, status: Status{Name: name, State: Running, Pid: t.Pid(), Since: time.Now()}}
	s.units[name] = u
	s.restarts.WithLabelValues(name)
	s.exits.WithLabelValues(name)
	s.up.WithLabelValues(name).Set(1)
	s.failed.WithLabelValues(name).Set(0)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(u)
	}()
	return nil
}

// Status returns every process's status, sorted by name.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.units))
	for _, u := range s.units {
		out = append(out, u.status)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops watching and waits for restarts in progress to give up. It
// does not stop any process.
func (s *Supervisor) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Supervisor) set(u *unit, f func(st *Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&u.status)
}

// run is one process's loop: wait for an exit, restart with backoff, and
// give up after MaxFailures consecutive failures.
func (s *Supervisor) run(u *unit) {
	failures := 0
	startedAt := time.Now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-u.target.Exited():
		}
		if s.ctx.Err() != nil {
			return // an exit during shutdown is the owner stopping it
		}
		reason := u.target.ExitReason()
		if time.Since(startedAt) < s.opts.StableAfter && u.status.Restarts > 0 {
			failures++ // it died soon after its last restart: a crash loop
		} else {
			failures = 0
		}
		s.exits.WithLabelValues(u.name).Inc()
		s.up.WithLabelValues(u.name).Set(0)
		s.log.Error("supervised process exited; restarting it", "process", u.name, "pid", u.target.Pid(),
			"exit", reason, "uptime", time.Since(startedAt).Round(time.Millisecond))
		s.set(u, func(st *Status) {
			st.State, st.Reason, st.Since = Restarting, "exited ("+reason+")", time.Now()
		})
		for {
			if failures >= s.opts.MaxFailures {
				s.giveUp(u, failures)
				return
			}
			wait := s.backoff(failures)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(wait):
			}
			began := time.Now()
			ctx, cancel := context.WithTimeout(s.ctx, s.opts.StartTimeout)
			err := u.target.Restart(ctx)
			cancel()
			if s.ctx.Err() != nil {
				return
			}
			if err == nil {
				startedAt = time.Now()
				s.restarts.WithLabelValues(u.name).Inc()
				s.up.WithLabelValues(u.name).Set(1)
				s.set(u, func(st *Status) {
					st.State, st.Reason, st.Since, st.Pid = Running, "", startedAt, u.target.Pid()
					st.Restarts++
				})
				s.log.Warn("supervised process restarted", "process", u.name, "pid", u.target.Pid(),
					"after", wait, "start_ms", time.Since(began).Milliseconds(), "consecutive_failures", failures)
				break
			}
			failures++
			s.log.Error("restart of supervised process failed", "process", u.name, "attempt", failures, "err", err)
			s.set(u, func(st *Status) { st.Reason = "exited (" + reason + "); restart failed: " + firstLine(err.Error()) })
		}
	}
}

func (s *Supervisor) giveUp(u *unit, failures int) {
	s.failed.WithLabelValues(u.name).Set(1)
	s.set(u, func(st *Status) {
		st.State, st.Since = Failed, time.Now()
		st.Reason = fmt.Sprintf("gave up after %d consecutive failures: %s", failures, st.Reason)
	})
	s.log.Error("supervised process failed for good; restart Cellar or the process by hand once the cause is fixed",
		"process", u.name, "failures", failures, "reason", u.status.Reason)
}

// backoff is MinBackoff doubled per consecutive failure, capped.
func (s *Supervisor) backoff(failures int) time.Duration {
	d := s.opts.MinBackoff
	for range failures {
		d *= 2
		if d >= s.opts.MaxBackoff {
			return s.opts.MaxBackoff
		}
	}
	return d
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
