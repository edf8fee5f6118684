// Package snapstore keeps snapshot files (database dumps) under keys such as
// "cust_x/cust_x_pg_db/snap_20261124_101500_ab12cd34.dump".
//
// Objects are write-once: a Writer streams the data, hashing it as it goes,
// and nothing is visible under the key until Commit publishes the whole
// object atomically. A crashed or aborted writer leaves at most an
// uncommitted leftover that List and Open never show and CleanPartial
// removes later. Local keeps objects in a directory; an S3-compatible store
// can implement Store later (multipart upload, completed on Commit).
package snapstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Store keeps snapshot files. Local directory now; an S3-compatible store can
// implement it later.
type Store interface {
	// Create starts writing a new object. Nothing is visible under key until
	// Commit.
	Create(ctx context.Context, key string) (Writer, error)
	// Open reads a committed object. A missing key gives an error wrapping
	// fs.ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes a committed object; deleting a missing key is not an
	// error.
	Delete(ctx context.Context, key string) error
	// Size returns a committed object's size in bytes. A missing key gives an
	// error wrapping fs.ErrNotExist.
	Size(ctx context.Context, key string) (int64, error)
	// List returns committed keys with a prefix, sorted (for the reconciler
	// to find orphans).
	List(ctx context.Context, prefix string) ([]string, error)
	// CleanPartial removes uncommitted leftovers older than age (a crashed
	// writer's) and returns how many it removed.
	CleanPartial(ctx context.Context, age time.Duration) (int, error)
}

// Writer writes one new object. It is not safe for concurrent use.
type Writer interface {
	io.Writer
	// Commit flushes, fsyncs and publishes the object atomically; returns its
	// size and lowercase hex SHA-256.
	Commit() (size int64, sha256hex string, err error)
	// Abort removes the partial data; safe after Commit (no-op).
	Abort() error
}

// ErrInvalidKey is returned (wrapped) for a key that ValidKey rejects.
var ErrInvalidKey = errors.New("invalid snapshot key")

// ErrClosed is returned (wrapped) by a Writer used after Commit or Abort.
var ErrClosed = errors.New("snapshot writer already committed or aborted")

// MaxKeyLen bounds a key's length in bytes.
const MaxKeyLen = 1024

// ValidKey reports whether key may name an object: a relative path of
// 1..MaxKeyLen bytes from [A-Za-z0-9._/-], made of non-empty segments
// separated by single slashes, none of which starts with a dot (so no "."
// or "..", and no clash with the hidden files of unfinished writes).
func ValidKey(key string) error {
	return validKeyChars(key, false)
}

// validPrefix checks a List prefix: like a key, but it may be empty and may
// end with a slash or in the middle of a segment.
func validPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validKeyChars(prefix, true)
}

func validKeyChars(key string, isPrefix bool) error {
	what := "key"
	if isPrefix {
		what = "prefix"
	}
	if key == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalidKey, what)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %s is %d bytes long, at most %d allowed", ErrInvalidKey, what, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
			return fmt.Errorf("%w: %s %q: byte %d (%q) is not one of A-Z a-z 0-9 . _ / -", ErrInvalidKey, what, key, i, c)
		}
	}
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" && i == 0:
			return fmt.Errorf("%w: %s %q is absolute", ErrInvalidKey, what, key)
		case seg == "" && last && isPrefix:
			// "a/b/" lists everything under a/b.
		case seg == "":
			return fmt.Errorf("%w: %s %q has an empty path segment", ErrInvalidKey, what, key)
		case seg[0] == '.':
			return fmt.Errorf("%w: %s %q has a path segment starting with a dot", ErrInvalidKey, what, key)
		}
	}
	return nil
}
