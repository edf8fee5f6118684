package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UFW drives ufw. It manages only rules of one shape, the one it writes:
//
//	ufw allow from SOURCE to any port PORT proto tcp comment 'cellar:...'
//
// (no interface, no logging, incoming, any destination), whose comment
// starts with "cellar:". Every other rule is left alone. ufw keeps one rule
// per (source, port, protocol) whatever its action or comment, and adding
// one over another replaces it; so where a non-Cellar rule already holds a
// desired rule's source and port, Apply does not touch it: a plain allow
// there already admits the source (nothing to do), any other rule (deny,
// reject, limit, logging) is reported as a conflict in Apply's error.
//
// Calls on drivers with the same command are serialised (ufw is not safe to
// run concurrently). ufw runs with LC_ALL=C so its messages can be read.
type UFW struct {
	command []string
	mu      *sync.Mutex
}

// locks holds one mutex per ufw command, shared by every UFW made with it.
var locks sync.Map

// NewUFW returns a driver that runs ufw as command, e.g. []string{"ufw"} or
// []string{"ip", "netns", "exec", "ns1", "ufw"}.
func NewUFW(command []string) *UFW {
	c := slices.Clone(command)
	m, _ := locks.LoadOrStore(strings.Join(c, "\x00"), new(sync.Mutex))
	return &UFW{command: c, mu: m.(*sync.Mutex)}
}

// Name is "ufw".
func (u *UFW) Name() string { return "ufw" }

// Active reports whether ufw says "Status: active".
func (u *UFW) Active(ctx context.Context) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out, _, err := u.run(ctx, "status")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(out, "\n") {
		switch strings.TrimSpace(line) {
		case "Status: active":
			return true, nil
		case "Status: inactive":
			return false, nil
		}
	}
	return false, fmt.Errorf("ufw status: no status line in %q", clip(out))
}

// Rules lists the Cellar-managed rules ufw has stored (enforced or not).
func (u *UFW) Rules(ctx context.Context) ([]Rule, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	current, err := u.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []Rule
	for _, e := range current {
		if e.managed() {
			out = append(out, e.rule())
		}
	}
	slices.SortFunc(out, compareRules)
	return out, nil
}

