package archive

// One or more tests per row of the threat list in docs/archive-threats.md,
// each building its hostile archive in memory. The row number is in the
// test name: TestArchiveNN_.... The rows that are checked through the
// scanner, with rules and its result, are tested in scan/archives_test.go.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
)

// --- Row 1: a second, empty end record appended to a wheel -----------------

func TestArchive01_AppendedEmptyEOCD(t *testing.T) {
	data := append(fixture.Wheel(t), magicZipEnd...)
	data = append(data, make([]byte, 18)...)
	// The trick: Go's archive/zip trusts the last record and lists nothing.
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(zr.File) != 0 {
		t.Fatalf("archive/zip: %d files, %v; the trick no longer fools it", len(zr.File), err)
	}
	got, _, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, failure.ErrMalformed, "zip", "central directory")
	if len(got) != 0 {
		t.Errorf("visited %v", fixture.Paths(got))
	}
}

func TestArchive01_LocalEntryMissingFromDirectory(t *testing.T) {
	for _, hide := range []string{"pkg/__init__.py", "pkg/evil.py", "pkg-1.0.dist-info/RECORD"} {
		t.Run(hide, func(t *testing.T) {
			data := fixture.RewriteCentral(t, fixture.Wheel(t), func(cs []fixture.Central) []fixture.Central {
				return slices.DeleteFunc(cs, func(c fixture.Central) bool { return c.Name() == hide })
			})
			_, _, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, failure.ErrMalformed, "zip", strconv.Quote(hide)[1:len(hide)+1])
		})
	}
}

func TestArchive01_StoredNestedZipAsLastMemberIsFine(t *testing.T) {
	inner := fixture.Wheel(t)
	if bytes.Count(inner, magicZipEnd) != 1 {
		t.Fatal("fixture: inner zip should hold one end record")
	}
	data := fixture.Zip(t,
		fixture.ZipEntry{Name: "setup.py", Body: "print(1)\n", Method: zip.Deflate},
		fixture.ZipEntry{Name: "tests/data/inner.zip", Body: string(inner), Method: zip.Store},
	)
	if bytes.Count(data, magicZipEnd) != 2 {
		t.Fatal("fixture: outer zip should hold two end records")
	}
	got, fl, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, nil)
	want := []string{"setup.py", "tests/data/inner.zip", "tests/data/inner.zip/pkg/__init__.py",
		"tests/data/inner.zip/pkg/evil.py", "tests/data/inner.zip/pkg-1.0.dist-info/RECORD"}
	if !slices.Equal(fixture.Paths(got), want) {
		t.Fatalf("paths %q, want %q", fixture.Paths(got), want)
	}
	if fl.Format != FormatZip || len(fl.Notes) != 0 {
		t.Errorf("format %q notes %v", fl.Format, fl.Notes)
	}
}

func TestArchive01_EmptyZipIsComplete(t *testing.T) {
	data := append([]byte(nil), magicZipEnd...)
	data = append(data, make([]byte, 18)...)
	got, fl, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, nil)
	if len(got) != 0 || fl.Files != 0 || fl.Format != FormatZip {
		t.Fatalf("got %v %+v", got, fl)
	}
}

// --- Row 2: the same name twice ---------------------------------------------

func TestArchive03_TarEntryTypes(t *testing.T) {
	member := func(name string, typ byte, body string) []byte {
		return fixture.Pad(append(fixture.TarHeader(name, typ, int64(len(body)), ""), body...))
	}
	var data []byte
	data = append(data, member("pkg/reg.py", tar.TypeReg, "reg "+fixture.Payload)...)
	data = append(data, member("pkg/rega.py", '\x00', "rega "+fixture.Payload)...)
	data = append(data, member("pkg/cont.py", tar.TypeCont, "cont "+fixture.Payload)...)
	data = append(data, member("pkg/unknown.py", 'Z', "unknown "+fixture.Payload)...)
	// A GNU sparse file: "sparse!" at offset 0, then 9 bytes of hole.
	data = append(data, fixture.Pad(append(fixture.GNUSparse("pkg/sparse.py", 16, [][2]int64{{0, 7}}), "sparse!"...))...)
	data = append(data, member("pkg/", tar.TypeDir, "")...)
	data = append(data, member("pkg/legacy_dir/", '\x00', "")...)
	data = append(data, member("dev/tty", tar.TypeChar, "")...)
	data = append(data, member("dev/sda", tar.TypeBlock, "")...)
	data = append(data, member("dev/fifo", tar.TypeFifo, "")...)
	data = append(data, fixture.TarEnd()...)

	want := map[string]string{
		"pkg/reg.py":     "reg " + fixture.Payload,
		"pkg/rega.py":    "rega " + fixture.Payload,
		"pkg/cont.py":    "cont " + fixture.Payload,
		"pkg/unknown.py": "unknown " + fixture.Payload,
		"pkg/sparse.py":  "sparse!\x00\x00\x00\x00\x00\x00\x00\x00\x00",
	}
	for name, data := range map[string][]byte{"tar": data, "tar.gz": fixture.Gzip(t, data), "tar.xz": fixture.Xz(t, data)} {
		t.Run(name, func(t *testing.T) {
			got, fl, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, nil)
			if len(got) != len(want) || fl.Files != int64(len(want)) {
				t.Fatalf("visited %q (%d counted), want %d files", fixture.Paths(got), fl.Files, len(want))
			}
			for _, v := range got {
				if want[v.Path] != v.Data {
					t.Errorf("%s = %q, want %q", v.Path, v.Data, want[v.Path])
				}
			}
			if len(fl.Notes) != 0 {
				t.Errorf("notes %v", fl.Notes)
			}
		})
	}
}

