//go:build isal

package archive

// Deflate decoding in C, with ISA-L's igzip (libisal, Debian's libisal-dev
// to build and libisal2 to run): built with the tag isal. ISA-L only
// decodes; everything around it stays in Go and is the Go path's own code,
// so that both paths give the same results:
//
//   - zip members: ISA-L is registered as archive/zip's decompressor for
//     method 8, so archive/zip still checks sizes, CRC-32 and data
//     descriptors. It decodes straight into the member's buffer, which
//     walkZip sized from the directory after the limit checks.
//   - gzip: the member headers and trailers (CRC-32 and ISIZE) are read
//     here in Go, with the outcomes of klauspost/compress's gzip.Reader, the
//     Go path; ISA-L decodes the deflate data between them in bounded calls
//     and computes the CRC-32 as it goes.
//
// Decoders disagree on broken data: how far they get into a cut-off
// stream, what they call corrupt (ISA-L accepts Huffman codes that leave
// codes unassigned; klauspost and zlib, so pip, do not). So ISA-L's output
// is only ever handed over as far as it is vouched for: wherever ISA-L
// stops early, or a stream ends with another size or CRC-32 than the zip
// directory or the gzip trailer declares, the Go inflater decodes that
// member again from its start, skips what was already handed over, and
// has the last word. Valid members never take that path; broken ones get
// the Go path's outcome, byte for byte and error for error. What is left
// is data crafted with such a Huffman code and the CRC-32 of ISA-L's
// reading of it, which zlib refuses (TestIsalKnownDivergence).
//
// The decoder's state (about 87 KB) is C memory, reused through a pool;
// the input and output are Go memory, handed to C for one call at a time
// (the state keeps no pointer to them afterwards, as cgo requires).

/*
#cgo pkg-config: libisal
#include <stdint.h>
#include <stdlib.h>
#include <isa-l.h>

typedef struct {
	int32_t  ret;      // isal_inflate's return: < 0 for corrupt data
	int32_t  finished; // the deflate stream has ended
	uint32_t used;     // input bytes taken, including those held in the bit buffer
	uint32_t produced; // output bytes written
	uint32_t back;     // at the end: whole bytes read ahead past it into the bit buffer
	uint32_t crc;      // with ISAL_GZIP_NO_HDR: the CRC-32 of the output so far
} df_result;

static df_result df_inflate(struct inflate_state *s, int reset, int crc_flag,
		uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_len) {
	df_result r;
	if (reset) {
		isal_inflate_reset(s);
		s->crc_flag = crc_flag;
		s->hist_bits = 0; // the full 32 KiB window
	}
	s->next_in = in;
	s->avail_in = in_len;
	s->next_out = out;
	s->avail_out = out_len;
	r.ret = isal_inflate(s);
	r.used = in_len - s->avail_in;
	r.produced = out_len - s->avail_out;
	r.finished = s->block_state == ISAL_BLOCK_FINISH;
	r.back = r.finished && s->read_in_length > 0 ? (uint32_t)s->read_in_length / 8 : 0;
	r.crc = s->crc;
	s->next_in = NULL;
	s->avail_in = 0;
	s->next_out = NULL;
	s->avail_out = 0;
	return r;
}
*/
import "C"

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// InflateImpl names the deflate decoder compiled in.
var InflateImpl = fmt.Sprintf("isa-l %d.%d.%d", C.ISAL_MAJOR_VERSION, C.ISAL_MINOR_VERSION, C.ISAL_PATCH_VERSION)