// Apply converges the Cellar-managed rules to desired (see Driver.Apply and
// UFW). It adds before it deletes, so a source that stays allowed is never
// dropped in between. A ufw command that has started runs to its end even
// if ctx is cancelled (killing ufw midway can leave its files and tables
// apart); no further command starts.
func (u *UFW) Apply(ctx context.Context, desired []Rule) ([]Change, error) {
	if err := Validate(desired); err != nil {
		return nil, err
	}
	want := Collapse(desired)
	u.mu.Lock()
	defer u.mu.Unlock()
	current, err := u.list(ctx)
	if err != nil {
		return nil, err
	}
	p := makePlan(want, current)
	errs := p.conflicts
	var changes []Change
	for _, s := range p.add {
		if err := ctx.Err(); err != nil {
			return changes, errors.Join(append(errs, err)...)
		}
		out, err := u.change(ctx, addArgs(s.rule)...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.Contains(out, "Skipping adding existing rule") {
			continue // already there after all
		}
		if s.replaces != nil {
			changes = append(changes, Change{Added: false, Rule: *s.replaces})
		}
		changes = append(changes, Change{Added: true, Rule: s.rule})
	}
	for _, s := range p.remove {
		if err := ctx.Err(); err != nil {
			return changes, errors.Join(append(errs, err)...)
		}
		out, err := u.change(ctx, "delete", "allow", "from", s.spec, "to", "any", "port", strconv.Itoa(s.rule.Port), "proto", "tcp")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.Contains(out, "Could not delete non-existent rule") {
			continue // already gone
		}
		changes = append(changes, Change{Added: false, Rule: s.rule})
	}
	return changes, errors.Join(errs...)
}

// addArgs are the ufw arguments that add (or re-comment) a rule.
func addArgs(r Rule) []string {
	return []string{"allow", "from", sourceSpec(r.Source), "to", "any", "port", strconv.Itoa(r.Port), "proto", "tcp", "comment", r.Comment}
}

// sourceSpec writes a source as ufw shows it: a single address bare, a
// network in CIDR notation (0.0.0.0/0 and ::/0 are IPv4-only and IPv6-only
// "anywhere").
func sourceSpec(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// step is one planned command.
type step struct {
	rule     Rule
	replaces *Rule // add: the Cellar rule in the same slot whose comment this one replaces
	spec     string
}

type plan struct {
	add, remove []step
	conflicts   []error
}

// makePlan works out the commands that take current (every parsed ufw
// rule) to want (collapsed, valid desired rules).
func makePlan(want []Rule, current []entry) plan {
	managed := map[key]entry{}
	foreign := map[key]entry{}
	for _, e := range current {
		if e.managed() {
			managed[e.key()] = e
		} else {
			foreign[e.key()] = e
		}
	}
	var p plan
	wanted := map[key]bool{}
	for _, r := range want {
		wanted[r.key()] = true
		if m, ok := managed[r.key()]; ok {
			if m.comment != r.Comment {
				old := m.rule()
				p.add = append(p.add, step{rule: r, replaces: &old})
			}
			continue
		}
		if f, ok := foreign[r.key()]; ok {
			if f.action != "allow" || f.log != "" {
				p.conflicts = append(p.conflicts, fmt.Errorf("firewall: cannot add %s: ufw already has a rule for that source and port that Cellar does not manage (ufw %s); left alone", r, f.line))
			}
			// A plain allow already admits the source; it is not ours to change.
			continue
		}
		p.add = append(p.add, step{rule: r})
	}
	var stale []entry
	for k, m := range managed {
		if !wanted[k] {
			stale = append(stale, m)
		}
	}
	slices.SortFunc(stale, func(a, b entry) int { return compareRules(a.rule(), b.rule()) })
	for _, m := range stale {
		p.remove = append(p.remove, step{rule: m.rule(), spec: m.spec})
	}
	return p
}

// entry is one rule of `ufw show added` in the shape Cellar writes, whatever
// its action, logging and comment.
type entry struct {
	action  string       // allow, deny, reject or limit
	log     string       // "", "log" or "log-all"
	port    int          // destination port (tcp)
	source  netip.Prefix // zero: any source, IP version not known yet (see resolveAny)
	spec    string       // the source as ufw printed it, to delete the rule by
	comment string
	line    string // the rule as ufw printed it, without the "ufw " prefix
}

// managed reports whether Cellar owns the rule: an allow without logging
// whose comment starts with "cellar:".
func (e entry) managed() bool {
	return e.action == "allow" && e.log == "" && e.source.IsValid() && strings.HasPrefix(e.comment, CommentPrefix)
}

func (e entry) key() key { return key{e.port, e.source.Masked()} }

func (e entry) rule() Rule { return Rule{Port: e.port, Source: e.source, Comment: e.comment} }

const addedHeader = "Added user rules"

// parseAdded reads `ufw show added`. It returns the rules of the shape
// Cellar writes (see entry) and skips every other rule; output that is not
// a list of ufw rules is an error.
func parseAdded(out string) ([]entry, error) {
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	header := false
	var entries []entry
	for _, line := range lines {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case !header:
			if !strings.HasPrefix(line, addedHeader) {
				return nil, fmt.Errorf("ufw show added: unexpected first line %q", clip(line))
			}
			header = true
		case line == "(None)":
		case strings.HasPrefix(line, "ufw "):
			if e, ok := parseRule(strings.TrimPrefix(line, "ufw ")); ok {
				entries = append(entries, e)
			}
		default:
			return nil, fmt.Errorf("ufw show added: unexpected line %q", clip(line))
		}
	}
	if !header {
		return nil, fmt.Errorf("ufw show added: no %q header in %q", addedHeader, clip(out))
	}
	return entries, nil
}

// parseRule reads one rule as `ufw show added` prints it (UFWCommandRule
// get_command): "ACTION [LOG] from SRC to any port P proto tcp [comment
// 'C']", or "ACTION [LOG] P/tcp [comment 'C']" when the source is any. ok
// is false for every other shape.
func parseRule(s string) (e entry, ok bool) {
	e.line = s
	spec := s
	if i := strings.Index(s, " comment '"); i >= 0 {
		if !strings.HasSuffix(s, "'") || len(s) < i+len(" comment '")+1 {
			return e, false
		}
		spec, e.comment = s[:i], s[i+len(" comment '"):len(s)-1]
	}
	f := strings.Fields(spec)
	if len(f) == 0 {
		return e, false
	}
	switch f[0] {
	case "allow", "deny", "reject", "limit":
		e.action = f[0]
	default:
		return e, false // e.g. "route allow ..."
	}
	f = f[1:]
	if len(f) > 0 && (f[0] == "log" || f[0] == "log-all") {
		e.log, f = f[0], f[1:]
	}
	switch {
	case len(f) == 1: // any source: "5432/tcp"
		p, found := strings.CutSuffix(f[0], "/tcp")
		if e.port, ok = parsePort(p); !found || !ok {
			return e, false
		}
	case len(f) == 8 && f[0] == "from" && f[2] == "to" && f[3] == "any" && f[4] == "port" && f[6] == "proto" && f[7] == "tcp":
		src, err := parseSource(f[1])
		if err != nil {
			return e, false
		}
		if e.port, ok = parsePort(f[5]); !ok {
			return e, false
		}
		e.source, e.spec = src, f[1]
	default:
		return e, false
	}
	return e, true
}

func parsePort(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == s
}

// parseSource reads an address ("10.0.0.1", a /32 or /128) or a network.
func parseSource(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q has a zone", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

var (
	anyV4 = netip.MustParsePrefix("0.0.0.0/0")
	anyV6 = netip.MustParsePrefix("::/0")
)

// list reads ufw's stored rules.
func (u *UFW) list(ctx context.Context) ([]entry, error) {
	out, _, err := u.run(ctx, "show", "added")
	if err != nil {
		return nil, err
	}
	entries, err := parseAdded(out)
	if err != nil {
		return nil, err
	}
	return u.resolveAny(ctx, entries)
}

// resolveAny settles the IP version of any-source rules. `ufw show added`
// prints an IPv4 "from 0.0.0.0/0" rule and an IPv6 "from ::/0" rule alike
// ("allow 5432/tcp") and lists such a pair once; so for each such line ask
// ufw, per IP version, whether adding exactly that rule would be skipped as
// existing (--dry-run: nothing is written).
func (u *UFW) resolveAny(ctx context.Context, entries []entry) ([]entry, error) {
	var out []entry
	for _, e := range entries {
		if e.source.IsValid() {
			out = append(out, e)
			continue
		}
		for _, src := range []netip.Prefix{anyV4, anyV6} {
			args := []string{"--dry-run", e.action}
			if e.log != "" {
				args = append(args, e.log)
			}
			args = append(args, "from", src.String(), "to", "any", "port", strconv.Itoa(e.port), "proto", "tcp")
			if e.comment != "" {
				args = append(args, "comment", e.comment)
			}
			_, res, err := u.run(ctx, args...)
			if err != nil {
				if src.Addr().Is6() && strings.Contains(err.Error(), "IPv6 support not enabled") {
					continue // no IPv6 rules are in force
				}
				return nil, err
			}
			if strings.Contains(res, "Skipping adding existing rule") {
				r := e
				r.source, r.spec = src, src.String()
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// changeTimeout bounds a ufw command that changes rules; it is not cut
// short by the caller's context.
const changeTimeout = 2 * time.Minute

func (u *UFW) change(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), changeTimeout)
	defer cancel()
	_, all, err := u.run(ctx, args...)
	return all, err
}

// run runs ufw with args and returns its standard output and, for reading
// ufw's messages, its whole output (standard output then standard error,
// where ufw writes warnings). The error names the command and carries
// ufw's output.
func (u *UFW) run(ctx context.Context, args ...string) (stdout, all string, err error) {
	if len(u.command) == 0 {
		return "", "", errors.New("ufw: empty command")
	}
	argv := append(slices.Clone(u.command), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// ufw's messages are translated (Python gettext reads LANGUAGE first).
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "LANGUAGE=C")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return out.String(), out.String() + errOut.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, clip(msg))
	}
	return out.String(), out.String() + errOut.String(), nil
}

// clip shortens s for error messages.
func clip(s string) string {
	const limit = 1000
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
