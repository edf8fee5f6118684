package snapstore

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Local is a Store in a local directory. Each object is a file at its key's
// path under the directory (directories mode 0700, files 0600).
//
// A write goes to a hidden file ".<name>.partial-<16 hex digits>" beside the
// object's final path; Commit fsyncs it, links it to the final name (which
// fails if the key already exists: objects are never overwritten), removes
// the partial name and fsyncs the directories up to the root. A crash at any
// point therefore leaves either no object or the whole, synced object, plus
// possibly a partial file that List and Open never show and CleanPartial
// removes.
//
// Several Local values, in one process or several, may share a directory.
type Local struct {
	root string

	mu sync.Mutex
	// active holds the partial files this Local is still writing, which
	// CleanPartial leaves alone however old they are (a dump can wait on a
	// lock for a long time without writing).
	active map[string]struct{}
}

// Compile-time check that Local implements Store.
var _ Store = (*Local)(nil)

// partialRE matches the hidden files of unfinished writes.
var partialRE = regexp.MustCompile(`^\..+\.partial-[0-9a-f]{16}$`)

// bufferSize is the Writer's buffer: dump tools write in small pieces.
const bufferSize = 256 << 10

// writebackEvery is how much data a Writer lets accumulate before it asks
// the kernel to start writing it to disk (sync_file_range), so that Commit's
// fsync finds little left to do and a large dump does not pile up gigabytes
// of dirty pages that stall other writers when flushed all at once.
const writebackEvery = 8 << 20

// NewLocal returns a Store keeping objects in dir, which is created (mode
// 0700) if missing.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("snapstore: directory is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("snapstore: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("snapstore: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("snapstore: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("snapstore: %s is not a directory", abs)
	}
	return &Local{root: abs, active: make(map[string]struct{})}, nil
}

// Dir returns the store's root directory.
func (s *Local) Dir() string { return s.root }

// path returns the file path of a validated key.
func (s *Local) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Create starts writing a new object under key. It fails with an error
// wrapping fs.ErrExist if the key is already committed (Commit checks again,
// atomically).
func (s *Local) Create(ctx context.Context, key string) (Writer, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	final := s.path(key)
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("snapshot %q: %w", key, err)
	}
	dir := filepath.Dir(final)
	var (
		f       *os.File
		partial string
		err     error
	)
	// Delete prunes empty directories, so a concurrent Delete of the last
	// object in dir can remove it between MkdirAll and OpenFile: retry.
	for attempt := 0; attempt < 5; attempt++ {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("snapshot %q: %w", key, err)
		}
		partial = filepath.Join(dir, "."+filepath.Base(final)+".partial-"+randomHex(8))
		f, err = os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, err)
	}
	s.mu.Lock()
	s.active[partial] = struct{}{}
	s.mu.Unlock()
	return &localWriter{
		s: s, key: key, final: final, partial: partial,
		f: f, bw: bufio.NewWriterSize(f, bufferSize), h: sha256.New(),
	}, nil
}

// localWriter is Local's Writer.
type localWriter struct {
	s                   *Local
	key, final, partial string
	f                   *os.File
	bw                  *bufio.Writer
	h                   hash.Hash
	n                   int64
	writeback           int64 // data before this offset has been handed to writeback
	err                 error // first write error; sticky
	done                bool  // committed or aborted
}

func (w *localWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("snapshot %q: %w", w.key, ErrClosed)
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.bw.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err == nil && w.n-w.writeback >= writebackEvery {
		err = w.bw.Flush()
		if err == nil {
			// Only starts the writeback (SYNC_FILE_RANGE_WRITE does not
			// wait for it): durability still comes from Commit's fsync,
			// so a failure here is ignored.
			_ = syscall.SyncFileRange(int(w.f.Fd()), w.writeback, w.n-w.writeback, syncFileRangeWrite)
			w.writeback = w.n
		}
	}
	if err != nil {
		w.err = fmt.Errorf("snapshot %q: write: %w", w.key, err)
		return n, w.err
	}
	return n, nil
}

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writeback of the
// range's dirty pages without waiting for it.
const syncFileRangeWrite = 2

// Commit flushes and fsyncs the data, publishes it under the key and fsyncs
// the directories from the key's up to the store's root. If it fails, the
// object is not published and the partial data is removed; calling Abort
// afterwards is harmless.
func (w *localWriter) Commit() (int64, string, error) {
	if w.done {
		return 0, "", fmt.Errorf("snapshot %q: %w", w.key, ErrClosed)
	}
	fail := func(step string, err error) (int64, string, error) {
		_ = w.abort()
		return 0, "", fmt.Errorf("snapshot %q: commit: %s: %w", w.key, step, err)
	}
	if w.err != nil {
		return fail("earlier write", w.err)
	}
	if err := w.bw.Flush(); err != nil {
		return fail("write", err)
	}
	if err := w.f.Sync(); err != nil {
		return fail("fsync", err)
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fail("close", err)
	}
	if err := publish(w.partial, w.final); err != nil {
		return fail("publish", err)
	}
	w.done = true
	w.s.forget(w.partial)
	if err := syncDirs(filepath.Dir(w.final), w.s.root); err != nil {
		// Not known to be durable: take it back rather than report an
		// object that a crash could lose.
		os.Remove(w.final)
		return 0, "", fmt.Errorf("snapshot %q: commit: fsync directory: %w", w.key, err)
	}
	return w.n, hex.EncodeToString(w.h.Sum(nil)), nil
}

