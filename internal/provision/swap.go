package provision

// Shared parts of Driver.SwapDatabase (see swap_postgres.go and
// swap_mariadb.go for the engines' designs).

import (
	"errors"
	"fmt"
	"sync"
)

// ErrSwapConflict is returned (wrapped) by SwapDatabase when the three
// databases are in a state that no swap of these names can have produced,
// for instance a retired database that already exists and is not the
// leftover of an interrupted swap of the same live database, or a live
// database that is not the owner's. Nothing is changed; it needs a human.
var ErrSwapConflict = errors.New("databases are not in a state SwapDatabase can continue from")

// swapHooks holds, for tests only, a function per live database name that
// SwapDatabase calls after each of its steps with the step's name. An error
// it returns stops the swap right there, as if the step had failed just
// after it completed. If the error wraps errSwapCrash, SwapDatabase returns
// it at once, without the clean-up an ordinary failure gets, which is what
// a crash of the process at that point would leave behind.
//
// A map keyed by the live name rather than a plain variable, so that a
// test's hook never fires for another test's databases.
var swapHooks sync.Map // string -> func(step string) error

// errSwapCrash marks a hook error as a simulated crash (see swapHooks).
var errSwapCrash = errors.New("simulated crash")

// swapStep runs the test hook registered for live, if any, after step.
func swapStep(live, step string) error {
	h, ok := swapHooks.Load(live)
	if !ok {
		return nil
	}
	if err := h.(func(string) error)(step); err != nil {
		return fmt.Errorf("swap of database %q stopped after step %q: %w", live, step, err)
	}
	return nil
}

// validSwapNames checks SwapDatabase's arguments: four valid identifiers,
// the three database names distinct, none of them reserved.
func validSwapNames(live, replacement, retired, owner string, reserved map[string]bool) error {
	if err := validNames("live database", live, "replacement database", replacement,
		"retired database", retired, "owner", owner); err != nil {
		return err
	}
	if live == replacement || live == retired || replacement == retired {
		return fmt.Errorf("swap database: live %q, replacement %q and retired %q must be three different names",
			live, replacement, retired)
	}
	for _, n := range []string{live, replacement, retired} {
		if reserved[n] {
			return fmt.Errorf("database %q: %w", n, ErrReserved)
		}
	}
	return nil
}

// SwapProgress is how far a SwapDatabase got, as read from the server by
// Driver.SwapProgress after a swap returned an error.
type SwapProgress int

const (
	// SwapNotStarted: live is as it was and open; replacement still holds
	// the new contents. Dropping replacement (and retired, which is then
	// absent or an empty leftover) undoes everything.
	SwapNotStarted SwapProgress = iota
	// SwapPartial: the swap stopped half-way and could not undo itself
	// (live may be closed to its owner, or miss some objects); only a
	// re-run of SwapDatabase, which goes forward, or a human can settle it.
	SwapPartial
	// SwapDone: live holds the new contents (the point of no return has
	// passed); a re-run of SwapDatabase completes what is left.
	SwapDone
)
