// Package firewall is the host firewall layer of Cellar's access rules: it
// converges the host firewall's Cellar-managed rules (those whose comment
// starts with "cellar:") to the set the metadata asks for, and leaves every
// other rule alone.
package firewall

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
)

// CommentPrefix starts the comment of every rule Cellar manages.
const CommentPrefix = "cellar:"

// Rule allows TCP from Source to the local Port. Comment ties it to Cellar:
// "cellar:<rule-id>".
type Rule struct {
	Port    int
	Source  netip.Prefix
	Comment string
}

// Change is one rule a convergence added or removed, for drift reports and
// logs.
type Change struct {
	Added bool
	Rule  Rule
}

// Driver converges the host firewall's Cellar-managed rules (and only those:
// rules whose comment starts with "cellar:") to a desired set.
type Driver interface {
	// Name is "ufw" or "none".
	Name() string
	// Apply adds missing desired rules and deletes Cellar rules not
	// desired, leaving every other rule alone. It is idempotent (a second
	// call changes nothing) and returns what it changed. Desired rules with
	// the same (Port, Source) are collapsed (ufw keeps one rule per
	// source/port): the first comment in sorted order wins,
	// deterministically. Invalid rules fail the whole call before anything
	// changes. It may return changes together with an error when only part
	// of the work succeeded.
	Apply(ctx context.Context, desired []Rule) ([]Change, error)
	// Rules lists the Cellar-managed rules currently configured, sorted by
	// port, source and comment.
	Rules(ctx context.Context) ([]Rule, error)
	// Active reports whether the firewall is enforcing (ufw "Status:
	// active"); rules of an inactive ufw are stored but not enforced.
	Active(ctx context.Context) (bool, error)
}

// New returns the driver of the given kind: "ufw" (command runs ufw, e.g.
// ["ufw"] or ["ip", "netns", "exec", "ns1", "ufw"]) or "none".
func New(kind string, command []string) (Driver, error) {
	switch kind {
	case "ufw":
		if len(command) == 0 || command[0] == "" {
			return nil, fmt.Errorf("firewall ufw: empty command")
		}
		return NewUFW(command), nil
	case "none":
		return None(), nil
	default:
		return nil, fmt.Errorf("unknown firewall driver %q (want ufw or none)", kind)
	}
}

// None is the driver for hosts whose outer firewall is managed elsewhere:
// Apply validates its input and changes nothing, Rules lists nothing, and
// Active is false (Cellar enforces nothing at this layer).
func None() Driver { return none{} }

type none struct{}

func (none) Name() string { return "none" }

func (none) Apply(_ context.Context, desired []Rule) ([]Change, error) {
	return nil, Validate(desired)
}

func (none) Rules(context.Context) ([]Rule, error) { return nil, nil }

func (none) Active(context.Context) (bool, error) { return false, nil }

var commentRE = regexp.MustCompile(`^cellar:[A-Za-z0-9:_-]{1,60}$`)

// Validate checks rules: port 1..65535, a valid source prefix without host
// bits (and not an IPv4-mapped IPv6 one), a comment matching
// ^cellar:[A-Za-z0-9:_-]{1,60}$.
func Validate(rules []Rule) error {
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks one rule (see the package function Validate).
func (r Rule) Validate() error {
	if r.Port < 1 || r.Port > 65535 {
		return fmt.Errorf("firewall rule %q: port %d out of range 1-65535", r.Comment, r.Port)
	}
	if !r.Source.IsValid() {
		return fmt.Errorf("firewall rule %q: invalid source prefix", r.Comment)
	}
	if r.Source.Masked() != r.Source {
		return fmt.Errorf("firewall rule %q: source %s has host bits set (want %s)", r.Comment, r.Source, r.Source.Masked())
	}
	if r.Source.Addr().Is4In6() {
		return fmt.Errorf("firewall rule %q: source %s is an IPv4-mapped IPv6 prefix; use the IPv4 form", r.Comment, r.Source)
	}
	if !commentRE.MatchString(r.Comment) {
		return fmt.Errorf("firewall rule for %s port %d: comment %q must match %s", r.Source, r.Port, r.Comment, commentRE)
	}
	return nil
}

// String renders the rule for logs: "tcp/5432 from 10.0.0.0/24 (cellar:x)".
func (r Rule) String() string {
	return fmt.Sprintf("tcp/%d from %s (%s)", r.Port, r.Source, r.Comment)
}

// key identifies a rule slot: the firewall keeps one rule per source and
// port.
type key struct {
	port   int
	source netip.Prefix
}

func (r Rule) key() key { return key{r.Port, r.Source} }

func compareRules(a, b Rule) int {
	return cmp.Or(
		cmp.Compare(a.Port, b.Port),
		comparePrefix(a.Source, b.Source),
		cmp.Compare(a.Comment, b.Comment),
	)
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// Collapse returns the rules sorted by port, source and comment with one
// rule per (Port, Source): the one whose comment sorts first.
func Collapse(rules []Rule) []Rule {
	out := slices.Clone(rules)
	slices.SortFunc(out, compareRules)
	return slices.CompactFunc(out, func(a, b Rule) bool { return a.key() == b.key() })
}