// publish makes the file at partial visible as final, refusing to replace an
// existing final. A hard link is atomic and fails with EEXIST; the partial
// name is removed afterwards (a crash in between leaves a partial that is a
// second name of the committed file, which CleanPartial removes harmlessly).
func publish(partial, final string) error {
	err := os.Link(partial, final)
	if err == nil {
		return os.Remove(partial)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w (snapshots are never overwritten)", fs.ErrExist)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.EPERM || errno == syscall.ENOTSUP || errno == syscall.EXDEV) {
		// A file system without hard links: rename, after a check that
		// is not atomic but catches every mistake short of a race.
		if _, err := os.Lstat(final); err == nil {
			return fmt.Errorf("%w (snapshots are never overwritten)", fs.ErrExist)
		}
		return os.Rename(partial, final)
	}
	return err
}

// Abort removes the partial data. It is a no-op after Commit or Abort.
func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	return w.abort()
}

func (w *localWriter) abort() error {
	w.done = true
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	err := os.Remove(w.partial)
	w.s.forget(w.partial)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("snapshot %q: abort: %w", w.key, err)
	}
	return nil
}

func (s *Local) forget(partial string) {
	s.mu.Lock()
	delete(s.active, partial)
	s.mu.Unlock()
}

// Open opens a committed object for reading.
func (s *Local) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, unwrapPathError(err))
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("not an object (%s): %w", fi.Mode().Type(), fs.ErrNotExist)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot %q: %w", key, err)
	}
	return f, nil
}

// Size returns a committed object's size.
func (s *Local) Size(ctx context.Context, key string) (int64, error) {
	if err := ValidKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fi, err := os.Lstat(s.path(key))
	if err != nil {
		return 0, fmt.Errorf("snapshot %q: %w", key, unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("snapshot %q: not an object (%s): %w", key, fi.Mode().Type(), fs.ErrNotExist)
	}
	return fi.Size(), nil
}

// Delete removes a committed object if it exists, then removes the
// directories it leaves empty (up to, not including, the root).
func (s *Local) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := s.path(key)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete snapshot %q: %w", key, unwrapPathError(err))
	}
	if fi.IsDir() {
		return fmt.Errorf("delete snapshot %q: is a directory, not an object", key)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete snapshot %q: %w", key, unwrapPathError(err))
	}
	// Best effort: os.Remove fails on a directory that is not empty, such
	// as one holding another object or a write in progress.
	for d := filepath.Dir(p); d != s.root && strings.HasPrefix(d, s.root+string(filepath.Separator)); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

// List returns the committed keys that start with prefix, sorted. An empty
// prefix lists every object.
func (s *Local) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	// Walk only the deepest directory the prefix names in full.
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = s.path(prefix[:i])
	}
	keys := []string{}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == s.root {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".") {
			// Unfinished writes, and nothing a key can name.
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && strings.HasPrefix(key, prefix) && ValidKey(key) == nil {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list snapshots %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// CleanPartial removes the partial files of unfinished writes whose last
// modification is older than age, except those this Local is still writing,
// and returns how many it removed. A write in progress in another process
// keeps its file fresh as long as it writes, so age should exceed the longest
// pause a writer can make.
func (s *Local) CleanPartial(ctx context.Context, age time.Duration) (int, error) {
	if age < 0 {
		return 0, fmt.Errorf("clean partial snapshots: negative age %s", age)
	}
	cutoff := time.Now().Add(-age)
	removed := 0
	var errs []error
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != s.root {
				errs = append(errs, err)
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() || !partialRE.MatchString(d.Name()) {
			return nil
		}
		s.mu.Lock()
		_, live := s.active[p]
		s.mu.Unlock()
		if live {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // committed or aborted meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if !fi.ModTime().Before(cutoff) {
			return nil
		}
		if err := os.Remove(p); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return nil
		}
		removed++
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("clean partial snapshots: %w", errors.Join(errs...))
	}
	return removed, nil
}

// syncDirs fsyncs dir and each parent up to and including root, so that
// directories created for a new object survive a crash along with it.
func syncDirs(dir, root string) error {
	for {
		if err := syncDir(dir); err != nil {
			return err
		}
		if dir == root || !strings.HasPrefix(dir, root+string(filepath.Separator)) {
			return nil
		}
		dir = filepath.Dir(dir)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// unwrapPathError drops the *fs.PathError around err: the message names the
// key already, not the store's file path.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("snapstore: crypto/rand: " + err.Error()) // never fails on Linux
	}
	return hex.EncodeToString(b)
}
