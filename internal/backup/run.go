package backup

// run.go: starting the engines' client tools as child processes.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ToolError is returned (wrapped) when a dump or restore tool fails: it exits
// with a non-zero status, or is killed. Stderr is the end of what the tool
// wrote to its standard error (at most stderrTail bytes), with the password
// removed should the tool ever echo it.
type ToolError struct {
	Tool   string // e.g. "pg_dump"
	Err    error  // usually an *exec.ExitError
	Stderr string
}

func (e *ToolError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("%s failed: %v (no error output)", e.Tool, e.Err)
	}
	return fmt.Sprintf("%s failed: %v: %s", e.Tool, e.Err, e.Stderr)
}

func (e *ToolError) Unwrap() error { return e.Err }

// stderrTail is how much of a tool's standard error an error keeps.
const stderrTail = 4 << 10

// waitDelay bounds how long Wait waits for a killed tool's pipes to close.
const waitDelay = 10 * time.Second

// startHook, if set (by tests), sees every command just after it started.
var startHook func(*exec.Cmd)

// toolSpec says how to run one tool.
type toolSpec struct {
	name   string // for messages: "pg_dump"
	path   string
	args   []string
	env    []string // added to the base environment, e.g. PGPASSWORD=...
	secret string   // scrubbed from the tool's error output
}

// proc is a started tool.
type proc struct {
	spec   toolSpec
	cmd    *exec.Cmd
	stderr *tailBuffer

	closeAfterStart []*os.File // the child's ends of our pipes
	closeAfterWait  []*os.File // our ends

	killOnce sync.Once
}

// childEnv is the tools' environment: small and explicit, so that variables
// such as PGHOST, PGSERVICE, PGOPTIONS or MYSQL_HOST in Cellar's own
// environment cannot redirect or reconfigure a dump. LC_ALL=C keeps the
// tools' messages in English.
func childEnv(extra ...string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := []string{"PATH=" + path, "LANG=C", "LC_ALL=C"}
	if home, ok := os.LookupEnv("HOME"); ok {
		env = append(env, "HOME="+home)
	}
	if tz, ok := os.LookupEnv("TZ"); ok {
		env = append(env, "TZ="+tz)
	}
	return append(env, extra...)
}

// command builds the exec.Cmd for spec: no shell, its own process group
// (killed as a whole when ctx ends or kill is called), killed too if Cellar
// dies, and standard error kept in a bounded buffer.
func command(ctx context.Context, spec toolSpec) *proc {
	cmd := exec.CommandContext(ctx, spec.path, spec.args...)
	cmd.Env = childEnv(spec.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// The kernel sends this when the creating OS thread exits; Go only
		// ends threads of goroutines that exit while locked to one, which
		// this package never does.
		Pdeathsig: syscall.SIGKILL,
	}
	p := &proc{spec: spec, cmd: cmd, stderr: &tailBuffer{max: 4*stderrTail + len(spec.secret)}}
	cmd.Stderr = p.stderr
	cmd.Cancel = func() error {
		p.kill()
		return nil
	}
	cmd.WaitDelay = waitDelay
	return p
}

// start starts the command built by command.
func (p *proc) start() error {
	err := p.cmd.Start()
	for _, f := range p.closeAfterStart {
		f.Close()
	}
	if err != nil {
		for _, f := range p.closeAfterWait {
			f.Close()
		}
		return fmt.Errorf("start %s: %w", p.spec.name, err)
	}
	if startHook != nil {
		startHook(p.cmd)
	}
	return nil
}