const (
	// isalMinMember is the compressed size under which a zip member is
	// left to the Go decoder. Measured (BenchmarkZipMemberInflate,
	// BenchmarkFlattenSmallDeflated), ISA-L wins at every size, even for a
	// 6-byte file: klauspost wraps archive/zip's section reader in a 4 KiB
	// bufio.Reader per member, which costs more than a cgo call. So only
	// empty data stays on the Go decoder.
	isalMinMember = 1
	// isalStage is the buffer a gzip stream decodes into when the reader
	// asks for less (tar headers, small files); reads this large or larger
	// are decoded straight into the reader's buffer. It must exceed ISA-L's
	// internal output buffer (64 KiB and a bit), so that the output decoded
	// before corrupt data is always handed over in full, as the Go decoder
	// does, rather than dropped with the error.
	isalStage = 128 << 10
	// isalChunk bounds the output of one call on a gzip stream, so that
	// ratioReader checks a bomb every so often, not after filling a
	// 256 MiB file buffer.
	isalChunk = 256 << 10
	// The C path is used within these sizes only: ISA-L counts in uint32,
	// and its check of back-references against total_out would misjudge a
	// member whose output passes 4 GiB. The default limits are well within.
	maxIsalInput  = 1 << 31
	maxIsalOutput = 1<<32 - 1<<24
)

// UseGoInflate makes this build inflate with the Go path until the
// function it returns is called. It exists for differential tests, here and
// in the packages above (the scanner compares whole results through both
// paths); nothing else calls it.
func UseGoInflate() (restore func()) {
	forceGoInflate.Store(true)
	return func() { forceGoInflate.Store(false) }
}

// forceGoInflate makes this build use the Go path, for the differential
// tests that compare the two in one binary.
var forceGoInflate atomic.Bool

// isalStatesMade counts the states made, for a test of their reuse.
var isalStatesMade atomic.Int64

// isalState is one decoder's C state, and the staging buffer of a gzip
// stream. The pool keeps them across distributions; one the pool drops is
// freed when the garbage collector finds it unreachable.
type isalState struct {
	s     *C.struct_inflate_state
	stage []byte
}

var isalPool = sync.Pool{New: func() any {
	isalStatesMade.Add(1)
	st := &isalState{s: (*C.struct_inflate_state)(C.malloc(C.sizeof_struct_inflate_state))}
	C.isal_inflate_init(st.s)
	runtime.AddCleanup(st, func(s *C.struct_inflate_state) { C.free(unsafe.Pointer(s)) }, st.s)
	return st
}}

// bytePtr is b's first byte for C, nil for an empty b.
func bytePtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// inflate runs one decoding call from in into out (at most maxIsalInput
// and maxIsalOutput bytes: the callers bound them), restarting the state
// first when reset is set.
func (st *isalState) inflate(reset bool, crcFlag C.int, in, out []byte) C.df_result {
	var r C.int
	if reset {
		r = 1
	}
	return C.df_inflate(st.s, r, crcFlag, bytePtr(in), C.uint32_t(len(in)), bytePtr(out), C.uint32_t(len(out)))
}

// zipInflater is the decompressor of the deflated members of the zip in
// data, which src reads; byData holds its entries by the offset of their
// data. archive/zip hands it a section of src; members of at least
// isalMinMember bytes are decoded by ISA-L straight from data.
func zipInflater(data []byte, src io.ReaderAt, byData map[int64]*zip.File, lim Limits) zip.Decompressor {
	if forceGoInflate.Load() || int64(len(data)) > maxIsalInput || lim.MaxFileSize > maxIsalOutput {
		return newInflater
	}
	return func(r io.Reader) io.ReadCloser {
		sr, ok := r.(*io.SectionReader)
		if !ok {
			return newInflater(r)
		}
		outer, off, n := sr.Outer()
		f := byData[off]
		if outer != src || f == nil || n < isalMinMember || off < 0 || off > int64(len(data))-n {
			return newInflater(r)
		}
		if f.CRC32 == 0 {
			// isalFlate relies on the CRC-32 (see there), and one of 0
			// vouches for little: archive/zip does not check it without
			// a data descriptor, and it is the CRC-32 of no bytes.
			return newInflater(r)
		}
		if pos, err := sr.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
			return newInflater(r)
		}
		return &isalFlate{in: data[off : off+n], size: f.UncompressedSize64, crc: f.CRC32, st: isalPool.Get().(*isalState), fresh: true}
	}
}