func TestArchive03_PaxGlobalHeaderIsNoFile(t *testing.T) {
	// git archive starts every tarball with a pax global header; tarfile
	// (and so pip) does not extract it as a file.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "0123456789abcdef"}})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "pkg/a.py", Size: 1, Mode: 0o644})
	tw.Write([]byte("a"))
	tw.Close()
	got, fl, err := fxFlatten(t, fixture.Gzip(t, buf.Bytes()), fxLimits())
	fixture.WantClass(t, err, nil)
	if !slices.Equal(fixture.Paths(got), []string{"pkg/a.py"}) || fl.Files != 1 {
		t.Fatalf("visited %q, %d files", fixture.Paths(got), fl.Files)
	}
}

// --- Row 4: sparse-file bomb --------------------------------------------------

// heapAllocated runs f and returns the bytes it allocated.
func heapAllocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestArchive04_DeclaredHugeMemberFailsBeforeAllocating(t *testing.T) {
	const declared = 8 << 30
	sparse := append(fixture.GNUSparse("pkg/huge.py", declared, [][2]int64{{declared - 1, 1}}), fixture.Pad([]byte("x"))...)
	sparse = append(sparse, fixture.TarEnd()...)

	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	if err := tw.WriteHeader(&tar.Header{Name: "pkg/huge.py", Size: declared, Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Flush() // no data: the archive is cut right after the header

	for name, raw := range map[string][]byte{"gnu sparse": sparse, "pax size": plain.Bytes()} {
		data := fixture.Gzip(t, raw)
		if len(data) > 300 {
			t.Fatalf("%s: fixture is %d bytes; the trick is a tiny archive", name, len(data))
		}
		for _, lim := range []Limits{fxLimits(), DefaultLimits()} {
			t.Run(name+"/max "+strconv.FormatInt(lim.MaxFileSize, 10), func(t *testing.T) {
				var err error
				var got []fixture.Visit
				alloc := heapAllocated(func() { got, _, err = fxFlatten(t, data, lim) })
				fixture.WantClass(t, err, failure.ErrTooLarge, "pkg/huge.py", strconv.FormatInt(declared, 10), strconv.FormatInt(lim.MaxFileSize, 10))
				if len(got) != 0 {
					t.Errorf("visited %q", fixture.Paths(got))
				}
				if alloc > 16<<20 {
					t.Errorf("allocated %d bytes before failing", alloc)
				}
			})
		}
	}
}

// xzWithDictionary returns fixture.Xz(data) with its (first) block header asking
// for the dictionary of size code code (40 is 4 GiB - 1), CRC fixed.
func xzWithDictionary(tb testing.TB, data []byte, code byte) []byte {
	x := fixture.Xz(tb, data)
	hdrLen := (int(x[12]) + 1) * 4
	if x[14] != 0x21 || x[15] != 1 {
		tb.Fatalf("fixture: unexpected block header % x", x[12:12+hdrLen])
	}
	x[16] = code
	binary.LittleEndian.PutUint32(x[12+hdrLen-4:], crc32.ChecksumIEEE(x[12:12+hdrLen-4]))
	return x
}

// Row 4's sibling: a compressed stream whose header asks for a huge window
// makes the decoder allocate it up front.
func TestArchive04_XzDictionaryBomb(t *testing.T) {
	raw := fixture.Tar(t, fixture.File("pkg/evil.py", fixture.Payload))
	tests := []struct {
		name string
		data []byte
		frag string
	}{
		{"tar.xz 4 GiB", xzWithDictionary(t, raw, 40), "4294967295 bytes > limit 67108864"},
		{"tar.xz 1 GiB", xzWithDictionary(t, raw, 36), "1073741824 bytes > limit 67108864"},
		{"zip xz member", fixture.Zip(t, fixture.ZipEntry{Name: "pkg/a.py", Body: "xz", Method: zipXz, Compressed: xzWithDictionary(t, []byte("xz"), 38)}), "pkg/a.py"},
		{"nested tar.xz", fixture.Zip(t, fixture.ZipEntry{Name: "vendor/x.tar.xz", Body: string(xzWithDictionary(t, raw, 40)), Method: zip.Store}), "vendor/x.tar.xz"},
		{"second stream", append(fixture.Xz(t, raw[:600]), xzWithDictionary(t, raw[600:], 40)...), "dictionary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			alloc := heapAllocated(func() { _, _, err = fxFlatten(t, tt.data, fxLimits()) })
			fixture.WantClass(t, err, failure.ErrTooLarge, "dictionary", tt.frag)
			if alloc > 16<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
	// At the bound (64 MiB, xz -9) the stream is read.
	_, _, err := fxFlatten(t, xzWithDictionary(t, raw, 36-10), fxLimits())
	fixture.WantClass(t, err, nil)
}

// The dictionary check walks the whole xz framing of real files to their
// end, so that no block header escapes it.
func TestArchive04_XzFramingWalk(t *testing.T) {
	noise := make([]byte, 200<<10)
	rand.Read(noise)
	raw := fixture.Tar(t, fixture.File("pkg/evil.py", fixture.Payload), fixture.File("pkg/noise.bin", string(noise)),
		fixture.File("pkg/zeros.bin", string(make([]byte, 300<<10))))
	pad := make([]byte, 8)
	tests := map[string][]byte{
		"ulikunitz":             fixture.Xz(t, raw),
		"many blocks":           fixture.XzBlocks(t, raw, 10<<10),
		"uncompressed chunks":   fixture.XzStored(raw),
		"streams with padding":  append(append(fixture.Xz(t, raw[:5000]), pad...), fixture.XzStored(raw[5000:])...),
		"python sha256 preset9": fixture.Hex(fixture.PyXzSHA256Hex),
		"python no check":       fixture.Hex(fixture.PyXzNoCheckHex),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			end, err := xzWalk(bytes.NewReader(data), maxDictionary)
			if err != nil || end != int64(len(data)) {
				t.Fatalf("walk stopped at %d of %d: %v", end, len(data), err)
			}
			got, _, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, nil)
			want, body := "pkg/evil.py", fixture.Payload
			if strings.HasPrefix(name, "python") {
				want, body = "p/evil.py", fixture.Payload+"\n"
			}
			if v, ok := fixture.Find(got, want); !ok || v.Data != body {
				t.Errorf("visited %q; %s = %q", fixture.Paths(got), want, v.Data)
			}
		})
	}
}

func TestArchive04_TinyStreamsAllocateLittle(t *testing.T) {
	raw := fixture.Tar(t, fixture.File("a.py", "x"))
	// A zstd frame of one byte whose header declares a 64 MiB window.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x80, 0x09, 0x00, 0x00, 'x'}
	tests := map[string][]byte{
		"tar.gz":          fixture.Gzip(t, raw),
		"tar.xz":          fixture.Xz(t, raw),
		"tar.xz 64 MiB":   xzWithDictionary(t, raw, 26),
		"tar.bz2":         fixture.Hex(fixture.TarBz2Hex),
		"zip xz":          fixture.Zip(t, fixture.ZipEntry{Name: "a.py", Body: "xz", Method: zipXz, Compressed: fixture.Xz(t, []byte("xz"))}),
		"zip zstd":        fixture.Zip(t, fixture.ZipEntry{Name: "a.py", Body: "zstd", Method: zipZstd, Compressed: fixture.Zstd(t, []byte("zstd"))}),
		"zip zstd 64 MiB": fixture.Zip(t, fixture.ZipEntry{Name: "a.py", Body: "x", Method: zipZstd, Compressed: frame}),
		"zip lzma":        fixture.Zip(t, fixture.ZipEntry{Name: "a.py", Body: "lz", Method: zipLZMA, Compressed: fixture.ZipLZMA(t, []byte("lz"), true), Flags: 2}),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			var err error
			alloc := heapAllocated(func() { _, _, err = fxFlatten(t, data, fxLimits()) })
			fixture.WantClass(t, err, nil)
			// bzip2 needs its 900k block tables; the others a few KiB. The
			// 64 MiB dictionary of an xz stream that asks for it is fine.
			limit := uint64(8 << 20)
			if name == "tar.xz 64 MiB" {
				limit = 80 << 20
			}
			if alloc > limit {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
}

// --- Row 5: zip bombs and overlapping entries ---------------------------------

func TestArchive05_ZipBombs(t *testing.T) {
	zeros := func(n int) string { return string(make([]byte, n)) }
	var many []fixture.ZipEntry
	for i := range 12 {
		many = append(many, fixture.ZipEntry{Name: "z/" + strconv.Itoa(i), Body: zeros(1 << 20), Method: zip.Deflate})
	}
	// Each member is exactly RatioFloor: no member ratio applies.
	noRatio := fxLimits()
	noRatio.MaxRatio = 1 << 40
	bigFiles := fxLimits()
	bigFiles.MaxFileSize = 4 << 20
	noise := make([]byte, 100<<10) // keeps the archive-wide ratio low
	rand.Read(noise)
	liar := fixture.Zip(t, fixture.ZipEntry{Name: "liar.py", Body: zeros(10), Method: zip.Deflate, Compressed: fixture.Deflate(t, []byte(zeros(4<<20)))})

	tests := []struct {
		name  string
		data  []byte
		lim   Limits
		frags []string
	}{
		{"member ratio", fixture.Zip(t, fixture.ZipEntry{Name: "noise.bin", Body: string(noise), Method: zip.Store}, fixture.ZipEntry{Name: "bomb.bin", Body: zeros(1<<20 + 1), Method: zip.Deflate}), bigFiles, []string{"expansion ratio of bomb.bin exceeds limit 500"}},
		{"distribution ratio", fixture.Zip(t, many...), fxLimits(), []string{"expansion ratio of the distribution"}},
		{"expanded budget", fixture.Zip(t, many...), noRatio, []string{"expanded size", "> limit 8388608"}},
		{"size beyond declared", liar, fxLimits(), []string{"liar.py"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class := failure.ErrTooLarge
			if tt.name == "size beyond declared" {
				class = failure.ErrMalformed
			}
			var err error
			var fl Flattened
			alloc := heapAllocated(func() { _, fl, err = fxFlatten(t, tt.data, tt.lim) })
			fixture.WantClass(t, err, class, tt.frags...)
			if fl.BytesExpanded > tt.lim.MaxExpandedSize || alloc > 32<<20 {
				t.Errorf("expanded %d bytes, allocated %d before failing", fl.BytesExpanded, alloc)
			}
		})
	}
}

func TestArchive05_OverlappingEntries(t *testing.T) {
	// One real member; many directory entries point at its data.
	data := fixture.RewriteCentral(t, fixture.ZipFiles(t, fixture.File("kernel", strings.Repeat("A", 1000))), func(cs []fixture.Central) []fixture.Central {
		out := []fixture.Central{cs[0]}
		for i := range 50 {
			c := cs[0]
			c.SetName("copy" + strconv.Itoa(i))
			out = append(out, c)
		}
		return out
	})
	got, fl, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, failure.ErrMalformed, "overlap")
	if len(got) != 0 || fl.BytesExpanded != 0 {
		t.Errorf("read %d bytes of %d files before failing", fl.BytesExpanded, len(got))
	}
}

func TestArchive05_StreamBombFailsWithinAFewMiB(t *testing.T) {
	// A tar.gz whose first member is 32 MiB of zeros (a few KiB of gzip),
	// followed by enough incompressible data that the archive as a whole
	// stays under the ratio: only the streaming check can catch it early.
	noise := make([]byte, 100<<10)
	rand.Read(noise)
	raw := fixture.Tar(t, fixture.File("bomb.bin", string(make([]byte, 32<<20))), fixture.File("noise.bin", string(noise)))
	data := fixture.Gzip(t, raw)
	lim := fxLimits()
	lim.MaxFileSize = 64 << 20
	lim.MaxExpandedSize = 128 << 20
	if 32<<20 > lim.MaxRatio*int64(len(data)) {
		t.Fatalf("fixture: archive-wide ratio would catch it (%d bytes)", len(data))
	}
	_, _, err := fxFlatten(t, data, lim)
	fixture.WantClass(t, err, failure.ErrTooLarge, "expansion ratio of the distribution exceeds limit 500")
	m := regexp.MustCompile(`\((\d+) bytes from (\d+)\)`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("no figures in %q", err)
	}
	if read, _ := strconv.ParseInt(m[1], 10, 64); read > 4<<20 {
		t.Errorf("expanded %d bytes before failing, want a few MiB at most", read)
	}
}

// --- Row 6: zip methods -----------------------------------------------------------

func TestArchive06_BadMemberOfEachMethodIsMalformed(t *testing.T) {
	body := "method: " + fixture.Payload + "\n"
	bad := uint32(0xdeadbeef)
	cut := func(b []byte) []byte { return b[:len(b)/2] }
	tests := []struct {
		name string
		e    fixture.ZipEntry
	}{
		{"bzip2 crc", fixture.ZipEntry{Name: "a.py", Body: fixture.Bzip2MemberText, Method: zipBzip2, Compressed: fixture.Hex(fixture.Bzip2MemberHex), CRC: &bad}},
		{"bzip2 cut", fixture.ZipEntry{Name: "a.py", Body: fixture.Bzip2MemberText, Method: zipBzip2, Compressed: cut(fixture.Hex(fixture.Bzip2MemberHex))}},
		{"lzma crc", fixture.ZipEntry{Name: "a.py", Body: body, Method: zipLZMA, Compressed: fixture.ZipLZMA(t, []byte(body), true), Flags: 0x2, CRC: &bad}},
		{"lzma cut", fixture.ZipEntry{Name: "a.py", Body: body, Method: zipLZMA, Compressed: cut(fixture.ZipLZMA(t, []byte(body), true)), Flags: 0x2}},
		{"zstd crc", fixture.ZipEntry{Name: "a.py", Body: body, Method: zipZstd, Compressed: fixture.Zstd(t, []byte(body)), CRC: &bad}},
		{"zstd cut", fixture.ZipEntry{Name: "a.py", Body: body, Method: zipZstd, Compressed: cut(fixture.Zstd(t, []byte(body)))}},
		{"xz cut", fixture.ZipEntry{Name: "a.py", Body: body, Method: zipXz, Compressed: cut(fixture.Xz(t, []byte(body)))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := fxFlatten(t, fixture.Zip(t, tt.e), fxLimits())
			fixture.WantClass(t, err, failure.ErrMalformed, "a.py")
		})
	}
}

func TestArchive06_UnknownMethodIsUnsupported(t *testing.T) {
	for _, method := range []uint16{1, 6, 9, 97, 98, 99, 65535} {
		t.Run(strconv.Itoa(int(method)), func(t *testing.T) {
			data := fixture.Zip(t,
				fixture.ZipEntry{Name: "ok.py", Body: "fine", Method: zip.Deflate},
				fixture.ZipEntry{Name: "pkg/hidden.py", Body: fixture.Payload, Method: method, Compressed: []byte("opaque bytes")},
			)
			_, _, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, failure.ErrUnsupported, "zip method "+strconv.Itoa(int(method))+" in pkg/hidden.py")
		})
	}
	t.Run("encrypted", func(t *testing.T) {
		data := fixture.Zip(t, fixture.ZipEntry{Name: "pkg/secret.py", Body: fixture.Payload, Method: zip.Store, Flags: 0x1, Compressed: []byte(fixture.Payload)})
		_, _, err := fxFlatten(t, data, fxLimits())
		fixture.WantClass(t, err, failure.ErrUnsupported, "encrypted", "pkg/secret.py")
	})
}

// --- Row 7: padded past the scan size -------------------------------------------

func TestArchive07_OverMaxScanSize(t *testing.T) {
	pad := make([]byte, 4096)
	rand.Read(pad)
	data := fixture.Zip(t,
		fixture.ZipEntry{Name: "pkg/evil.py", Body: fixture.Payload, Method: zip.Deflate},
		fixture.ZipEntry{Name: "padding.bin", Body: string(pad), Method: zip.Store},
	)
	tarGz := fixture.Gzip(t, fixture.Tar(t, fixture.File("pkg/evil.py", fixture.Payload), fixture.File("padding.bin", string(pad))))
	for name, data := range map[string][]byte{"zip": data, "tar.gz": tarGz} {
		t.Run(name, func(t *testing.T) {
			lim := fxLimits()
			lim.MaxScanSize = int64(len(data)) - 1
			got, _, err := fxFlatten(t, data, lim)
			fixture.WantClass(t, err, failure.ErrTooLarge, strconv.Itoa(len(data)), "> limit "+strconv.Itoa(len(data)-1))
			if len(got) != 0 {
				t.Errorf("scanned %q of an archive over the limit", fixture.Paths(got))
			}
			// At the limit passes: limits are checked with ">".
			lim.MaxScanSize = int64(len(data))
			_, _, err = fxFlatten(t, data, lim)
			fixture.WantClass(t, err, nil)
		})
	}
}

// --- Row 8: what follows the tar end marker ---------------------------------

func TestArchive08_TrailingDataAndGzipMembers(t *testing.T) {
	raw := fixture.Tar(t, fixture.File("pkg/setup.py", "print(1)\n"), fixture.File("pkg/evil.py", fixture.Payload))
	// Python's tarfile pads to a 10240-byte record.
	padded := append(append([]byte(nil), raw...), make([]byte, 10240-len(raw)%10240)...)
	badCRC := func(gz []byte) []byte {
		gz = append([]byte(nil), gz...)
		gz[len(gz)-8] ^= 0xff
		return gz
	}
	badSize := func(gz []byte) []byte {
		gz = append([]byte(nil), gz...)
		gz[len(gz)-1] ^= 0xff
		return gz
	}
	noTrailer := func(gz []byte) []byte { return gz[:len(gz)-8] }
	split := len(raw) / 3 // inside the first member's header
	tests := []struct {
		name string
		data []byte
	}{
		{"trailing zeros", append(fixture.Gzip(t, raw), make([]byte, 4096)...)},
		{"trailing garbage", append(fixture.Gzip(t, raw), "<html>garbage</html>"...)},
		{"trailing gzip magic", append(fixture.Gzip(t, raw), 0x1f, 0x8b, 8)},
		{"bad crc after end marker", badCRC(fixture.Gzip(t, raw))},
		{"bad size after end marker", badSize(fixture.Gzip(t, raw))},
		{"bad crc after padded end marker", badCRC(fixture.Gzip(t, padded))},
		{"no trailer after end marker", noTrailer(fixture.Gzip(t, padded))},
		{"concatenated members", append(fixture.Gzip(t, raw[:split]), fixture.Gzip(t, raw[split:])...)},
		{"member per block", func() []byte {
			var out []byte
			for i := 0; i < len(raw); i += tarBlock {
				out = append(out, fixture.Gzip(t, raw[i:i+tarBlock])...)
			}
			return out
		}()},
		{"empty member first", append(fixture.Gzip(t, nil), fixture.Gzip(t, raw)...)},
		{"xz trailing zeros", append(fixture.Xz(t, raw), make([]byte, 64)...)},
		{"xz concatenated streams", append(fixture.Xz(t, raw[:split]), fixture.Xz(t, raw[split:])...)},
		{"tar trailing garbage", append(append([]byte(nil), raw...), "garbage"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := fxFlatten(t, tt.data, fxLimits())
			fixture.WantClass(t, err, nil)
			if v, ok := fixture.Find(got, "pkg/evil.py"); !ok || v.Data != fixture.Payload || len(got) != 2 {
				t.Fatalf("visited %q", fixture.Paths(got))
			}
		})
	}
}

func TestArchive08_CompressedNonTarIsUnsupported(t *testing.T) {
	text := []byte(strings.Repeat("just some text, no tar header here\n", 40))
	for name, data := range map[string][]byte{
		"gzip":       fixture.Gzip(t, text),
		"gzip short": fixture.Gzip(t, []byte("hi")),
		"gzip empty": fixture.Gzip(t, nil),
		"xz":         fixture.Xz(t, text),
		"gzip zip":   fixture.Gzip(t, fixture.Wheel(t)),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, failure.ErrUnsupported, "no tar archive")
		})
	}
}

