package postgres

import (
	"errors"
	"fmt"
	"sync"
)

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
