package snapstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzLocalStore writes arbitrary data under arbitrary keys. Invariants:
//   - nothing panics;
//   - a key ValidKey refuses is refused by Create and Open too, and a key it
//     accepts names a file inside the store's directory (no "..", no
//     absolute path, no hidden name);
//   - nothing is visible under a key before Commit, nor after Abort;
//   - a committed object reads back byte for byte, with the size and
//     SHA-256 Commit reported.
//
// The seeds run in plain `go test`; explore with
// go test -run='^$' -fuzz=FuzzLocalStore ./internal/snapstore
func FuzzLocalStore(f *testing.F) {
	for _, k := range []string{
		"cust_a/cust_a_pg_x/snap_20261124_101500_ab12cd34.dump", "a", "a/b", "../a", "a/../b", "/a", "a//b", "a/",
		".a", "a/.b", "a/b.", "a\\b", "a/b/..", "..", ".", "", "a b", "a\x00b", strings.Repeat("a", MaxKeyLen+1),
		"a/-b", "A/B_C-D.e",
	} {
		f.Add(k, []byte("data"), false)
	}
	f.Add("k", []byte{}, false)
	f.Add("k", []byte("aborted"), true)
	f.Fuzz(func(t *testing.T, key string, data []byte, abort bool) {
		ctx := context.Background()
		s, err := NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if ValidKey(key) != nil {
			if w, err := s.Create(ctx, key); err == nil {
				w.Abort()
				t.Fatalf("Create accepted invalid key %q", key)
			}
			if _, err := s.Open(ctx, key); err == nil || !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("Open(%q) = %v, want ErrInvalidKey", key, err)
			}
			return
		}
		rel, err := filepath.Rel(s.Dir(), s.path(key))
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
			t.Fatalf("key %q maps to %q, outside the store (%v)", key, s.path(key), err)
		}
		for _, seg := range strings.Split(rel, string(filepath.Separator)) {
			if strings.HasPrefix(seg, ".") {
				t.Fatalf("key %q maps to hidden path %q", key, rel)
			}
		}
		w, err := s.Create(ctx, key)
		if err != nil {
			// A key whose path crosses another object is refused by the
			// file system; that is a refusal, not a hole.
			return
		}
		half := len(data) / 2
		if _, err := w.Write(data[:half]); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data[half:]); err != nil {
			t.Fatal(err)
		}
		hidden := func(when string) {
			if _, err := s.Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s: Open(%q) = %v, want not exist", when, key, err)
			}
			keys, err := s.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(keys, key) {
				t.Fatalf("%s: List shows %q", when, key)
			}
		}
		hidden("before Commit")
		if abort {
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			hidden("after Abort")
			return
		}
		size, sum, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)
		if size != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
			t.Fatalf("Commit reported %d bytes, sha256 %s; want %d, %x", size, sum, len(data), want)
		}
		r, err := s.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(data))
		}
	})
}