func TestArchive08_TarBz2(t *testing.T) {
	data := fixture.Hex(fixture.TarBz2Hex)
	got, fl, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, nil)
	if fl.Format != FormatTarBz2 || !slices.Equal(fixture.Paths(got), []string{"pkg-1.0/setup.py", "pkg-1.0/pkg/evil.py"}) {
		t.Fatalf("format %q paths %q", fl.Format, fixture.Paths(got))
	}
	if got[1].Data != "import os; "+fixture.Payload+"\n" {
		t.Errorf("evil.py = %q", got[1].Data)
	}
}

// --- Row 9: truncated or corrupt before the end ---------------------------------

func TestArchive10_DepthLimit(t *testing.T) {
	lim := fxLimits()
	lim.MaxDepth = 2
	_, _, err := fxFlatten(t, fixture.NestedWheel(t), lim)
	fixture.WantClass(t, err, nil)
	lim.MaxDepth = 1
	_, _, err = fxFlatten(t, fixture.NestedWheel(t), lim)
	fixture.WantClass(t, err, failure.ErrTooLarge, "nesting depth", "pkg/data.tar.gz/data/inner.zip")
	lim.MaxDepth = 0
	_, _, err = fxFlatten(t, fixture.NestedWheel(t), lim)
	fixture.WantClass(t, err, failure.ErrTooLarge, "nesting depth", "pkg/data.tar.gz")

	// A zip quine-like tower: each level stored in the next.
	data := fixture.ZipFiles(t, fixture.File("evil.py", fixture.Payload))
	for range 10 {
		data = fixture.Zip(t, fixture.ZipEntry{Name: "nested.zip", Body: string(data), Method: zip.Store})
	}
	_, _, err = fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, failure.ErrTooLarge, "nesting depth")
}

