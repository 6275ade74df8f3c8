package scan

import (
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// maxDictionary bounds the dictionary an xz, LZMA or zstd stream may ask
// for. The header is the attacker's to write; 64 MiB covers xz -9 and
// zstd's levels up to 19 (window log 26).
const maxDictionary = 64 << 20

// openStream returns a reader of the decompressed stream of data.
func openStream(c compression, data io.Reader) (io.Reader, error) {
	switch c {
	case compGzip:
		return gzip.NewReader(data) // multistream: every member is read
	case compBzip2:
		return bzip2.NewReader(data), nil
	case compXz:
		return xz.ReaderConfig{DictCap: maxDictionary}.NewReader(data)
	}
	return data, nil
}

// ratioReader fails a decompression stream whose output outgrows its
// consumed input by more than the ratio limit, or grows past the expanded
// budget, while streaming: a bomb fails after a few MiB, not at the end.
type ratioReader struct {
	r        io.Reader
	src      *bytes.Reader // the compressed input, to see how much was consumed
	srcSize  int64
	out      int64
	maxRatio int64
	maxOut   int64
	path     string
}

func (r *ratioReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.out += int64(n)
	if r.out > r.maxOut {
		return n, tooLarge("expanded stream of "+display(r.path), r.out, r.maxOut)
	}
	if r.out > RatioFloor {
		consumed := r.srcSize - int64(r.src.Len())
		if r.out > r.maxRatio*max(consumed, 1) {
			return n, ratioError(r.path, r.out, consumed, r.maxRatio)
		}
	}
	return n, err
}

func ratioError(path string, expanded, compressed, limit int64) error {
	return classed(ErrTooLarge, "expansion ratio of %s exceeds limit %d (%d bytes from %d)", display(path), limit, expanded, compressed)
}

// flatePool reuses inflaters across zip members: a wheel may hold 100,000
// tiny files, and a fresh inflater per member costs tens of KiB.
var flatePool sync.Pool

type pooledInflater struct{ rc io.ReadCloser }

func newInflater(r io.Reader) io.ReadCloser {
	if rc, ok := flatePool.Get().(io.ReadCloser); ok {
		if err := rc.(flate.Resetter).Reset(r, nil); err == nil {
			return &pooledInflater{rc}
		}
	}
	return &pooledInflater{flate.NewReader(r)}
}

func (p *pooledInflater) Read(b []byte) (int, error) {
	if p.rc == nil {
		return 0, errors.New("flate: read after close")
	}
	return p.rc.Read(b)
}

func (p *pooledInflater) Close() error {
	if p.rc == nil {
		return nil
	}
	err := p.rc.Close()
	flatePool.Put(p.rc)
	p.rc = nil
	return err
}

func newBzip2(r io.Reader) io.ReadCloser { return io.NopCloser(bzip2.NewReader(r)) }

// zstd decoders are safe to reuse only one stream at a time; one per member
// keeps it simple, with a bounded window so a header cannot ask for GiBs.
func newZstd(r io.Reader) io.ReadCloser {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxDictionary))
	if err != nil {
		return io.NopCloser(errReader{err})
	}
	return d.IOReadCloser()
}

func newXz(r io.Reader) io.ReadCloser {
	x, err := xz.ReaderConfig{DictCap: maxDictionary}.NewReader(r)
	if err != nil {
		return io.NopCloser(errReader{err})
	}
	return io.NopCloser(x)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// newZipLZMA reads a zip member compressed with method 14: a 2-byte version,
// a 2-byte properties length and the properties, then a raw LZMA stream. It
// is rewritten into the classic .lzma header ulikunitz/xz reads, with the
// size from the directory (unknown, so end-marker terminated, when the
// member's flags say an end marker is present).
func newZipLZMA(r io.Reader, size uint64, eos bool) (io.Reader, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fmt.Errorf("lzma header: %w", err)
	}
	propLen := binary.LittleEndian.Uint16(head[2:])
	if propLen != 5 {
		return nil, fmt.Errorf("lzma properties of %d bytes, want 5", propLen)
	}
	classic := make([]byte, lzma.HeaderLen)
	if _, err := io.ReadFull(r, classic[:5]); err != nil {
		return nil, fmt.Errorf("lzma properties: %w", err)
	}
	if eos {
		size = ^uint64(0)
	}
	binary.LittleEndian.PutUint64(classic[5:], size)
	return lzma.ReaderConfig{DictCap: maxDictionary}.NewReader(io.MultiReader(bytes.NewReader(classic), r))
}
