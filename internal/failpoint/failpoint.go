// Package failpoint lets crash tests stop Cellar between two steps of a
// multi-step change. Production configuration sets none, and then Hit costs
// a map lookup on an empty map.
package failpoint

import (
	"fmt"
	"os"
	"strings"
	"syscall"
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
)

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
		switch Action(action) {
		case Kill, Error:
			set[name] = Action(action)
		default:
			return nil, fmt.Errorf("failpoint %q: action must be kill or error", item)
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
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not deliverable late; never return
	case Error:
		return fmt.Errorf("%s: %w", name, ErrInjected)
	}
	return nil
}