func TestArchive10_BrokenNestedArchiveIsANote(t *testing.T) {
	tgz := fixture.Gzip(t, fixture.Tar(t, fixture.File("a.py", strings.Repeat("x", 5000)), fixture.File("b.py", fixture.Payload)))
	w := fixture.Wheel(t)
	badCRC := uint32(7)
	for name, member := range map[string][]byte{
		"truncated zip":    w[:len(w)-10],
		"zip magic only":   []byte("PK\x03\x04 this is no zip"),
		"truncated tar.gz": tgz[:len(tgz)-40],
		"zip crc":          fixture.Zip(t, fixture.ZipEntry{Name: "x.py", Body: "x", Method: zip.Store, CRC: &badCRC}),
		"zip method 99":    fixture.Zip(t, fixture.ZipEntry{Name: "x.py", Body: "x", Method: 99, Compressed: []byte("x")}),
	} {
		t.Run(name, func(t *testing.T) {
			data := fixture.Zip(t,
				fixture.ZipEntry{Name: "tests/broken.bin", Body: string(member), Method: zip.Store},
				fixture.ZipEntry{Name: "pkg/evil.py", Body: fixture.Payload, Method: zip.Deflate},
			)
			got, fl, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, nil)
			if len(fl.Notes) != 1 || fl.Notes[0].Path != "tests/broken.bin" {
				t.Fatalf("notes %+v", fl.Notes)
			}
			if v, ok := fixture.Find(got, "tests/broken.bin"); !ok || v.Data != string(member) {
				t.Error("the broken archive's own bytes were not scanned")
			}
			if _, ok := fixture.Find(got, "pkg/evil.py"); !ok {
				t.Error("the walk did not go on after the broken archive")
			}
		})
	}
}

