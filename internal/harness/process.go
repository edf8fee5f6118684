package harness

// process.go: starting, watching and stopping child processes, plus the
// file-system and port checks every server needs before it starts.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds how long a server may take to accept
	// connections. Cold starts take a second or two; the margin is for
	// loaded CI machines.
	readyTimeout = 60 * time.Second
	// stopTimeout is how long a server gets to shut down before SIGKILL.
	stopTimeout = 10 * time.Second
	// portAttempts is how many times a server start is tried when the
	// server reports its port taken: between picking or checking a port
	// and the server binding it, another process may take it.
	portAttempts = 3
	// maxSocketPath is the longest path a Unix socket may have on Linux
	// (sun_path is 108 bytes including the terminating NUL).
	maxSocketPath = 107
)

// portGrace is how long a remembered port may stay unbindable before it is
// reported as taken. A variable so that tests need not wait for it.
var portGrace = 3 * time.Second

// errAddrInUse marks a start that failed because the port was taken.
var errAddrInUse = errors.New("address already in use")

// osUser is the unprivileged account a server runs as when the harness runs
// as root. A nil *osUser means "run as the current user".
type osUser struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32 // supplementary groups, for the traversal check
}

// serviceUser resolves the account a server must run as. PostgreSQL refuses
// to run as root; MariaDB could drop privileges itself with --user, but a
// process that changes its uid loses its parent-death signal, so both are
// started directly as their users instead.
func serviceUser(name string) (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("running as root, so the server must run as OS user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: gid %q: %w", name, u.Gid, err)
	}
	ou := &osUser{name: name, uid: uint32(uid), gid: uint32(gid)}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				ou.groups = append(ou.groups, uint32(n))
			}
		}
	}
	return ou, nil
}

// chown gives path to u; a no-op when not running as root.
func (u *osUser) chown(path string) error {
	if u == nil {
		return nil
	}
	return os.Lchown(path, int(u.uid), int(u.gid))
}

// checkTraversable verifies that u can reach dir, i.e. has search (x)
// permission on dir and on every directory above it. Without this check
// the server fails later with a bare "Permission denied" in its log.
// It reads mode bits only; ACLs are not considered.
func checkTraversable(dir string, u *osUser) error {
	if u == nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm := fi.Mode().Perm()
		var can bool
		switch {
		case st.Uid == u.uid:
			can = perm&0o100 != 0
		case st.Gid == u.gid || slices.Contains(u.groups, st.Gid):
			can = perm&0o010 != 0
		default:
			can = perm&0o001 != 0
		}
		if !can {
			return fmt.Errorf("directory %s (mode %04o, owner uid %d) is not traversable by OS user %q, "+
				"which the server runs as because the harness runs as root; every directory above the data "+
				"directory must be searchable by it (e.g. make the root with os.MkdirTemp(\"\", \"cellar-\") "+
				"and chmod it 0755; t.TempDir() is 0700)", p, perm, st.Uid, u.name)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// checkSocketPath fails early, with a clear message, when a Unix socket
// path would be too long for the kernel.
func checkSocketPath(path string) error {
	if len(path) > maxSocketPath {
		return fmt.Errorf("unix socket path %s is %d bytes, longer than the %d the kernel allows; use a shorter Dir",
			path, len(path), maxSocketPath)
	}
	return nil
}

// handedOut remembers the ports this process picked, so that servers
// starting concurrently never pick the same one.
var (
	portMu    sync.Mutex
	handedOut = map[int]bool{}
)

// reservePorts marks remembered ports as handed out, so that freePort does
// not give one of them to another server of the same harness while the
// server it belongs to is not listening yet.
func reservePorts(ports ...int) {
	portMu.Lock()
	defer portMu.Unlock()
	for _, p := range ports {
		if p != 0 {
			handedOut[p] = true
		}
	}
}

// freePort asks the kernel for a free port on 127.0.0.1. The port is free
// when it returns, not necessarily when the server binds it; callers retry
// on errAddrInUse.
func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut[port] {
			handedOut[port] = true
			return port, nil
		}
	}
	return 0, errors.New("pick a free port: the kernel keeps returning ports already handed out")
}

// checkPortFree fails if port stays taken on 127.0.0.1 for portGrace. It
// is used for a remembered port, which must not silently change.
//
// The grace period is needed because right after the previous server on
// the port exits, binding it can fail for a moment even with SO_REUSEADDR
// while the kernel finishes closing that server's connections (seen on
// Linux 6.18, a fraction of a millisecond after a restart).
func checkPortFree(name string, port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(portGrace)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: remembered port %d on 127.0.0.1 is already in use (another process, or this harness "+
				"already running on the same directory?): %w", name, port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pickPort returns the port for a start attempt: the fixed one, checked to
// be free, or a freshly picked one.
func pickPort(name string, fixed int) (int, error) {
	if fixed != 0 {
		return fixed, checkPortFree(name, fixed)
	}
	return freePort()
}

// withPortRetry runs start with a port from pickPort. If the server reports
// the port taken, it tries again: with another port if the port was picked
// here (fixed == 0), else with the same one, which pickPort first checks
// again.
func withPortRetry[T any](name string, fixed int, start func(port int) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		var zero T
		port, err := pickPort(name, fixed)
		if err != nil {
			return zero, err
		}
		v, err := start(port)
		if err == nil || attempt >= portAttempts || !errors.Is(err, errAddrInUse) {
			return v, err
		}
	}
}

// childEnv builds a small, explicit environment. Inheriting ours would let
// variables such as PGDATA, MYSQL_UNIX_PORT, VAULT_API_ADDR or
// VAULT_CLUSTER_ADDR silently reconfigure a server.
func childEnv(home string, extra ...string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := []string{"PATH=" + path, "HOME=" + home, "LANG=C"}
	if tz, ok := os.LookupEnv("TZ"); ok {
		env = append(env, "TZ="+tz)
	}
	return append(env, extra...)
}

// procSpec says how to start a child process.
type procSpec struct {
	name    string // for messages, e.g. "managed-pg"
	bin     string
	args    []string
	dir     string // working directory; must be reachable by as
	env     []string
	as      *osUser
	logPath string
	stopSig syscall.Signal
}

// process is a started child.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logOff  int64 // size of the log when this run began, for tails
	stopSig syscall.Signal

	done    chan struct{} // closed when the process has exited and been reaped
	waitErr error         // valid after done

	stopOnce sync.Once
	stopErr  error
}

