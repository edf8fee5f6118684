package snapstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "cust_x/cust_x_pg_db/snap_20261124_101500_ab12cd34.dump"

func newStore(t *testing.T) *Local {
	t.Helper()
	s, err := NewLocal(filepath.Join(t.TempDir(), "snaps"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// put writes and commits an object, failing the test on error.
func put(t *testing.T, s *Local, key string, data []byte) (int64, string) {
	t.Helper()
	w, err := s.Create(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	n, sum, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return n, sum
}

func read(t *testing.T, s *Local, key string) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// files lists every file under the store's root, relative, including hidden
// partial files.
func files(t *testing.T, s *Local) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(s.Dir(), p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLocal_CommitPublishesWithChecksum(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// Several writes, larger than the buffer, with every byte value.
	var want []byte
	for i := 0; i < 3000; i++ {
		want = append(want, byte(i), byte(i>>8), 0xff, 0)
	}
	want = bytes.Repeat(want, 50) // 600 KB
	w, err := s.Create(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	for chunk := range slices.Chunk(want, 7001) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	n, sum, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(want)
	if n != int64(len(want)) || sum != hex.EncodeToString(h[:]) {
		t.Fatalf("Commit = %d, %s; want %d, %x", n, sum, len(want), h)
	}
	if sum != strings.ToLower(sum) || len(sum) != 64 {
		t.Fatalf("checksum %q is not lowercase hex SHA-256", sum)
	}
	if got := read(t, s, testKey); !bytes.Equal(got, want) {
		t.Fatal("read back different data")
	}
	if size, err := s.Size(ctx, testKey); err != nil || size != n {
		t.Fatalf("Size = %d, %v; want %d", size, err, n)
	}
	if got := files(t, s); !slices.Equal(got, []string{testKey}) {
		t.Fatalf("files after commit = %q, want only the object", got)
	}
	// Permissions: directories 0700, file 0600.
	fi, err := os.Stat(filepath.Join(s.Dir(), testKey))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, d := range []string{"cust_x", "cust_x/cust_x_pg_db"} {
		fi, err := os.Stat(filepath.Join(s.Dir(), d))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s mode %v, want 0700", d, fi.Mode().Perm())
		}
	}
	// Abort after Commit is a no-op, a second Commit and writes fail.
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Commit: %v, want ErrClosed", err)
	}
	if _, _, err := w.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Commit: %v, want ErrClosed", err)
	}
	if got := read(t, s, testKey); !bytes.Equal(got, want) {
		t.Fatal("object changed after Abort-after-Commit")
	}
}

func TestLocal_EmptyObject(t *testing.T) {
	s := newStore(t)
	n, sum := put(t, s, "a/empty", nil)
	if n != 0 || sum != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty object: %d, %s", n, sum)
	}
}

func TestLocal_NothingVisibleBeforeCommit(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	w, err := s.Create(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, testKey); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open before Commit: %v, want ErrNotExist", err)
	}
	if _, err := s.Size(ctx, testKey); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Size before Commit: %v, want ErrNotExist", err)
	}
	if keys, err := s.List(ctx, ""); err != nil || len(keys) != 0 {
		t.Errorf("List before Commit = %q, %v; want none", keys, err)
	}
	// On disk there is only a hidden partial file, never the key itself.
	got := files(t, s)
	if len(got) != 1 || !partialRE.MatchString(filepath.Base(got[0])) || filepath.Dir(got[0]) != filepath.Dir(testKey) {
		t.Fatalf("files during write = %q, want one partial file beside the key", got)
	}
	if _, _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.List(ctx, ""); err != nil || !slices.Equal(keys, []string{testKey}) {
		t.Errorf("List after Commit = %q, %v", keys, err)
	}
}

func TestLocal_AbortRemovesPartial(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	w, err := s.Create(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("some data")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if got := files(t, s); len(got) != 0 {
		t.Fatalf("files after Abort = %q, want none", got)
	}
	if _, _, err := w.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Abort: %v, want ErrClosed", err)
	}
	if _, err := s.Open(ctx, testKey); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open after Abort: %v", err)
	}
}