func TestArchive10_BudgetsInsideNestedArchivesFail(t *testing.T) {
	inner := fixture.Gzip(t, fixture.Tar(t, fixture.File("a", "1"), fixture.File("b", "2"), fixture.File("c", "3")))
	data := fixture.Zip(t,
		fixture.ZipEntry{Name: "x.py", Body: "x", Method: zip.Deflate},
		fixture.ZipEntry{Name: "inner.tar.gz", Body: string(inner), Method: zip.Store},
	)
	lim := fxLimits()
	lim.MaxFiles = 5
	_, _, err := fxFlatten(t, data, lim)
	fixture.WantClass(t, err, nil)
	lim.MaxFiles = 4
	_, _, err = fxFlatten(t, data, lim)
	fixture.WantClass(t, err, failure.ErrTooLarge, "number of files 5 > limit 4")

	// A member over the file size inside a nested archive.
	big := fixture.Gzip(t, fixture.Tar(t, fixture.File("big.bin", strings.Repeat("y", 2<<20))))
	data = fixture.Zip(t, fixture.ZipEntry{Name: "inner.tar.gz", Body: string(big), Method: zip.Store})
	_, _, err = fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, failure.ErrTooLarge, "inner.tar.gz/big.bin")

	// A gzip bomb inside: the stream ratio fails the distribution.
	bomb := fixture.Gzip(t, fixture.Tar(t, fixture.File("bomb.bin", string(make([]byte, 4<<20)))))
	data = fixture.Zip(t, fixture.ZipEntry{Name: "bomb.tar.gz", Body: string(bomb), Method: zip.Store},
		fixture.ZipEntry{Name: "noise.bin", Body: string(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 1)), Method: zip.Store})
	lim = fxLimits()
	lim.MaxFileSize = 8 << 20
	lim.MaxExpandedSize = 64 << 20
	_, _, err = fxFlatten(t, data, lim)
	fixture.WantClass(t, err, failure.ErrTooLarge, "expansion ratio")

	// A nested zip's entries count in the shared budget before they are read.
	many := make([]fixture.Entry, 10)
	for i := range many {
		many[i] = fixture.File("f"+strconv.Itoa(i), "x")
	}
	data = fixture.Zip(t, fixture.ZipEntry{Name: "many.zip", Body: string(fixture.ZipFiles(t, many...)), Method: zip.Store})
	lim = fxLimits()
	lim.MaxFiles = 8
	got, _, err := fxFlatten(t, data, lim)
	fixture.WantClass(t, err, failure.ErrTooLarge, "many.zip")
	if len(got) != 1 {
		t.Errorf("visited %q before failing", fixture.Paths(got))
	}
}