func startProcess(spec procSpec) (*process, error) {
	if err := os.MkdirAll(filepath.Dir(spec.logPath), 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.name, err)
	}
	// 0600: logs can contain secrets (Vault's dev banner prints the root
	// token).
	logf, err := os.OpenFile(spec.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", spec.name, err)
	}
	defer logf.Close() // the child holds its own copy of the descriptor
	fmt.Fprintf(logf, "\n=== harness %s: %s %s\n", time.Now().Format(time.RFC3339), spec.bin, strings.Join(spec.args, " "))
	off, _ := logf.Seek(0, io.SeekEnd)

	cmd := exec.Command(spec.bin, spec.args...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a terminal's Ctrl-C goes to the harness,
		// which then stops the servers in order, and a SIGKILL of the
		// group reaches the server's own children (PostgreSQL backends).
		Setpgid: true,
		// If the harness dies without Stop, the servers die too instead of
		// holding their ports. The kernel sends this when the creating
		// OS thread exits; Go only ends threads of goroutines that exit
		// while locked to one, which this package never does.
		Pdeathsig: syscall.SIGKILL,
	}
	if spec.as != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: spec.as.uid, Gid: spec.as.gid}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", spec.name, spec.bin, err)
	}
	p := &process{
		name:    spec.name,
		cmd:     cmd,
		logPath: spec.logPath,
		logOff:  off,
		stopSig: spec.stopSig,
		done:    make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the end of what this run of the process wrote to its log.
func (p *process) tail() string {
	return logTail(p.logPath, p.logOff)
}

// logTail returns at most the last 30 lines (4 KiB) written to path after
// offset.
func logTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	const maxBytes = 4096
	start := max(offset, fi.Size()-maxBytes)
	if start >= fi.Size() {
		return ""
	}
	b := make([]byte, fi.Size()-start)
	n, _ := f.ReadAt(b, start)
	b = bytes.TrimRight(b[:n], "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// failure builds a startup error that carries the end of the log, and that
// wraps errAddrInUse when the log says the port was taken.
func (p *process) failure(format string, args ...any) error {
	tail := p.tail()
	msg := fmt.Sprintf(format, args...)
	var err error
	if strings.Contains(strings.ToLower(tail), "address already in use") {
		err = fmt.Errorf("%s: %s: %w", p.name, msg, errAddrInUse)
	} else {
		err = fmt.Errorf("%s: %s", p.name, msg)
	}
	if tail == "" {
		return fmt.Errorf("%w (log %s is empty)", err, p.logPath)
	}
	return fmt.Errorf("%w\n--- end of %s ---\n%s\n---", err, p.logPath, tail)
}

// exitError describes an unexpected exit.
func (p *process) exitError() error {
	return p.failure("exited during startup (%v)", p.waitErr)
}

// waitReady polls check until it reports ready, the process exits, ctx ends
// or readyTimeout passes. check returns (true, nil) when ready, (false, nil)
// or (false, err) to try again (err is kept for the timeout message), and
// a *fatalError to stop at once.
func (p *process) waitReady(ctx context.Context, check func(ctx context.Context) (bool, error)) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		if p.exited() {
			return p.exitError()
		}
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := check(attemptCtx)
		cancel()
		if ok {
			return nil
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			return p.failure("%v", fe.err)
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			return p.failure("not ready after %s (last error: %v)", readyTimeout, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for startup: %w", p.name, ctx.Err())
		case <-p.done:
			return p.exitError()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fatalError tells waitReady that retrying cannot help (e.g. a wrong
// password).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// stop sends the graceful stop signal, waits up to stopTimeout (or until
// ctx ends) and then kills the whole process group. It is idempotent.
func (p *process) stop(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() { p.stopErr = p.doStop(ctx) })
	return p.stopErr
}

func (p *process) doStop(ctx context.Context) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(p.stopSig)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	// The leader has not been reaped yet, so its pid, which is also the
	// group id, cannot have been reused.
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d): still running after SIGKILL", p.name, p.pid())
	}
	return fmt.Errorf("%s (pid %d): did not stop within %s of %v; killed", p.name, p.pid(), stopTimeout, p.stopSig)
}

// kill ends the process group at once; used when startup fails.
func (p *process) kill() {
	if p == nil || p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// runOnce runs a one-shot command (initdb, mariadb-install-db) to
// completion, with its output appended to the log.
func runOnce(ctx context.Context, spec procSpec) error {
	p, err := startProcess(spec)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("%s: %s: %w", spec.name, filepath.Base(spec.bin), ctx.Err())
	}
	if p.waitErr != nil {
		return p.failure("%s failed (%v)", filepath.Base(spec.bin), p.waitErr)
	}
	return nil
}
