package scan

// Fixture builders for the archive and fuzz tests: every archive is built in
// memory, in code. Helpers are prefixed "fx" to keep clear of other test
// files of the package.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// fxPayload is what the test rules look for.
const fxPayload = "EVIL_PAYLOAD"

// fxLimits are the shrunk limits most tests use.
func fxLimits() Limits {
	lim := DefaultLimits()
	lim.MaxFileSize = 1 << 20
	lim.MaxExpandedSize = 8 << 20
	return lim
}

// fxTarBz2Hex is a tar.bz2 (Python's tarfile, USTAR, padded to 10240 bytes,
// bz2.compress level 9) holding pkg-1.0/setup.py ("print('hello')\n") and
// pkg-1.0/pkg/evil.py ("import os; EVIL_PAYLOAD\n"). Go cannot write bzip2,
// so it was generated once with python3's bz2 module.
const fxTarBz2Hex = "425a6839314159265359fc05da3b0000a55f81cb9040e3ff882626c120e2efdf200001080820009209535268794340341a640d0d9403d2794129a8a68c86807a9a640000d3201fbe17c7214680056199863262ac81204d24a22318610c91868793faae0e875283c797dd2711a50c68251c0c71e0f18b66a1448952d28d8712e8b2fbfb62af258db18d473972ca507a9bbfc555fa2de0a7bf9c825c9e117cd0c3d480c71798638e832cf12461ac5283f8bb9229c28487e02ed1d8"

// fxBzip2Member is bz2.compress(b"bzip2 member: EVIL_PAYLOAD\n", 9), for a
// zip member of method 12.
const (
	fxBzip2MemberHex  = "425a683931415926535914db34a90000095f800010400010102624c1209222501020003140d3432326214190d1843208079f66448a8acd8b3f29d8738a87c5dc914e14240536cd2a40"
	fxBzip2MemberText = "bzip2 member: EVIL_PAYLOAD\n"
)

// Tar.xz files written by Python's lzma module (liblzma) from a tar of
// p/evil.py ("EVIL_PAYLOAD\n") and p/noise.bin (300 random bytes): preset 9
// with a SHA-256 check (a 64 MiB dictionary), and preset 0 with no check.
const fxPyXzSHA256Hex = "" +
	"fd377a585a00000ae1fb0ca1020021011c00000010cf58cce027ff01bf5d00380bc8a7a3b7a2a04fe78294d8f1c79a52aa3610650193da08f688a79e" +
	"b07f1970ec7c9c142d18690c43faba4fd87a86ffefef164a5cbcd5641eb8d730d6f7e312e4fb56f9ec76401e3a26449b3be68a10d2637fa4746ea46f" +
	"4916759db755f398924d01461c037e86840c1f067df45bdbbbfd6ee53decf91ec252143a4b3048cdce522caed55b48bd484dad219fcf81aa68a22e66" +
	"6194f947b53ef69b0f3ffc08c6bee039d7a72abfb79a320491eb7c1b0b376e991fdc30f5d4f486ce8602ae9b3ef64f9f9fe39127467be5c4867eae78" +
	"199852b6b1662b81bb22b8343417ae8d32c5184300b9c8da2e3e865ac5fa0638482174fca9df24c58fc0f3bce8e144c10156ed2ad039e9f208e14c63" +
	"5ab6014a607fa2bc12ffa1ff6d9abb7e55cf24f03b1a38fe06843bf9dc1e9967d1158d639636cfb373fa3ca250e2ffca70540dfc6479088439abee6f" +
	"11e7a194fcfce59394015f61dc973aee991c9a91e157d3c4518f68981ce9b040a0fa293375945de25e70a24710724c32fae259e925688664f62d62e2" +
	"d922b28720803adc1e8f5f9b8c9ff7d1b2c482727e8633d7744e8981741a452aa204a257edf659919f6a67562a8f294ae2bfdc8f13c61be7a6000000" +
	"da7bfdc661e4243e23ca8a260aff22ecac36f0f2f7a3456091e925c33b35067a0001f30380500000315d1696b6e9df1c02000000000a595a" +
	""

