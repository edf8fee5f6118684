// Package procstat reads the CPU and memory figures of a database server
// that runs on this host from Linux's /proc, for the engines' Sample.
package procstat

// CPU and memory figures of a database server that runs on this
// host, read from Linux's /proc. Everything here is best effort: a server on
// another host, in another PID namespace, or whose files this process may
// not read, simply has no figures.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where procfs is mounted.
const procRoot = "/proc"

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat. The kernel
// reports them in USER_HZ = 100 on every architecture Cellar runs on
// (x86-64, arm64) whatever its internal HZ, so it is assumed rather than
// read with sysconf(_SC_CLK_TCK), which would need cgo or x/sys.
const clockTicks = 100

// Identity says how to find a server's main process and how to tell it
// from an unrelated process that happens to have the pid its pid file names
// (a stale file, a server in another PID namespace or on another host whose
// paths look like a local server's).
type Identity struct {
	// PidFile holds the main process's pid on its first line.
	PidFile string
	// Names: the process's command line must contain one of them.
	Names []string
	// DataDir, if set, must be the process's working directory (both
	// PostgreSQL and MariaDB chdir to their data directory). Checked only
	// where the kernel lets this process look (root, or the server's user).
	DataDir string
	// Check, if set, is the engine's own test, given the pid file's lines
	// and the process's /proc/PID/stat figures.
	Check func(pidFileLines []string, st Stat) bool
}

// Figures returns the cumulative CPU seconds of the server's main
// process and all its descendants, and their memory as a percentage of this
// host's memory; each nil when it cannot be read. It never fails otherwise.
func Figures(id Identity) (cpuSeconds, memoryPercent *float64) {
	pid, ok := findServerProcess(id)
	if !ok {
		return nil, nil
	}
	pids := processTree(pid)
	var cpu float64
	var mem int64
	for i, p := range pids {
		st, err := readProcStat(p)
		if err != nil {
			if i == 0 {
				return nil, nil // the server itself just went away
			}
			continue // a child that exited meanwhile
		}
		// cutime/cstime hold the time of the children the process has
		// waited for: with them, a backend that exits between two samples
		// does not take its CPU time out of the total.
		cpu += float64(st.utime+st.stime+st.cutime+st.cstime) / clockTicks
		if n, err := processMemory(p); err == nil {
			mem += n
		}
	}
	cpuSeconds = &cpu
	if total, err := memTotal(); err == nil && total > 0 && mem > 0 {
		pct := float64(mem) / float64(total) * 100
		memoryPercent = &pct
	}
	return cpuSeconds, memoryPercent
}

// findServerProcess reads the pid file and checks that the process is the
// server described by id.
func findServerProcess(id Identity) (int, bool) {
	if id.PidFile == "" {
		return 0, false
	}
	b, err := readSmallFile(id.PidFile)
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return 0, false
	}
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	cmdline, err := readSmallFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return 0, false
	}
	named := false
	for _, n := range id.Names {
		named = named || bytes.Contains(cmdline, []byte(n))
	}
	if !named {
		return 0, false
	}
	if id.DataDir != "" {
		cwd, err := os.Stat(filepath.Join(dir, "cwd"))
		if err == nil {
			data, err := os.Stat(id.DataDir)
			if err != nil || !os.SameFile(cwd, data) {
				return 0, false
			}
		} else if !errors.Is(err, os.ErrPermission) {
			return 0, false
		}
	}
	st, err := readProcStat(pid)
	if err != nil {
		return 0, false
	}
	if id.Check != nil && !id.Check(lines, st) {
		return 0, false
	}
	return pid, true
}

// processTree returns root followed by all its descendants, found by
// scanning the parent pid of every process in /proc.
func processTree(root int) []int {
	children := map[int][]int{}
	if entries, err := os.ReadDir(procRoot); err == nil {
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == root {
				continue
			}
			if st, err := readProcStat(pid); err == nil {
				children[st.ppid] = append(children[st.ppid], pid)
			}
		}
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}

// Stat holds the fields of /proc/PID/stat used here; times are in
// clock ticks (see clockTicks).
type Stat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
	// startTicks is when the process started, in clock ticks after boot.
	startTicks int64
}

// readProcStat parses /proc/PID/stat. The command name (field 2) may contain
// spaces and parentheses, so the fields are counted from the last ')'.
func readProcStat(pid int) (Stat, error) {
	b, err := readSmallFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return Stat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 20 {
		return Stat{}, errors.New("malformed /proc stat")
	}
	var st Stat
	var errs [6]error
	st.ppid, errs[0] = strconv.Atoi(f[1])
	st.utime, errs[1] = strconv.ParseInt(f[11], 10, 64)
	st.stime, errs[2] = strconv.ParseInt(f[12], 10, 64)
	st.cutime, errs[3] = strconv.ParseInt(f[13], 10, 64)
	st.cstime, errs[4] = strconv.ParseInt(f[14], 10, 64)
	st.startTicks, errs[5] = strconv.ParseInt(f[19], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return Stat{}, err
	}
	return st, nil
}

// processMemory returns a process's memory in bytes: its proportional set
// size (PSS: private pages plus its share of pages shared with other
// processes, so that summing over PostgreSQL's backends counts
// shared_buffers once) from smaps_rollup, or, where that may not be read
// (it needs the same permission as ptrace), its resident set size from
// statm, which counts shared pages in every process.
func processMemory(pid int) (int64, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	if b, err := readSmallFile(filepath.Join(dir, "smaps_rollup")); err == nil {
		if kb, ok := meminfoField(b, "Pss:"); ok {
			return kb * 1024, nil
		}
		return 0, nil // a zombie has no mappings
	}
	b, err := readSmallFile(filepath.Join(dir, "statm"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, errors.New("malformed /proc statm")
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

// memTotal returns this host's memory in bytes (MemTotal in /proc/meminfo).
func memTotal() (int64, error) {
	b, err := readSmallFile(filepath.Join(procRoot, "meminfo"))
	if err != nil {
		return 0, err
	}
	kb, ok := meminfoField(b, "MemTotal:")
	if !ok {
		return 0, errors.New("no MemTotal in /proc/meminfo")
	}
	return kb * 1024, nil
}

// meminfoField returns the value in kB of a "Name:   123 kB" line.
func meminfoField(b []byte, name string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == name {
			n, err := strconv.ParseInt(f[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// AgeSeconds returns how long ago a process started, from its start
// time in clock ticks after boot and the system's uptime. Both count from
// boot on the same clock, so the result does not depend on the wall clock.
func AgeSeconds(st Stat) (float64, bool) {
	b, err := readSmallFile(filepath.Join(procRoot, "uptime"))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, false
	}
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, false
	}
	return up - float64(st.startTicks)/clockTicks, true
}

// readSmallFile reads at most 64 KiB of a file: pid files and /proc files
// are small, and a huge file at a pid file's path is not one.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, err
	}
	return b, nil
}
