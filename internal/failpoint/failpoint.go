// Package failpoint lets crash tests stop Cellar between two steps of a
// multi-step change. Production configuration sets none, and then Hit costs
// a map lookup on an empty map.
package failpoint

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// Action is what happens when a failpoint is hit.
type Action string

// Actions.
const (
	// Kill sends SIGKILL to the process itself: a real kill -9, with no
	// deferred functions, no rollbacks and no graceful shutdown.
	Kill Action = "kill"
	// Error makes the step fail with an error, exercising inline rollback.
	Error Action = "error"
	// sleepPrefix begins a Sleep action, "sleep:500ms": the step pauses
	// for that long and then goes on, to make an operation slow on purpose
	// (load and starvation tests).
	sleepPrefix = "sleep:"
)

// Sleep returns the action that pauses a step for d.
func Sleep(d time.Duration) Action { return Action(sleepPrefix + d.String()) }

// pause returns how long a Sleep action pauses, or 0 for another action.
func (a Action) pause() time.Duration {
	rest, ok := strings.CutPrefix(string(a), sleepPrefix)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// Set maps failpoint names (e.g. "create.after_user") to actions.
type Set map[string]Action

// Parse reads "name=action,name=action".
func Parse(spec string) (Set, error) {
	set := Set{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, action, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("failpoint %q: want name=action", item)
		}
		switch a := Action(action); {
		case a == Kill, a == Error, a.pause() > 0:
			set[name] = a
		default:
			return nil, fmt.Errorf("failpoint %q: action must be kill, error or sleep:DURATION (e.g. sleep:500ms)", item)
		}
	}
	return set, nil
}

// ErrInjected is returned by Hit for the Error action.
var ErrInjected = fmt.Errorf("failpoint: injected error")

// Hit triggers the failpoint called name, if one is set.
func (s Set) Hit(name string) error {
	switch s[name] {
	case Kill:
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not deliverable late; never return
	case Error:
		return fmt.Errorf("%s: %w", name, ErrInjected)
	}
	if d := s[name].pause(); d > 0 {
		time.Sleep(d)
	}
	return nil
}
