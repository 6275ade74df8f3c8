//go:build !isal

package archive

import (
	"archive/zip"
	"bytes"
	"io"

	"github.com/klauspost/compress/gzip"
)

// InflateImpl names the deflate decoder compiled in: the pure-Go one of
// klauspost/compress here; ISA-L's with the build tag isal (inflate_isal.go).
const InflateImpl = "go"

// newGzipReader reads every member of the gzip stream in data; src reads
// data and is moved along as the members are consumed.
func newGzipReader(_ []byte, src *bytes.Reader, _ Limits) (io.Reader, error) {
	return gzip.NewReader(src)
}

// zipInflater is the decompressor of the deflated members of the zip in
// data, which src reads; byData holds its entries by the offset of their
// data.
func zipInflater(_ []byte, _ io.ReaderAt, _ map[int64]*zip.File, _ Limits) zip.Decompressor {
	return newInflater
}
