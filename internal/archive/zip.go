package archive

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"sort"
	"strings"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
)

// Zip methods beyond Go's own store and deflate. Python's zipfile, and so
// pip, reads bzip2, LZMA and (from 3.14) zstd members; a scanner that cannot
// would see an empty file where pip installs code.
const (
	zipStore   = 0
	zipDeflate = 8
	zipBzip2   = 12
	zipLZMA    = 14
	zipZstd    = 93
	zipXz      = 95
)

// walkZip visits the members of a zip in directory order, after checking
// the archive for the structural tricks of docs/archive-threats.md (rows 1,
// 5 and 12): a directory that hides local entries, overlapping entries, and
// declared counts beyond the file budget.
func (w *walker) walkZip(data []byte, prefix string, depth int) error {
	if n, ok := zipDeclaredEntries(data); ok && n > uint64(w.count.filesLeft()) {
		return failure.TooLarge("zip "+DisplayName(strings.TrimSuffix(prefix, "/"))+" declares entries", int64(min(n, math.MaxInt64)), w.count.filesLeft())
	}
	src := bytes.NewReader(data)
	zr, err := zip.NewReader(src, int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return failure.Classed(failure.ErrMalformed, "%v", err)
	}
	byData, err := checkZipLayout(data, zr.File)
	if err != nil {
		return err
	}
	zr.RegisterDecompressor(zipDeflate, zipInflater(data, src, byData, w.lim))
	zr.RegisterDecompressor(zipBzip2, newBzip2)
	zr.RegisterDecompressor(zipXz, newXz)
	for _, f := range zr.File {
		name := prefix + f.Name
		if strings.HasSuffix(f.Name, "/") && f.UncompressedSize64 == 0 && f.CompressedSize64 == 0 {
			continue // a directory
		}
		if f.Flags&0x1 != 0 {
			return failure.Classed(failure.ErrUnsupported, "encrypted zip entry %s", DisplayName(name))
		}
		if f.UncompressedSize64 > math.MaxInt64 || f.CompressedSize64 > math.MaxInt64 {
			return failure.Classed(failure.ErrMalformed, "zip entry %s declares an impossible size", DisplayName(name))
		}
		size := int64(f.UncompressedSize64)
		if err := w.admit(name, size, int64(f.CompressedSize64)); err != nil {
			return err
		}
		var key *MemberKey
		if w.members != nil && size >= w.members.Min && f.Method == zipDeflate {
			k, err := zipMemberKey(data, f)
			if err != nil {
				return failure.Classed(failure.ErrMalformed, "zip: local header of %s: %v", DisplayName(name), err)
			}
			if w.members.Known(name, size, &k) {
				continue
			}
			key = &k
		}
		buf, err := w.buffer(depth, size)
		if err != nil {
			return err
		}
		if err := readZipMember(data, f, buf); err != nil {
			if failure.Class(err) != nil {
				return err
			}
			return failure.Classed(failure.ErrMalformed, "zip: reading %s: %v", DisplayName(name), err)
		}
		if err := w.file(name, buf, depth, key); err != nil {
			return err
		}
	}
	return nil
}

// MemberKey names what a compressed zip member expands to without expanding
// it: the SHA-256 of its method, CRC-32, sizes and compressed bytes.
// Inflating is deterministic, so members with the same key expand to the
// same bytes (or fail alike), and identical wheel members, as a release's
// platform wheels and consecutive versions hold by the hundred, need
// inflating once. The hash is cryptographic so that nobody can give a
// payload's member the key of a clean one; hashing the compressed bytes
// costs about a third of hashing the expanded ones.
type MemberKey [sha256.Size]byte

// zipDescriptorMax is the most archive/zip reads of a data descriptor.
const zipDescriptorMax = 16

// zipMemberKey computes the MemberKey of f, whose data checkZipLayout has
// found within data. A member with a data descriptor (Go's zip writer and
// other streaming writers make them) also hashes the bytes archive/zip
// reads the descriptor from, whose CRC it checks after inflating: the same
// key then means the same outcome of that check too.
func zipMemberKey(data []byte, f *zip.File) (MemberKey, error) {
	off, err := f.DataOffset()
	if err != nil {
		return MemberKey{}, err
	}
	end := off + int64(f.CompressedSize64)
	var head [2 + 2 + 4 + 8 + 8]byte
	binary.LittleEndian.PutUint16(head[0:], f.Method)
	binary.LittleEndian.PutUint16(head[2:], f.Flags&0x8)
	binary.LittleEndian.PutUint32(head[4:], f.CRC32)
	binary.LittleEndian.PutUint64(head[8:], f.UncompressedSize64)
	binary.LittleEndian.PutUint64(head[16:], f.CompressedSize64)
	h := sha256.New()
	h.Write(head[:])
	h.Write(data[off:end])
	if f.Flags&0x8 != 0 {
		h.Write(data[end:min(end+zipDescriptorMax, int64(len(data)))])
	}
	var k MemberKey
	h.Sum(k[:0])
	return k, nil
}