const fxPyXzNoCheckHex = "" +
	"fd377a585a000000ff12d941020021010c0000008f98419ce027ff01c15d00380bc8a7a3b7a2a04fe78294d8f1c79a527a1d04b2678ed224ef99a2be" +
	"0d51eaff524cd9b31780609be92592d72df5907df355725db88fccdec5b4d4bacff156c4c4ab05a06a0628214f4b8691e904ea5bf2a21d6edf894b75" +
	"f15e75483846568f1cd31c146117cb3f202b2daff14eda8cd7d46167de850629010cd73ba2ae85dedb9bd46bb4f57c214a909007ad73538161d1187b" +
	"34f42edee981d4853ecceac2941ca3eab03de25dfa351ae426ad4a451508af2075eae3ed33686464f3e5082d5a2ec24d4fa812fddbdd0f06d8146903" +
	"5ce3b7bedee7a493f1ff18ff2052c8c11c56f0c7cb34b7b71950e51b9ae7199bba2e8fc6456d341c35170ae3bb2c1865344063a60681fc6d78766787" +
	"7d00461fcf12fe69cc43b59b8c523c48d6a10bdf1f1317086cc0334b0a06e7755c5662dedab4b6f0617742145ff40f982664e67bfa8528f80127a683" +
	"d8858db0678d0832d53ba3af7600707091fa466fbf8fae9854dda657d2e49262beec8f1f4937a4b0a913ed0e93c4ed0a0bb4f8270ee0842ab9c69e36" +
	"1cf37e86302cc39253ae271a171201ef838eb72a81f885fb191cede2bd3cef3c09a08a2db9e95596eb906ee0b13b2d79f5c093204f6dfce01bc2f700" +
	"000000000001d503805000001abbe347a8000afc020000000000595a" +
	""

func fxHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// fxEntry is one member of a tar or zip fixture.
type fxEntry struct {
	Name string
	Body string
	// Tar only: the type flag (0 means tar.TypeReg) and the link target.
	Type byte
	Link string
}

func fxFile(name, body string) fxEntry { return fxEntry{Name: name, Body: body} }

