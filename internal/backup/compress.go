package backup

// compress.go: gzip for MariaDB dumps.

import (
	"compress/gzip"
	"io"
)

// newCompressor returns a gzip writer at level 1 (the fastest), so
// compression keeps up with mariadb-dump.
func newCompressor(w io.Writer) io.WriteCloser {
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		panic(err) // only for an invalid level
	}
	return gz
}

// newDecompressor returns a gzip reader; it checks each member's CRC-32 and
// length at its end and rejects trailing garbage.
func newDecompressor(r io.Reader) (io.Reader, error) {
	return gzip.NewReader(r)
}