// kill sends SIGKILL to the tool's whole process group.
func (p *proc) kill() {
	p.killOnce.Do(func() {
		if p.cmd.Process != nil {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
	})
}

// wait waits for the tool and turns a failure into a *ToolError, or into
// ctx.Err() when ctx ended first (the tool was killed for it).
func (p *proc) wait(ctx context.Context) error {
	err := p.cmd.Wait()
	for _, f := range p.closeAfterWait {
		f.Close()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		return nil
	}
	return p.toolError(err)
}

// toolError wraps err with the tool's error output.
func (p *proc) toolError(err error) *ToolError {
	return &ToolError{Tool: p.spec.name, Err: err, Stderr: p.stderrText()}
}

// stderrText is the end of the tool's standard error, password scrubbed,
// trimmed to stderrTail bytes at a line boundary where possible.
func (p *proc) stderrText() string {
	s := p.stderr.String()
	// Scrub before trimming: the buffer holds more than stderrTail plus
	// the password's length, so a password cut at the buffer's start is
	// always in the part trimmed off below.
	s = scrub(s, p.spec.secret)
	s = strings.TrimSpace(s)
	if len(s) > stderrTail {
		s = s[len(s)-stderrTail:]
		// Start at a line if one starts soon; a cut line is still better
		// than dropping most of the tail.
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < 256 && i < len(s)-1 {
			s = s[i+1:]
		}
		s = "..." + s
	}
	return strings.ToValidUTF8(s, "?")
}

// scrub replaces every occurrence of secret in s.
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[password]")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return n, nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// feed copies src into the tool's standard input in a goroutine and returns
// a function that waits for the copy to end and reports a failure to read
// src. A read error kills the tool before its input is closed: a tool that
// saw the end of its input could take a truncated stream for a complete one
// (the mariadb client runs the last, cut-off statement at EOF). A write error
// means the tool stopped reading, and its exit status tells why.
func (p *proc) feed(stdin io.WriteCloser, src io.Reader) (wait func(ctx context.Context) error) {
	done := make(chan error, 1)
	go func() {
		r := &readErrRecorder{r: src}
		_, err := io.Copy(stdin, r)
		if r.err != nil {
			p.kill()
			stdin.Close()
			done <- r.err
			return
		}
		stdin.Close()
		_ = err // a write error: the tool exited or closed its input
		done <- nil
	}()
	return func(ctx context.Context) error {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			// The source may be blocked in Read; give it a moment and
			// leave the goroutine to end when the caller closes it.
			select {
			case err := <-done:
				return err
			case <-time.After(5 * time.Second):
				return ctx.Err()
			}
		}
	}
}

// readErrRecorder remembers the first error other than io.EOF from r.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (r *readErrRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && r.err == nil {
		r.err = err
	}
	return n, err
}

// progressWriter counts the bytes written through it and reports the total
// to fn at most every progressInterval, plus once at the end (flush).
type progressWriter struct {
	w    io.Writer
	fn   func(int64)
	n    int64
	last time.Time
	sent int64
}

// progressInterval is the least time between two progress reports.
const progressInterval = 250 * time.Millisecond

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.fn != nil && n > 0 {
		if now := time.Now(); now.Sub(p.last) >= progressInterval {
			p.last = now
			p.sent = p.n
			p.fn(p.n)
		}
	}
	return n, err
}

// flush reports the final total if the last report was short of it.
func (p *progressWriter) flush() {
	if p.fn != nil && p.sent != p.n {
		p.sent = p.n
		p.fn(p.n)
	}
}

// copyBufferSize is the chunk size for copying between tools and streams.
const copyBufferSize = 256 << 10

// pipeSize is the kernel buffer of the pipe from a dump tool: large enough
// that the tool keeps writing while drain pauses.
const pipeSize = 1 << 20

// drainPause is how long drain waits after a short read, to let the pipe
// fill. pg_dump writes its output in 4 KB pieces; reading each one as it
// comes costs a wakeup and a context switch per piece, CPU the tool and the
// server are short of on a small machine (measured: about 10% of pg_dump's
// throughput on 2 cores). At pg_dump's rate of tens of MB/s, 2 ms is well
// under the pipe's 1 MB, so the tool never waits for us.
const drainPause = 2 * time.Millisecond

// stdoutPipe connects the tool's standard output to a new pipe with a large
// buffer and returns its read end, closed by wait. Call before start.
func (p *proc) stdoutPipe() (*os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	setPipeSize(pw, pipeSize)
	p.cmd.Stdout = pw
	p.closeAfterStart = append(p.closeAfterStart, pw)
	p.closeAfterWait = append(p.closeAfterWait, pr)
	return pr, nil
}

// setPipeSize asks for a larger pipe buffer (F_SETPIPE_SZ); a refusal (a
// limit in /proc/sys/fs/pipe-max-size) only costs speed.
func setPipeSize(f *os.File, size int) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ, Linux
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, uintptr(size))
	})
}

// drain copies the tool's standard output to dst until EOF. If dst fails,
// it kills the tool (which would otherwise block on a full pipe) and returns
// the write error; the caller then waits for the tool.
func (p *proc) drain(stdout io.Reader, dst io.Writer) error {
	buf := make([]byte, copyBufferSize)
	for {
		n, rerr := stdout.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				p.kill()
				return fmt.Errorf("write dump: %w", werr)
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			p.kill()
			return fmt.Errorf("read %s output: %w", p.spec.name, rerr)
		}
		if n < len(buf)/4 {
			time.Sleep(drainPause)
		}
	}
}

// runInput starts the tool, feeds src to its standard input and waits for
// both. It returns ctx.Err() if ctx ended, the read error if src failed (the
// tool is killed then), else the tool's failure.
func (p *proc) runInput(ctx context.Context, src io.Reader) error {
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := p.start(); err != nil {
		return err
	}
	waitFeed := p.feed(stdin, src)
	waitErr := p.wait(ctx)
	feedErr := waitFeed(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	if feedErr != nil {
		return fmt.Errorf("read dump: %w", feedErr)
	}
	return waitErr
}
