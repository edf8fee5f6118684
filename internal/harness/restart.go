package harness

// restart.go: bringing a server back after its process died, for a
// supervisor (package supervise). Postgres, MariaDB and Vault each satisfy
// supervise.Target: Exited, ExitReason, Pid and Restart.
//
// A restart reuses the options the server was first started with, with the
// port it got then, so clients (Cellar's pools, customers) reconnect to the
// same address with the same credentials. Data survives because the data
// directories do: PostgreSQL and MariaDB recover from their WAL and redo
// logs; a durable Vault reads its file storage and is unsealed again with
// the key it was unsealed with before. A -dev Vault keeps secrets in memory
// only, so restarting one loses them.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// errStopped is returned by Restart once Stop was called.
var errStopped = errors.New("harness: server was stopped")

// life is the current process of a server and whether it was stopped on
// purpose. A restart swaps the process; Stop stops whichever is current.
type life struct {
	mu      sync.Mutex
	proc    *process
	stopped bool
}

func (l *life) current() *process {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.proc
}

func (l *life) stop(ctx context.Context) error {
	l.mu.Lock()
	l.stopped = true
	p := l.proc
	l.mu.Unlock()
	return p.stop(ctx)
}

// Exited returns a channel closed when the current process has exited.
// A server attached to (see Attach) has no process: the channel never
// closes.
func (l *life) Exited() <-chan struct{} {
	if p := l.current(); p != nil {
		return p.done
	}
	return nil
}

// ExitReason says how the current process ended ("signal: killed", "exit
// status 1"); empty while it runs.
func (l *life) ExitReason() string {
	p := l.current()
	if p == nil || !p.exited() {
		return ""
	}
	if p.waitErr == nil {
		return "exited with status 0"
	}
	return p.waitErr.Error()
}

// Pid is the current process's id (0 without one).
func (l *life) Pid() int {
	if p := l.current(); p != nil {
		return p.pid()
	}
	return 0
}

// replace runs start for a new process once the old one is gone, and makes
// it current unless Stop came first.
func (l *life) replace(ctx context.Context, start func(ctx context.Context) (*process, error)) error {
	l.mu.Lock()
	old, stopped := l.proc, l.stopped
	l.mu.Unlock()
	if stopped {
		return errStopped
	}
	if old != nil {
		if !old.exited() {
			return errors.New("harness: the server is still running")
		}
		reapGroup(old.pid())
	}
	p, err := start(ctx)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		p.kill()
		return errStopped
	}
	l.proc = p
	return nil
}

// reapGroup kills what is left of a dead server's process group (children
// a server did not move to a group of their own). The dead leader's pid
// cannot have been handed to another process group: the kernel keeps an id
// in use while any process still belongs to the group named by it.
func reapGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// killStragglers kills the processes still working in dataDir: the
// backends and auxiliary processes of a PostgreSQL postmaster that was
// killed. They make themselves session leaders (so the postmaster's group
// does not reach them), live on until they notice the death, and keep the
// shared memory segment attached meanwhile, so a new postmaster would
// refuse to start. Every PostgreSQL process runs with the data directory
// as its working directory, which is how they are found.
func killStragglers(dataDir string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pids := processesIn(dataDir)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesIn lists the processes whose working directory is dir. Zombies
// have none, and hold no resources either.
func processesIn(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && cwd == dir {
			out = append(out, pid)
		}
	}
	return out
}

// Restart starts the server again on the same port with the same data and
// password, after its process exited.
func (p *Postgres) Restart(ctx context.Context) error {
	return p.life.replace(ctx, func(ctx context.Context) (*process, error) {
		killStragglers(p.DataDir)
		o := p.opts
		o.Port, o.Password = p.Port, p.Password
		n, err := StartPostgres(ctx, o)
		if err != nil {
			return nil, err
		}
		return n.life.proc, nil
	})
}

// Restart starts the server again on the same port with the same data and
// admin account, after its process exited.
func (m *MariaDB) Restart(ctx context.Context) error {
	return m.life.replace(ctx, func(ctx context.Context) (*process, error) {
		o := m.opts
		o.Port, o.Password, o.User = m.Port, m.Password, m.User
		n, err := StartMariaDB(ctx, o)
		if err != nil {
			return nil, err
		}
		return n.life.proc, nil
	})
}

// Restart starts Vault again on the same port after its process exited. A
// durable server keeps its secrets and is unsealed with the key it was
// unsealed with before; its root token stays valid.
func (v *Vault) Restart(ctx context.Context) error {
	return v.life.replace(ctx, func(ctx context.Context) (*process, error) {
		o := v.opts
		o.Port, o.Token = v.port, v.Token
		if o.Durable {
			o.UnsealKey = v.unsealKey
		}
		n, err := StartVault(ctx, o)
		if err != nil {
			return nil, err
		}
		return n.life.proc, nil
	})
}