func TestLocal_NeverOverwrites(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	put(t, s, testKey, []byte("first"))
	if _, err := s.Create(ctx, testKey); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create of an existing key: %v, want ErrExist", err)
	}

	// Two writers racing for one key: the second Commit fails and cleans up.
	s2 := newStore(t)
	w1, err := s2.Create(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := s2.Create(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	w1.Write([]byte("one"))
	w2.Write([]byte("two"))
	if _, _, err := w1.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w2.Commit(); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("losing Commit: %v, want ErrExist", err)
	}
	if err := w2.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, s2, testKey)); got != "one" {
		t.Fatalf("object = %q, want the first commit's", got)
	}
	if got := files(t, s2); !slices.Equal(got, []string{testKey}) {
		t.Fatalf("files = %q, want only the object", got)
	}
}

func TestLocal_KeyValidation(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	good := []string{
		testKey, "a", "A-Z_a-z.0-9", "a/b/c", "x.dump", "a..b", "a/b..c",
	}
	for _, k := range good {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", k, err)
		}
	}
	bad := []string{
		"", "/abs", "/", "a/", "a//b", "..", "../x", "a/../b", "a/..", ".", "./a", "a/./b",
		".hidden", "a/.hidden", "a/.b.partial-0123456789abcdef",
		"a b", "a\\b", "a\x00b", "ä", "a:b", "a\nb", "~x", "a*", strings.Repeat("a", MaxKeyLen+1),
	}
	for _, k := range bad {
		if err := ValidKey(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", k, err)
			continue
		}
		if _, err := s.Create(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Create(%q) = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Open(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Size(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Size(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	for _, p := range []string{"/a", "../", "a//", "a/../", ".x"} {
		if _, err := s.List(ctx, p); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", p, err)
		}
	}
	if got := files(t, s); len(got) != 0 {
		t.Fatalf("rejected keys left files: %q", got)
	}
	// A directory is not an object.
	put(t, s, "dir/obj", []byte("x"))
	if _, err := s.Open(ctx, "dir"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a directory: %v, want ErrNotExist", err)
	}
	if _, err := s.Size(ctx, "dir"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Size of a directory: %v, want ErrNotExist", err)
	}
	if err := s.Delete(ctx, "dir"); err == nil {
		t.Error("Delete of a directory succeeded")
	}
}

func TestLocal_DeleteIdempotentAndPrunes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	put(t, s, "c1/db1/s1", []byte("1"))
	put(t, s, "c1/db1/s2", []byte("2"))
	put(t, s, "c1/db2/s1", []byte("3"))
	for range 2 {
		if err := s.Delete(ctx, "c1/db1/s1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, err := s.Open(ctx, "c1/db1/s1"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open after Delete: %v", err)
	}
	if err := s.Delete(ctx, "c1/db2/s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "c1/db2")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directory c1/db2 left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "c1/db1")); err != nil {
		t.Errorf("non-empty directory c1/db1 removed: %v", err)
	}
	if _, err := os.Stat(s.Dir()); err != nil {
		t.Errorf("root removed: %v", err)
	}
	// A new object can still go where the pruned directory was.
	put(t, s, "c1/db2/s3", []byte("4"))
	if got := string(read(t, s, "c1/db2/s3")); got != "4" {
		t.Fatal(got)
	}
}

func TestLocal_List(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	keys := []string{
		"cust_a/cust_a_pg_db/snap_1.dump",
		"cust_a/cust_a_pg_db/snap_2.dump",
		"cust_a/cust_a_pg_db2/snap_1.dump",
		"cust_a.x",
		"cust_ab/db/snap_1.dump",
		"cust_b/db/snap_1.dump",
	}
	for _, k := range keys {
		put(t, s, k, []byte(k))
	}
	// An unfinished write is never listed.
	w, err := s.Create(ctx, "cust_a/cust_a_pg_db/snap_3.dump")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write([]byte("partial"))

	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{keys[3], keys[0], keys[1], keys[2], keys[4], keys[5]}},
		{"cust_a", []string{keys[3], keys[0], keys[1], keys[2], keys[4]}},
		{"cust_a/", []string{keys[0], keys[1], keys[2]}},
		{"cust_a/cust_a_pg_db", []string{keys[0], keys[1], keys[2]}},
		{"cust_a/cust_a_pg_db/", []string{keys[0], keys[1]}},
		{"cust_a/cust_a_pg_db/snap_2", []string{keys[1]}},
		{"cust_a/cust_a_pg_db/snap_3", []string{}},
		{"cust_c/", []string{}},
		{"cust_c/x/y", []string{}},
		{"cust_a.x/y", []string{}},
	} {
		got, err := s.List(ctx, tc.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", tc.prefix, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestLocal_CleanPartial(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	put(t, s, "c/db/done", []byte("committed"))

	// A crashed writer's leftovers: partial files nobody is writing.
	old := filepath.Join(s.Dir(), "c/db/.crashed.partial-0123456789abcdef")
	fresh := filepath.Join(s.Dir(), "c/db/.recent.partial-fedcba9876543210")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	// A live writer of this store, idle for an hour: kept.
	w, err := s.Create(ctx, "c/db/live")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("still writing"))
	lw := w.(*localWriter)
	lw.bw.Flush()
	if err := os.Chtimes(lw.partial, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	// A file that merely looks similar is not touched.
	other := filepath.Join(s.Dir(), "c/db/.notes")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(other, hourAgo, hourAgo)

	n, err := s.CleanPartial(ctx, 30*time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("CleanPartial = %d, %v; want 1", n, err)
	}
	for p, want := range map[string]bool{old: false, fresh: true, lw.partial: true, other: true} {
		_, err := os.Stat(p)
		if exists := err == nil; exists != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(p), exists, want)
		}
	}
	// The live writer can still commit.
	if _, _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, s, "c/db/live")); got != "still writing" {
		t.Fatal(got)
	}
	// Another Local on the same directory does not know the writer: with
	// age 0 it removes every partial file, and a writer whose file went
	// away fails to commit rather than publishing nothing.
	w2, err := s.Create(ctx, "c/db/orphaned")
	if err != nil {
		t.Fatal(err)
	}
	w2.Write([]byte("data"))
	s2, err := NewLocal(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s2.CleanPartial(ctx, 0); err != nil || n != 2 {
		t.Fatalf("CleanPartial(0) from another Local = %d, %v; want 2", n, err)
	}
	if _, _, err := w2.Commit(); err == nil {
		t.Fatal("Commit succeeded after its partial file was removed")
	}
	if _, err := s.Open(ctx, "c/db/orphaned"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of the failed commit: %v", err)
	}
	if _, err := s.CleanPartial(ctx, -time.Second); err == nil {
		t.Fatal("negative age accepted")
	}
}