func TestArchive10_BareCompressedFileIsScannedRaw(t *testing.T) {
	jsonGz := fixture.Gzip(t, []byte(`{"payload": "`+fixture.Payload+`"}`))
	bigGz := fixture.Gzip(t, []byte(strings.Repeat(`{"k": 1}`, 1000)))
	xzFile := fixture.Xz(t, []byte("plain text, no tar"))
	data := fixture.Zip(t,
		fixture.ZipEntry{Name: "pkg/data.json.gz", Body: string(jsonGz), Method: zip.Store},
		fixture.ZipEntry{Name: "pkg/big.json.gz", Body: string(bigGz), Method: zip.Store},
		fixture.ZipEntry{Name: "pkg/notes.xz", Body: string(xzFile), Method: zip.Store},
	)
	got, fl, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, nil)
	if !slices.Equal(fixture.Paths(got), []string{"pkg/data.json.gz", "pkg/big.json.gz", "pkg/notes.xz"}) {
		t.Fatalf("visited %q", fixture.Paths(got))
	}
	for _, v := range got {
		if v.Archive {
			t.Errorf("%s taken for an archive", v.Path)
		}
	}
	if got[0].Data != string(jsonGz) || len(fl.Notes) != 0 {
		t.Errorf("data.json.gz not scanned raw; notes %v", fl.Notes)
	}
}