// isalFlate decodes one raw deflate stream held in memory, for archive/zip,
// with the outcomes of klauspost's inflater, the Go path.
//
// Where a stream is cut short or corrupt, decoders differ in how far they
// get and in what they say: ISA-L decodes the last symbols that klauspost,
// which reads ahead, gives up on, and it accepts Huffman codes that leave
// codes unassigned, which klauspost and zlib (so pip) reject. So at
// anything but a clean decode (ISA-L stops for corrupt data or for want of
// input, decodes beyond the member's declared size, or ends the stream
// with another size or CRC-32 than declared, or with no bytes at all),
// the Go inflater takes over
// from the start of the stream: it skips what was already read and carries
// on, and the outcome is the Go path's. Only broken members pay for the
// second decoding.
type isalFlate struct {
	in    []byte
	size  uint64 // the member's declared size
	crc   uint32 // and CRC-32
	out   uint64 // bytes read so far
	pos   int
	st    *isalState
	fresh bool
	err   error
	goDec io.ReadCloser // the Go inflater, once it has taken over
}

func (f *isalFlate) Read(p []byte) (int, error) {
	if f.goDec != nil {
		return f.goDec.Read(p)
	}
	if f.err != nil {
		return 0, f.err
	}
	if f.st == nil {
		return 0, errors.New("flate: read after close")
	}
	if len(p) == 0 {
		return 0, nil
	}
	out := p[:min(len(p), maxIsalOutput)]
	r := f.st.inflate(f.fresh, C.ISAL_GZIP_NO_HDR, f.in[f.pos:], out)
	f.fresh = false
	f.pos += int(r.used)
	n := int(r.produced)
	total := f.out + uint64(n)
	switch {
	case r.ret < 0,
		r.finished == 0 && (n < len(out) || total > f.size),
		r.finished != 0 && (total != f.size || uint32(r.crc) != f.crc || total == 0):
		return f.goTakeOver(p)
	case r.finished != 0:
		f.err = io.EOF
	}
	f.out = total
	return n, f.err
}

// goTakeOver hands the stream to the Go inflater, which skips the bytes
// already read and reads on into p.
func (f *isalFlate) goTakeOver(p []byte) (int, error) {
	f.release()
	f.goDec = newInflater(bytes.NewReader(f.in))
	if skipped, err := io.CopyN(io.Discard, f.goDec, int64(f.out)); err != nil {
		// It ends sooner than ISA-L did: whatever it says stands.
		if err == io.EOF && uint64(skipped) < f.out {
			err = io.ErrUnexpectedEOF
		}
		f.goDec.Close()
		f.goDec = errReadCloser{err}
		return 0, err
	}
	return f.goDec.Read(p)
}

type errReadCloser struct{ err error }

func (e errReadCloser) Read([]byte) (int, error) { return 0, e.err }
func (e errReadCloser) Close() error             { return nil }

func (f *isalFlate) release() {
	if f.st != nil {
		isalPool.Put(f.st)
		f.st = nil
	}
}

func (f *isalFlate) Close() error {
	f.release()
	if f.goDec != nil {
		return f.goDec.Close()
	}
	return nil
}

// newGzipReader reads every member of the gzip stream in data; src reads
// data and is kept at the position of the decoder's input, so that
// ratioReader sees what was consumed.
func newGzipReader(data []byte, src *bytes.Reader, lim Limits) (io.Reader, error) {
	if forceGoInflate.Load() || int64(len(data)) > maxIsalInput || lim.MaxExpandedSize > maxIsalOutput {
		return gzip.NewReader(src)
	}
	z := &isalGzip{data: data, src: src, st: isalPool.Get().(*isalState)}
	if err := z.header(); err != nil {
		z.release()
		return nil, err
	}
	return z, nil
}