func TestLocal_ConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			key := "c/db/snap_" + string(rune('a'+i))
			w, err := s.Create(ctx, key)
			if err != nil {
				errs <- err
				return
			}
			w.Write(bytes.Repeat([]byte{byte(i)}, 100_000))
			if _, _, err := w.Commit(); err != nil {
				errs <- err
			}
			if i%2 == 0 {
				if err := s.Delete(ctx, key); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	keys, err := s.List(ctx, "c/")
	if err != nil || len(keys) != 10 {
		t.Fatalf("List = %q, %v; want 10 keys", keys, err)
	}
}

func TestLocal_CanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newStore(t)
	if _, err := s.Create(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.List(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("List: %v", err)
	}
}

func TestLocal_LargeObject(t *testing.T) {
	// Larger than writebackEvery, in odd-sized writes.
	s := newStore(t)
	w, err := s.Create(context.Background(), "big/object")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	chunk := make([]byte, 100_003)
	var total int64
	for i := range 250 {
		for j := range chunk {
			chunk[j] = byte(i + j)
		}
		w.Write(chunk)
		h.Write(chunk)
		total += int64(len(chunk))
	}
	n, sum, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if n != total || sum != hex.EncodeToString(h.Sum(nil)) {
		t.Fatalf("Commit = %d, %s; want %d, %x", n, sum, total, h.Sum(nil))
	}
	if size, _ := s.Size(context.Background(), "big/object"); size != total {
		t.Fatalf("Size = %d", size)
	}
}