// --- Row 11: paths that try to escape ---------------------------------------------

func TestArchive11_PathsReportedAsGiven(t *testing.T) {
	names := []string{"../../evil.py", "/etc/cron.d/evil.py", `pkg\win\evil.py`, "a/./b/../c.py", "pkg/\x1b[31mred.py", "C:/x.py"}
	var entries []fixture.Entry
	for _, n := range names {
		entries = append(entries, fixture.File(n, fixture.Payload))
	}
	for name, data := range map[string][]byte{"zip": fixture.ZipFiles(t, entries...), "tar.gz": fixture.Gzip(t, fixture.Tar(t, entries...))} {
		t.Run(name, func(t *testing.T) {
			got, _, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, nil)
			if !slices.Equal(fixture.Paths(got), names) {
				t.Fatalf("paths %q, want %q", fixture.Paths(got), names)
			}
		})
	}
	if d := DisplayName("pkg/\x1b[31mred.py"); strings.ContainsRune(d, 0x1b) {
		t.Errorf("DisplayName kept the escape: %q", d)
	}
}

func TestArchive11_LinksOutsideAreNotFollowed(t *testing.T) {
	data := fixture.Gzip(t, fixture.Tar(t,
		fixture.File("pkg/real.py", fixture.Payload),
		fixture.Entry{Name: "pkg/up.py", Type: tar.TypeSymlink, Link: "../../etc/passwd"},
		fixture.Entry{Name: "pkg/abs.py", Type: tar.TypeSymlink, Link: "/etc/passwd"},
		fixture.Entry{Name: "pkg/hard.py", Type: tar.TypeLink, Link: "../outside.py"},
		fixture.Entry{Name: "pkg/hardabs.py", Type: tar.TypeLink, Link: "/pkg/real.py"},
		fixture.Entry{Name: "pkg/missing.py", Type: tar.TypeSymlink, Link: "nothere.py"},
		fixture.Entry{Name: "pkg/loop1.py", Type: tar.TypeSymlink, Link: "loop2.py"},
		fixture.Entry{Name: "pkg/loop2.py", Type: tar.TypeSymlink, Link: "loop1.py"},
		fixture.Entry{Name: "pkg/sub", Type: tar.TypeSymlink, Link: "."},
		fixture.Entry{Name: "pkg/escape/\x1b]evil", Type: tar.TypeSymlink, Link: "../../../../x"},
	))
	got, fl, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, nil)
	if !slices.Equal(fixture.Paths(got), []string{"pkg/real.py"}) {
		t.Fatalf("visited %q", fixture.Paths(got))
	}
	noted := map[string]bool{}
	for _, n := range fl.Notes {
		noted[n.Path] = true
		if !strings.Contains(n.Reason, "not followed") {
			t.Errorf("note %+v", n)
		}
	}
	for _, p := range []string{"pkg/up.py", "pkg/abs.py", "pkg/hard.py", "pkg/hardabs.py", "pkg/missing.py", "pkg/loop1.py", "pkg/loop2.py", DisplayName("pkg/escape/\x1b]evil")} {
		if !noted[p] {
			t.Errorf("no note for %q; notes %+v", p, fl.Notes)
		}
	}
}