// readZipMember fills buf with the member's content and verifies its size
// and CRC. LZMA members are decoded here rather than through a registered
// decompressor because their stream needs the size from the directory;
// zstd members because they are decoded whole (see zstdDecoder) from their
// bytes in data, the archive.
func readZipMember(data []byte, f *zip.File, buf []byte) error {
	switch f.Method {
	case zipStore, zipDeflate, zipBzip2, zipXz:
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		return InFile(readExact(rc, buf), f.Name)
	case zipLZMA:
		raw, err := f.OpenRaw()
		if err != nil {
			return err
		}
		lz, err := newZipLZMA(raw, f.UncompressedSize64, f.Flags&0x2 != 0)
		if err != nil {
			return err
		}
		if err := readExact(lz, buf); err != nil {
			return err
		}
		if crc32.ChecksumIEEE(buf) != f.CRC32 {
			return zip.ErrChecksum
		}
		return nil
	case zipZstd:
		// checkZipLayout has checked that the member lies within data.
		off, err := f.DataOffset()
		if err != nil {
			return err
		}
		if err := zstdDecodeInto(data[off:off+int64(f.CompressedSize64)], buf); err != nil {
			return err
		}
		if crc32.ChecksumIEEE(buf) != f.CRC32 {
			return zip.ErrChecksum
		}
		return nil
	}
	return failure.Classed(failure.ErrUnsupported, "zip method %d in %s", f.Method, DisplayName(f.Name))
}

// zipDeclaredEntries reads the entry count of the end-of-central-directory
// record (or its zip64 form) without reading the directory, so that an
// archive declaring millions of entries fails before they are allocated.
func zipDeclaredEntries(data []byte) (uint64, bool) {
	const eocdLen = 22
	start := max(0, len(data)-(eocdLen+math.MaxUint16))
	tail := data[start:]
	for i := len(tail) - eocdLen; i >= 0; i-- {
		if !bytes.Equal(tail[i:i+4], magicZipEnd) {
			continue
		}
		commentLen := int(binary.LittleEndian.Uint16(tail[i+20:]))
		if i+eocdLen+commentLen > len(tail) {
			continue
		}
		n := uint64(binary.LittleEndian.Uint16(tail[i+10:]))
		if n != math.MaxUint16 {
			return n, true
		}
		// zip64: the locator sits right before the record and points at
		// the zip64 end record, whose count is a uint64 at offset 32.
		loc := start + i - 20
		if loc < 0 || !bytes.Equal(data[loc:loc+4], []byte("PK\x06\x07")) {
			return n, true
		}
		off := binary.LittleEndian.Uint64(data[loc+8:])
		if len(data) < 56 || off > uint64(len(data)-56) || !bytes.Equal(data[off:off+4], []byte("PK\x06\x06")) {
			return n, true
		}
		return binary.LittleEndian.Uint64(data[off+32:]), true
	}
	return 0, false
}

// checkZipLayout fails a zip whose central directory does not account for
// its local entries, or whose entries overlap.
//
// Appending a second, empty end record makes readers that trust the last
// record list nothing while pip-compatible tools may still find the files;
// any local header that no directory entry points to is such a hidden file.
// Overlapping entries (many directory entries sharing one member's data)
// are the classic zip bomb. It returns the entries by the offset of their
// data.
func checkZipLayout(data []byte, files []*zip.File) (map[int64]*zip.File, error) {
	type span struct {
		start, end int64
		f          *zip.File
	}
	spans := make([]span, 0, len(files))
	byData := make(map[int64]*zip.File, len(files))
	for _, f := range files {
		off, err := f.DataOffset()
		if err != nil {
			return nil, failure.Classed(failure.ErrMalformed, "zip: local header of %s: %v", DisplayName(f.Name), err)
		}
		end := off + int64(min(f.CompressedSize64, math.MaxInt64/2))
		if end > int64(len(data)) {
			return nil, failure.Classed(failure.ErrMalformed, "zip: data of %s runs past the end of the archive", DisplayName(f.Name))
		}
		spans = append(spans, span{off, end, f})
		byData[off] = f
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return nil, failure.Classed(failure.ErrMalformed, "zip: entries %s and %s overlap", DisplayName(spans[i-1].f.Name), DisplayName(spans[i].f.Name))
		}
	}

	// Walk the local headers from the start of the archive: each must be
	// one the directory lists.
	pos := int64(0)
	for pos+30 <= int64(len(data)) && bytes.Equal(data[pos:pos+4], magicZipLocal) {
		flags := binary.LittleEndian.Uint16(data[pos+6:])
		nameLen := int64(binary.LittleEndian.Uint16(data[pos+26:]))
		extraLen := int64(binary.LittleEndian.Uint16(data[pos+28:]))
		dataOff := pos + 30 + nameLen + extraLen
		f, listed := byData[dataOff]
		if !listed {
			name := ""
			if dataOff <= int64(len(data)) {
				name = string(data[pos+30 : pos+30+nameLen])
			}
			return nil, failure.Classed(failure.ErrMalformed, "zip: local entry %s at offset %d is missing from the central directory", DisplayName(name), pos)
		}
		next := dataOff + int64(f.CompressedSize64)
		if flags&0x8 != 0 {
			next = skipDataDescriptor(data, next)
		}
		if next <= pos {
			break
		}
		pos = next
	}
	return byData, nil
}

// skipDataDescriptor returns the offset after the data descriptor that
// starts at off (optional signature, CRC, 32- or 64-bit sizes), or off when
// no next record can be found after any of its possible lengths.
func skipDataDescriptor(data []byte, off int64) int64 {
	for _, n := range []int64{16, 24, 12, 20} {
		p := off + n
		if p+4 <= int64(len(data)) && (bytes.Equal(data[p:p+4], magicZipLocal) || bytes.Equal(data[p:p+4], []byte("PK\x01\x02"))) {
			return p
		}
	}
	return off
}
