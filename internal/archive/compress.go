package archive

import (
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
)

// maxDictionary bounds the dictionary an xz, LZMA or zstd stream may ask
// for. The header is the attacker's to write; 64 MiB covers xz -9 and
// zstd's levels up to 19 (window log 26).
const maxDictionary = 64 << 20

// openStream returns a reader of the decompressed stream of data. src
// reads data; the decoders move it along as they consume their input,
// which is how ratioReader sees how much they have consumed.
func openStream(c compression, data []byte, src *bytes.Reader, lim Limits) (io.Reader, error) {
	switch c {
	case compGzip:
		return newGzipReader(data, src, lim) // multistream: every member is read
	case compBzip2:
		return bzip2.NewReader(src), nil
	case compXz:
		return newXzReader(src)
	}
	return src, nil
}

// newXzReader opens an xz stream after checking the dictionary every block
// asks for. ulikunitz/xz allocates the dictionary a block header names (up
// to 4 GiB, from a 60-byte file) before decoding a byte, and its DictCap is
// a floor rather than a bound: set to maxDictionary it made every stream,
// however tiny, allocate 64 MiB. So the floor is the minimum and the bound
// is checked on the framing beforehand (see xzCheckDictionaries).
func newXzReader(r io.Reader) (io.Reader, error) {
	ra, ok := r.(sizedReaderAt)
	if !ok {
		return nil, errors.New("xz: input is not in memory")
	}
	if err := xzCheckDictionaries(ra, maxDictionary); err != nil {
		return nil, err
	}
	return xz.ReaderConfig{DictCap: lzma.MinDictCap}.NewReader(r)
}

// sizedReaderAt is what both a bytes.Reader and the io.SectionReader that
// archive/zip hands a decompressor are: the compressed bytes, in memory.
type sizedReaderAt interface {
	io.Reader
	io.ReaderAt
	Size() int64
}

// xzCheckDictionaries walks the framing of the xz data in r without
// decompressing it (stream headers, block headers, the headers of LZMA2
// chunks, indexes, footers, stream padding) and fails when a block's LZMA2
// filter asks for a dictionary over limit. Where the framing is broken the
// walk just stops: the decoder reads the same framing in the same order and
// fails at that point, before it reaches any block header beyond it.
func xzCheckDictionaries(r sizedReaderAt, limit int64) error {
	_, err := xzWalk(r, limit)
	return err
}

// xzWalk is xzCheckDictionaries, returning also the offset where the last
// complete stream it walked ends.
func xzWalk(r sizedReaderAt, limit int64) (end int64, err error) {
	c := &xzCursor{r: r, size: r.Size()}
	for stream := 0; ; stream++ {
		head, ok := c.next(12)
		for ok && stream > 0 && bytes.Equal(head[:4], []byte{0, 0, 0, 0}) {
			c.pos -= 8 // stream padding comes in groups of four zero bytes
			head, ok = c.next(12)
		}
		if !ok || !bytes.HasPrefix(head, magicXz) {
			return end, nil
		}
		checkLen, ok := xzCheckLen(head[7])
		if !ok {
			return end, nil
		}
		// Blocks, up to the index indicator.
		for {
			b, ok := c.next(1)
			if !ok {
				return end, nil
			}
			if b[0] == 0 {
				break
			}
			start := c.pos - 1
			hdr, ok := c.next(int(b[0])*4 + 3) // the rest of (size+1)*4 bytes
			if !ok {
				return end, nil
			}
			dict, ok := xzBlockDictionary(hdr)
			if !ok {
				return end, nil
			}
			if dict > limit {
				return end, failure.Classed(failure.ErrTooLarge, "xz block at offset %d asks for a dictionary of %d bytes > limit %d", start, dict, limit)
			}
			if !c.skipLZMA2() {
				return end, nil
			}
			if !c.skip((4-(c.pos-start)%4)%4 + checkLen) {
				return end, nil
			}
		}
		// Index: count, records of two varints, padding, CRC32; footer.
		start := c.pos - 1
		n, ok := c.varint()
		for i := uint64(0); ok && i < n; i++ {
			if _, ok = c.varint(); ok {
				_, ok = c.varint()
			}
		}
		if !ok || !c.skip((4-(c.pos-start)%4)%4+4+12) {
			return end, nil
		}
		end = c.pos
	}
}

type xzCursor struct {
	r    io.ReaderAt
	size int64
	pos  int64
	buf  [1024]byte
}