// --- Row 12: many tiny files ------------------------------------------------------

func TestArchive12_ManyTinyFiles(t *testing.T) {
	const n = 100_000
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "pkg/m" + strconv.Itoa(i) + ".py", Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("x=1\n"))
	}
	zw.Close()
	data := buf.Bytes()

	seen := 0
	start := time.Now()
	fl, err := Flatten(context.Background(), data, DefaultLimits(), func(f *File) error { seen++; return nil }, Options{})
	elapsed := time.Since(start)
	fixture.WantClass(t, err, nil)
	if seen != n || fl.Files != n {
		t.Fatalf("visited %d, counted %d, want %d", seen, fl.Files, n)
	}
	// Speed is BenchmarkScanTinyFiles' business; this only logs it.
	t.Logf("%d files in %s: %s per file", n, elapsed, elapsed/n)

	lim := DefaultLimits()
	lim.MaxFiles = n - 1
	seen = 0
	_, err = Flatten(context.Background(), data, lim, func(f *File) error { seen++; return nil }, Options{})
	fixture.WantClass(t, err, failure.ErrTooLarge, strconv.Itoa(n), "> limit "+strconv.Itoa(n-1))
	if seen != 0 {
		t.Errorf("visited %d files before failing on the declared count", seen)
	}
	lim.MaxFiles = n
	_, err = Flatten(context.Background(), data, lim, func(f *File) error { return nil }, Options{})
	fixture.WantClass(t, err, nil)
}

func TestArchive12_DeclaredCountOfABrokenZip64Record(t *testing.T) {
	// The end record says "see zip64" and the locator points past the end
	// of an archive shorter than a zip64 end record (a fuzz find: a crash).
	data := []byte("PK\x03\x04PK\x06\x07\x00\x00\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"PK\x05\x06\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	_, _, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, failure.ErrMalformed)
	// A zip64 end record declaring more entries than MaxFiles fails before
	// its directory is read.
	big := data[:4:4]
	z64 := make([]byte, 56)
	copy(z64, "PK\x06\x06")
	binary.LittleEndian.PutUint64(z64[4:], 44)
	binary.LittleEndian.PutUint64(z64[24:], 1<<40)
	binary.LittleEndian.PutUint64(z64[32:], 1<<40)
	big = append(big, z64...)
	loc := make([]byte, 20)
	copy(loc, "PK\x06\x07")
	binary.LittleEndian.PutUint64(loc[8:], 4)
	big = append(big, loc...)
	big = append(big, data[len(data)-22:]...)
	_, _, err = fxFlatten(t, big, fxLimits())
	fixture.WantClass(t, err, failure.ErrTooLarge, "declares entries 1099511627776 > limit 200000")
}

func TestArchive12_TarOverMaxFiles(t *testing.T) {
	var entries []fixture.Entry
	for i := range 20 {
		entries = append(entries, fixture.File("f"+strconv.Itoa(i), ""))
	}
	entries = append(entries, fixture.Entry{Name: "link", Type: tar.TypeSymlink, Link: "f0"})
	data := fixture.Gzip(t, fixture.Tar(t, entries...))
	lim := fxLimits()
	lim.MaxFiles = 21
	_, _, err := fxFlatten(t, data, lim)
	fixture.WantClass(t, err, nil)
	lim.MaxFiles = 20
	_, _, err = fxFlatten(t, data, lim)
	fixture.WantClass(t, err, failure.ErrTooLarge, "number of files 21 > limit 20")
	lim.MaxFiles = 10
	got, _, err := fxFlatten(t, data, lim)
	fixture.WantClass(t, err, failure.ErrTooLarge, "number of files 11 > limit 10")
	if len(got) != 10 {
		t.Errorf("visited %d", len(got))
	}
}

// --- Row 13: non-UTF-8 names --------------------------------------------------------

func TestArchive16_HTMLErrorPage(t *testing.T) {
	t.Skip("row 16 is a download concern (HTTP status checked before the body is read): " +
		"covered by the download tests; what reaches scan as HTML is row 15")
}

// --- Row 17: links named like code ------------------------------------------------