// isalGzip reads a multi-member gzip stream held in memory the way
// klauspost's gzip.Reader does, the Go path: the same header checks, the
// same trailer checks (gzip.ErrChecksum when the CRC-32 or the size
// disagrees), the same errors at the same points of the output (a member's
// last bytes come with the outcome of reading its trailer and the next
// header, io.EOF at the clean end), and sticky errors. As in isalFlate,
// the Go inflater takes over a member where ISA-L stops before its end.
type isalGzip struct {
	data  []byte
	src   *bytes.Reader
	st    *isalState    // nil once released
	start int           // offset of the member's deflate data
	fresh bool          // the next call starts the member's deflate data
	done  bool          // the member's deflate data has ended
	out   int64         // bytes the member decoded so far
	crc   uint32        // of those bytes
	size  uint32        // of those bytes, modulo 2^32 like ISIZE
	stage []byte        // decoded and not yet read, in st.stage
	goDec io.ReadCloser // the Go inflater, once it has taken over the member
	err   error         // sticky
}

func (z *isalGzip) Read(p []byte) (n int, err error) {
	if z.err != nil {
		return 0, z.err
	}
	if z.st == nil {
		return 0, errors.New("gzip: read after release")
	}
	for n == 0 {
		n, err = z.inflate(p)
		if err != io.EOF {
			if err != nil {
				z.fail(err)
			}
			return n, err
		}
		// The member's deflate data has ended: its trailer, then the next
		// member's header (io.EOF when there is none).
		var t [8]byte
		if _, err := io.ReadFull(z.src, t[:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			z.fail(err)
			return n, err
		}
		if binary.LittleEndian.Uint32(t[:4]) != z.crc || binary.LittleEndian.Uint32(t[4:]) != z.size {
			z.fail(gzip.ErrChecksum)
			return n, z.err
		}
		if err := z.header(); err != nil {
			z.fail(err)
			return n, err
		}
	}
	return n, nil
}

// inflate reads the member's decoded data into p; io.EOF comes with its
// last bytes.
func (z *isalGzip) inflate(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if z.goDec != nil {
		return z.goRead(p)
	}
	if len(z.stage) == 0 {
		if z.done {
			return 0, io.EOF
		}
		if len(p) >= isalStage {
			n, ok := z.decode(p[:min(len(p), isalChunk)])
			if !ok {
				return z.goTakeOver(p)
			}
			if z.done {
				return n, io.EOF
			}
			return n, nil
		}
		if z.st.stage == nil {
			z.st.stage = make([]byte, isalStage)
		}
		n, ok := z.decode(z.st.stage)
		if !ok {
			return z.goTakeOver(p)
		}
		z.stage = z.st.stage[:n]
	}
	n := copy(p, z.stage)
	z.stage = z.stage[n:]
	if len(z.stage) == 0 && z.done {
		return n, io.EOF
	}
	return n, nil
}

// decode makes one call on the member's deflate data into out, false when
// the Go inflater is to take over (see isalFlate): ISA-L stops before the
// end of the data, for corrupt data or for want of input, or ends it with
// output that the trailer does not vouch for.
func (z *isalGzip) decode(out []byte) (int, bool) {
	pos := len(z.data) - z.src.Len()
	r := z.st.inflate(z.fresh, C.ISAL_GZIP_NO_HDR, z.data[pos:], out)
	z.fresh = false
	n := int(r.produced)
	if r.ret < 0 || (r.finished == 0 && n < len(out)) {
		return 0, false
	}
	pos += int(r.used)
	if r.finished != 0 {
		pos -= int(r.back) // the trailer starts right after the last bit
		// A trailer of an empty member vouches for little: the
		// Go inflater decodes those (a couple of bytes) again.
		t := z.data[pos:]
		if len(t) < 8 || binary.LittleEndian.Uint32(t) != uint32(r.crc) || binary.LittleEndian.Uint32(t[4:]) != z.size+uint32(n) || z.out+int64(n) == 0 {
			return 0, false
		}
		z.done = true
	}
	z.src.Seek(int64(pos), io.SeekStart)
	z.out += int64(n)
	z.crc = uint32(r.crc)
	z.size += uint32(n)
	return n, true
}

// goTakeOver hands the member to the Go inflater, reading from src as the
// Go path does, which skips the bytes already read and reads on into p.
// It is a new one, as gzip.Reader's is for a stream's first member: what
// klauspost calls a broken stream can depend on what its inflater decoded
// before a Reset (TestKlauspostResetQuirk).
func (z *isalGzip) goTakeOver(p []byte) (int, error) {
	z.src.Seek(int64(z.start), io.SeekStart)
	z.goDec = flate.NewReader(z.src)
	if skipped, err := io.CopyN(io.Discard, z.goDec, z.out); err != nil {
		if err == io.EOF && skipped < z.out {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	return z.goRead(p)
}

func (z *isalGzip) goRead(p []byte) (int, error) {
	n, err := z.goDec.Read(p)
	z.out += int64(n)
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p[:n])
	z.size += uint32(n)
	if err == io.EOF {
		z.goDec.Close()
		z.goDec = nil
		z.done = true
	}
	return n, err
}

// gzip header flags (RFC 1952 § 2.3.1).
const (
	gzipFlagHCRC    = 1 << 1
	gzipFlagExtra   = 1 << 2
	gzipFlagName    = 1 << 3
	gzipFlagComment = 1 << 4
)

// header reads a member's header and readies the decoder for its data.
// Its errors are the Go path's: the error of reading the fixed 10 bytes as
// it is (io.EOF where no member follows), gzip.ErrHeader for a wrong magic,
// method, header CRC or reserved flag (checked after the fields, as
// klauspost does), io.ErrUnexpectedEOF in the extra field, and the bare
// error of reading a byte in the name or comment, whose length is bounded
// at 512 bytes with its terminator.
func (z *isalGzip) header() error {
	var h [10]byte
	if _, err := io.ReadFull(z.src, h[:]); err != nil {
		return err
	}
	if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
		return gzip.ErrHeader
	}
	flags := h[3]
	sum := crc32.ChecksumIEEE(h[:])
	if flags&gzipFlagExtra != 0 {
		var l [2]byte
		if _, err := io.ReadFull(z.src, l[:]); err != nil {
			return io.ErrUnexpectedEOF
		}
		sum = crc32.Update(sum, crc32.IEEETable, l[:])
		n := int(binary.LittleEndian.Uint16(l[:]))
		pos := len(z.data) - z.src.Len()
		if n > z.src.Len() {
			z.src.Seek(0, io.SeekEnd)
			return io.ErrUnexpectedEOF
		}
		sum = crc32.Update(sum, crc32.IEEETable, z.data[pos:pos+n])
		z.src.Seek(int64(n), io.SeekCurrent)
	}
	for _, f := range []byte{gzipFlagName, gzipFlagComment} {
		if flags&f == 0 {
			continue
		}
		start := len(z.data) - z.src.Len()
		for i := 0; ; i++ {
			if i >= 512 {
				return gzip.ErrHeader
			}
			b, err := z.src.ReadByte()
			if err != nil {
				return err
			}
			if b == 0 {
				sum = crc32.Update(sum, crc32.IEEETable, z.data[start:start+i+1])
				break
			}
		}
	}
	if flags&gzipFlagHCRC != 0 {
		var c [2]byte
		if _, err := io.ReadFull(z.src, c[:]); err != nil {
			return io.ErrUnexpectedEOF
		}
		if binary.LittleEndian.Uint16(c[:]) != uint16(sum) {
			return gzip.ErrHeader
		}
	}
	if flags>>5 != 0 {
		return gzip.ErrHeader
	}
	z.start = len(z.data) - z.src.Len()
	z.fresh, z.done, z.out, z.size, z.crc = true, false, 0, 0, 0
	return nil
}

// fail makes err sticky and gives the decoder back.
func (z *isalGzip) fail(err error) {
	z.err = err
	z.release()
}

// release gives the decoder back to the pool; the walker calls it when it
// is done with the stream, which may be before the stream's end.
func (z *isalGzip) release() {
	if z.st != nil {
		isalPool.Put(z.st)
		z.st = nil
	}
	z.stage = nil
	if z.goDec != nil {
		z.goDec.Close()
		z.goDec = nil
	}
}