// fxTar writes a tar with archive/tar, ending with the two-block end marker
// and nothing after it.
func fxTar(tb testing.TB, entries ...fxEntry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Link, Mode: 0o644, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeCont {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatalf("tar header %q: %v", e.Name, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// fxTarHeader hand-writes a 512-byte ustar header, for type flags and
// layouts archive/tar will not write.
func fxTarHeader(name string, typ byte, size int64, link string) []byte {
	b := make([]byte, tarBlock)
	copy(b[0:100], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "00000000000\x00")
	b[156] = typ
	copy(b[157:257], link)
	copy(b[257:], "ustar\x00")
	copy(b[263:], "00")
	fxTarChecksum(b)
	return b
}

// fxTarChecksum (re)computes the checksum field of a header block.
func fxTarChecksum(b []byte) {
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:tarBlock] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// fxPad pads data to a whole number of tar blocks.
func fxPad(data []byte) []byte {
	if r := len(data) % tarBlock; r != 0 {
		data = append(data, make([]byte, tarBlock-r)...)
	}
	return data
}

// fxTarEnd is the end-of-archive marker: two zero blocks.
func fxTarEnd() []byte { return make([]byte, 2*tarBlock) }

// fxGNUSparse hand-writes an old-GNU sparse ('S') header: the archive holds
// the data of the listed regions back to back, the file is realSize long
// and reads as zeros elsewhere. realSize is written in base-256 so that it
// may exceed the 8 GiB of an octal field.
func fxGNUSparse(name string, realSize int64, regions [][2]int64) []byte {
	var stored int64
	for _, r := range regions {
		stored += r[1]
	}
	b := make([]byte, tarBlock)
	copy(b[0:100], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", stored))
	copy(b[136:], "00000000000\x00")
	b[156] = tar.TypeGNUSparse
	copy(b[257:], "ustar ")
	copy(b[263:], " \x00")
	for i, r := range regions { // at most 4 in the header itself
		off := 386 + 24*i
		copy(b[off:], fmt.Sprintf("%011o\x00", r[0]))
		copy(b[off+12:], fmt.Sprintf("%011o\x00", r[1]))
	}
	b[483] = 0x80 // base-256
	binary.BigEndian.PutUint64(b[487:495], uint64(realSize))
	fxTarChecksum(b)
	return b
}

func fxGzip(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func fxXz(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := xz.WriterConfig{DictCap: 1 << 16}.NewWriter(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// fxXzStored hand-writes an xz stream (CRC32 check) whose one block holds
// data in uncompressed LZMA2 chunks, which archive writers rarely emit.
func fxXzStored(data []byte) []byte {
	flags := []byte{0, 1}
	out := append([]byte(nil), magicXz...)
	out = append(out, flags...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(flags))
	blockStart := len(out)
	hdr := []byte{2, 0, 0x21, 1, 16, 0, 0, 0} // LZMA2, 1 MiB dictionary
	out = append(out, binary.LittleEndian.AppendUint32(hdr, crc32.ChecksumIEEE(hdr))...)
	ctl := byte(1) // the first chunk resets the dictionary
	for i := 0; i < len(data); i += 1 << 16 {
		chunk := data[i:min(i+1<<16, len(data))]
		out = append(out, ctl, byte((len(chunk)-1)>>8), byte(len(chunk)-1))
		out = append(out, chunk...)
		ctl = 2
	}
	out = append(out, 0)
	unpadded := len(out) - blockStart + 4
	for (len(out)-blockStart)%4 != 0 {
		out = append(out, 0)
	}
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(data))
	idx := []byte{0, 1}
	idx = binary.AppendUvarint(idx, uint64(unpadded))
	idx = binary.AppendUvarint(idx, uint64(len(data)))
	for len(idx)%4 != 0 {
		idx = append(idx, 0)
	}
	out = append(out, binary.LittleEndian.AppendUint32(idx, crc32.ChecksumIEEE(idx))...)
	foot := binary.LittleEndian.AppendUint32(nil, uint32((len(idx)+4)/4-1))
	foot = append(foot, flags...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(foot))
	out = append(out, foot...)
	return append(out, 'Y', 'Z')
}

// fxXzBlocks is fxXz with blocks of blockSize bytes.
func fxXzBlocks(tb testing.TB, data []byte, blockSize int64) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := xz.WriterConfig{DictCap: 1 << 16, BlockSize: blockSize}.NewWriter(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func fxZstd(tb testing.TB, data []byte) []byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

// fxZipLZMA compresses data as a zip member of method 14: version, the
// length of the properties (5), the properties, the raw LZMA stream. With
// eos the stream ends with an end marker (set flag bit 1); without, its
// length comes from the directory.
func fxZipLZMA(tb testing.TB, data []byte, eos bool) []byte {
	tb.Helper()
	var buf bytes.Buffer
	cfg := lzma.WriterConfig{DictCap: 1 << 16, EOSMarker: eos}
	if !eos {
		cfg.Size, cfg.SizeInHeader = int64(len(data)), true
	}
	w, err := cfg.NewWriter(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	classic := buf.Bytes() // props(1) dict(4) size(8) stream
	out := []byte{0x10, 0x02, 5, 0}
	out = append(out, classic[:5]...)
	return append(out, classic[lzma.HeaderLen:]...)
}

// fxZipEntry is one member of a zip fixture. Store and Deflate members are
// written by archive/zip; any other Method is written raw from Compressed.
type fxZipEntry struct {
	Name       string
	Body       string
	Method     uint16
	Compressed []byte  // for raw members; nil means Body as is
	CRC        *uint32 // overrides the CRC of a raw member
	Flags      uint16  // extra flags of a raw member
}

func fxZip(tb testing.TB, entries ...fxZipEntry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		if e.Method == zip.Store || e.Method == zip.Deflate {
			if e.Compressed == nil && e.CRC == nil {
				w, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: e.Method})
				if err != nil {
					tb.Fatal(err)
				}
				if _, err := w.Write([]byte(e.Body)); err != nil {
					tb.Fatal(err)
				}
				continue
			}
		}
		comp := e.Compressed
		if comp == nil {
			comp = []byte(e.Body)
			if e.Method == zip.Deflate {
				comp = fxDeflate(tb, []byte(e.Body))
			}
		}
		crc := crc32.ChecksumIEEE([]byte(e.Body))
		if e.CRC != nil {
			crc = *e.CRC
		}
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name: e.Name, Method: e.Method, Flags: e.Flags, CRC32: crc,
			CompressedSize64: uint64(len(comp)), UncompressedSize64: uint64(len(e.Body)),
		})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(comp); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// fxZipFiles is fxZip of deflated members.
func fxZipFiles(tb testing.TB, entries ...fxEntry) []byte {
	tb.Helper()
	ze := make([]fxZipEntry, len(entries))
	for i, e := range entries {
		ze[i] = fxZipEntry{Name: e.Name, Body: e.Body, Method: zip.Deflate}
	}
	return fxZip(tb, ze...)
}

// fxDeflate returns the raw deflate stream of data.
func fxDeflate(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "x", Method: zip.Deflate})
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(data)
	zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		tb.Fatal(err)
	}
	off, _ := zr.File[0].DataOffset()
	return append([]byte(nil), buf.Bytes()[off:off+int64(zr.File[0].CompressedSize64)]...)
}

// fxCentral is one central directory entry of a zip, for rewriting.
type fxCentral struct {
	fixed                [46]byte
	name, extra, comment []byte
}

func (c *fxCentral) Name() string { return string(c.name) }

func (c *fxCentral) SetName(n string) {
	c.name = []byte(n)
	binary.LittleEndian.PutUint16(c.fixed[28:], uint16(len(n)))
}

// fxRewriteCentral parses the central directory of a zip without comment,
// lets edit change its entries and writes it back with a fresh end record.
// The local entries are untouched.
func fxRewriteCentral(tb testing.TB, data []byte, edit func([]fxCentral) []fxCentral) []byte {
	tb.Helper()
	eocd := data[len(data)-22:]
	if !bytes.HasPrefix(eocd, magicZipEnd) {
		tb.Fatal("fxRewriteCentral: no plain end record")
	}
	count := int(binary.LittleEndian.Uint16(eocd[10:]))
	cdOff := int(binary.LittleEndian.Uint32(eocd[16:]))
	var entries []fxCentral
	p := cdOff
	for range count {
		var c fxCentral
		copy(c.fixed[:], data[p:p+46])
		n := int(binary.LittleEndian.Uint16(data[p+28:]))
		m := int(binary.LittleEndian.Uint16(data[p+30:]))
		k := int(binary.LittleEndian.Uint16(data[p+32:]))
		p += 46
		c.name = data[p : p+n]
		c.extra = data[p+n : p+n+m]
		c.comment = data[p+n+m : p+n+m+k]
		p += n + m + k
		entries = append(entries, c)
	}
	entries = edit(entries)
	out := append([]byte(nil), data[:cdOff]...)
	for _, c := range entries {
		out = append(out, c.fixed[:]...)
		out = append(out, c.name...)
		out = append(out, c.extra...)
		out = append(out, c.comment...)
	}
	end := make([]byte, 22)
	copy(end, magicZipEnd)
	binary.LittleEndian.PutUint16(end[8:], uint16(len(entries)))
	binary.LittleEndian.PutUint16(end[10:], uint16(len(entries)))
	binary.LittleEndian.PutUint32(end[12:], uint32(len(out)-cdOff))
	binary.LittleEndian.PutUint32(end[16:], uint32(cdOff))
	return append(out, end...)
}

// fxVisit is a copy of what a visitor saw.
type fxVisit struct {
	Path    string
	Data    string
	Depth   int
	Archive bool
	Links   []string
}

// fxDiff, when set (by inflate_isal_test.go in a build with the tag
// isal), flattens and scans data through both inflate paths and fails tb
// unless the results agree. fxFlatten has it run when the test ends, out
// of the way of the test's own measurements; fuzzCheck runs it directly.
var fxDiff func(tb testing.TB, data []byte, lim Limits)

// fxFlatten flattens data and records every visit, copying the data.
func fxFlatten(tb testing.TB, data []byte, lim Limits) ([]fxVisit, Flattened, error) {
	tb.Helper()
	if fxDiff != nil {
		tb.Cleanup(func() { fxDiff(tb, data, lim) })
	}
	var got []fxVisit
	fl, err := Flatten(context.Background(), data, lim, func(f *File) error {
		if int64(len(f.Data)) > lim.MaxFileSize {
			tb.Errorf("visited %s with %d bytes > MaxFileSize %d", DisplayName(f.Path), len(f.Data), lim.MaxFileSize)
		}
		got = append(got, fxVisit{Path: f.Path, Data: string(f.Data), Depth: f.Depth, Archive: f.Archive, Links: f.LinkTargets})
		return nil
	})
	if err != nil && Class(err) == nil {
		tb.Errorf("error without a class: %v", err)
	}
	if fl.BytesExpanded > lim.MaxExpandedSize {
		tb.Errorf("BytesExpanded %d > MaxExpandedSize %d", fl.BytesExpanded, lim.MaxExpandedSize)
	}
	return got, fl, err
}

func fxPaths(v []fxVisit) []string {
	out := make([]string, len(v))
	for i, f := range v {
		out[i] = f.Path
	}
	return out
}

// fxFind returns the visit of path.
func fxFind(v []fxVisit, path string) (fxVisit, bool) {
	for _, f := range v {
		if f.Path == path {
			return f, true
		}
	}
	return fxVisit{}, false
}

// fxWantClass fails the test unless err has class want and, when given,
// its message contains every fragment.
func fxWantClass(tb testing.TB, err, want error, fragments ...string) {
	tb.Helper()
	if want == nil {
		if err != nil {
			tb.Fatalf("err = %v, want none", err)
		}
		return
	}
	if Class(err) != want {
		tb.Fatalf("err = %v, want class %q", err, want)
	}
	if !strings.HasPrefix(err.Error(), want.Error()+": ") {
		tb.Errorf("message %q does not start with %q", err, want.Error()+": ")
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			tb.Errorf("message %q lacks %q", err, f)
		}
	}
}

// fxRules are the test rules: payload counts everywhere, payload_py only
// for .py files.
var fxRules = map[string]string{
	"payload": `rule payload { meta: weight = 10 strings: $a = "EVIL_PAYLOAD" condition: $a }`,
	"py":      `rule payload_py { meta: weight = 5 filetype = ".py" strings: $a = "EVIL_PAYLOAD" condition: $a }`,
}

func fxScanner(tb testing.TB, lim Limits, sources map[string]string) *Scanner {
	tb.Helper()
	rs, err := Compile("", sources)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rs.Close)
	s, err := NewScanner(rs, lim)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// fxMatchedPaths lists the files of a result with the rules that counted.
func fxMatchedPaths(res *DistResult) map[string][]string {
	m := map[string][]string{}
	for _, f := range res.Files {
		m[f.Path] = f.Rules
	}
	return m
}