// next returns the n (at most 1024) bytes at the cursor and moves past them.
func (c *xzCursor) next(n int) ([]byte, bool) {
	if n > len(c.buf) || c.pos+int64(n) > c.size {
		return nil, false
	}
	if _, err := c.r.ReadAt(c.buf[:n], c.pos); err != nil {
		return nil, false
	}
	c.pos += int64(n)
	return c.buf[:n], true
}

func (c *xzCursor) skip(n int64) bool {
	if n < 0 || c.pos+n > c.size {
		return false
	}
	c.pos += n
	return true
}

func (c *xzCursor) varint() (uint64, bool) {
	var x uint64
	for i := 0; i < 9; i++ {
		b, ok := c.next(1)
		if !ok {
			return 0, false
		}
		x |= uint64(b[0]&0x7f) << (7 * i)
		if b[0]&0x80 == 0 {
			return x, true
		}
	}
	return 0, false
}

// skipLZMA2 moves past the chunks of an LZMA2 stream, which state their
// sizes in their headers, up to its end marker.
func (c *xzCursor) skipLZMA2() bool {
	for {
		b, ok := c.next(1)
		if !ok {
			return false
		}
		ctl := b[0]
		switch {
		case ctl == 0:
			return true
		case ctl == 1 || ctl == 2: // uncompressed chunk
			h, ok := c.next(2)
			if !ok || !c.skip(int64(binary.BigEndian.Uint16(h))+1) {
				return false
			}
		case ctl >= 0x80: // LZMA chunk: unpacked and packed sizes, new properties from 0xc0
			n := 4
			if ctl >= 0xc0 {
				n = 5
			}
			h, ok := c.next(n)
			if !ok || !c.skip(int64(binary.BigEndian.Uint16(h[2:]))+1) {
				return false
			}
		default:
			return false
		}
	}
}

// xzCheckLen is the length of the check a stream's flags name.
func xzCheckLen(flags byte) (int64, bool) {
	switch t := flags & 0x0f; {
	case t == 0:
		return 0, true
	case flags&0xf0 != 0:
		return 0, false
	default:
		return 4 << ((t - 1) / 3), true
	}
}

// xzBlockDictionary reads the dictionary size of the LZMA2 filter of a
// block header (without its size byte); 0 when it has no LZMA2 filter.
func xzBlockDictionary(hdr []byte) (int64, bool) {
	p := 1
	varint := func() (uint64, bool) {
		var x uint64
		for i := 0; i < 9 && p < len(hdr); i++ {
			b := hdr[p]
			p++
			x |= uint64(b&0x7f) << (7 * i)
			if b&0x80 == 0 {
				return x, true
			}
		}
		return 0, false
	}
	flags := hdr[0]
	for _, bit := range []byte{0x40, 0x80} { // compressed, uncompressed size
		if flags&bit != 0 {
			if _, ok := varint(); !ok {
				return 0, false
			}
		}
	}
	var dict int64
	for range int(flags&3) + 1 {
		id, ok := varint()
		if !ok {
			return 0, false
		}
		n, ok := varint()
		if !ok || n > uint64(len(hdr)-p) {
			return 0, false
		}
		props := hdr[p : p+int(n)]
		p += int(n)
		if id == 0x21 {
			if n != 1 || props[0] > 40 {
				return 0, false
			}
			if props[0] == 40 {
				dict = 1<<32 - 1
			} else {
				dict = (2 | int64(props[0])&1) << (11 + props[0]/2)
			}
		}
	}
	return dict, true
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

// zstdDecoder decodes zip members of method 93 whole, straight into the
// member's buffer. A streaming decoder allocates the window a frame header
// declares (64 MiB from a 10-byte member, again for every member); DecodeAll
// uses the output as its window, and the cap limit bounds the output to the
// declared size. DecodeAll is safe for concurrent use.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxDictionary), zstd.WithDecodeAllCapLimit(true))
})

// zstdDecodeInto decodes the zstd frames of src into buf, which they must
// fill exactly.
func zstdDecodeInto(src, buf []byte) error {
	d, err := zstdDecoder()
	if err != nil {
		return err
	}
	out, err := d.DecodeAll(src, buf[:0:len(buf)])
	if err != nil {
		return err
	}
	if len(out) != len(buf) || (len(out) > 0 && &out[0] != &buf[0]) {
		return errors.New("zstd: member size differs from its declared size")
	}
	return nil
}

func newXz(r io.Reader) io.ReadCloser {
	x, err := newXzReader(r)
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
