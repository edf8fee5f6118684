package provision

// Shared parts of Swapper.SwapDatabase (see postgres/swap.go and
// mariadb/swap*.go for the engines' designs).

import (
	"errors"
	"fmt"
)

// ErrSwapConflict is returned (wrapped) by SwapDatabase when the three
// databases are in a state that no swap of these names can have produced,
// for instance a retired database that already exists and is not the
// leftover of an interrupted swap of the same live database, or a live
// database that is not the owner's. Nothing is changed; it needs a human.
var ErrSwapConflict = errors.New("databases are not in a state SwapDatabase can continue from")

// ValidSwapNames checks SwapDatabase's arguments: four valid identifiers,
// the three database names distinct, none of them reserved.
func ValidSwapNames(live, replacement, retired, owner string, reserved map[string]bool) error {
	if err := ValidNames("live database", live, "replacement database", replacement,
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
// Swapper.SwapProgress after a swap returned an error.
type SwapProgress int

const (
	// SwapNotStarted means live is as it was and open; replacement still holds
	// the new contents. Dropping replacement (and retired, which is then
	// absent or an empty leftover) undoes everything.
	SwapNotStarted SwapProgress = iota
	// SwapPartial means the swap stopped half-way and could not undo itself
	// (live may be closed to its owner, or miss some objects); only a
	// re-run of SwapDatabase, which goes forward, or a human can settle it.
	SwapPartial
	// SwapDone means live holds the new contents (the point of no return has
	// passed); a re-run of SwapDatabase completes what is left.
	SwapDone
)
