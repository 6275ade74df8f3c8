package scan

// One or more tests per row of ARCHIVES.md ("Archives that try to hide"),
// each building its hostile archive in memory. The row number is in the
// test name: TestArchiveNN_....

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
)

// wheel is a small wheel-like zip with a payload.
func wheel(tb testing.TB) []byte {
	return fxZipFiles(tb,
		fxFile("pkg/__init__.py", "import os\n"),
		fxFile("pkg/evil.py", "x = '"+fxPayload+"'\n"),
		fxFile("pkg-1.0.dist-info/RECORD", "pkg/__init__.py,,\n"),
	)
}

// --- Row 1: a second, empty end record appended to a wheel -----------------

func TestArchive01_AppendedEmptyEOCD(t *testing.T) {
	data := append(wheel(t), magicZipEnd...)
	data = append(data, make([]byte, 18)...)
	// The trick: Go's archive/zip trusts the last record and lists nothing.
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(zr.File) != 0 {
		t.Fatalf("archive/zip: %d files, %v; the trick no longer fools it", len(zr.File), err)
	}
	got, _, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, ErrMalformed, "zip", "central directory")
	if len(got) != 0 {
		t.Errorf("visited %v", fxPaths(got))
	}
}

func TestArchive01_LocalEntryMissingFromDirectory(t *testing.T) {
	for _, hide := range []string{"pkg/__init__.py", "pkg/evil.py", "pkg-1.0.dist-info/RECORD"} {
		t.Run(hide, func(t *testing.T) {
			data := fxRewriteCentral(t, wheel(t), func(cs []fxCentral) []fxCentral {
				return slices.DeleteFunc(cs, func(c fxCentral) bool { return c.Name() == hide })
			})
			_, _, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, ErrMalformed, "zip", strconv.Quote(hide)[1:len(hide)+1])
		})
	}
}

func TestArchive01_StoredNestedZipAsLastMemberIsFine(t *testing.T) {
	inner := wheel(t)
	if bytes.Count(inner, magicZipEnd) != 1 {
		t.Fatal("fixture: inner zip should hold one end record")
	}
	data := fxZip(t,
		fxZipEntry{Name: "setup.py", Body: "print(1)\n", Method: zip.Deflate},
		fxZipEntry{Name: "tests/data/inner.zip", Body: string(inner), Method: zip.Store},
	)
	if bytes.Count(data, magicZipEnd) != 2 {
		t.Fatal("fixture: outer zip should hold two end records")
	}
	got, fl, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, nil)
	want := []string{"setup.py", "tests/data/inner.zip", "tests/data/inner.zip/pkg/__init__.py",
		"tests/data/inner.zip/pkg/evil.py", "tests/data/inner.zip/pkg-1.0.dist-info/RECORD"}
	if !slices.Equal(fxPaths(got), want) {
		t.Fatalf("paths %q, want %q", fxPaths(got), want)
	}
	if fl.Format != FormatZip || len(fl.Notes) != 0 {
		t.Errorf("format %q notes %v", fl.Format, fl.Notes)
	}
}

func TestArchive01_EmptyZipIsComplete(t *testing.T) {
	data := append([]byte(nil), magicZipEnd...)
	data = append(data, make([]byte, 18)...)
	got, fl, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, nil)
	if len(got) != 0 || fl.Files != 0 || fl.Format != FormatZip {
		t.Fatalf("got %v %+v", got, fl)
	}
}

// --- Row 2: the same name twice ---------------------------------------------

func TestArchive02_DuplicateNamesAllScanned(t *testing.T) {
	zipData := fxZipFiles(t,
		fxFile("pkg/__init__.py", "clean"),
		fxFile("pkg/__init__.py", fxPayload),
	)
	tarData := fxGzip(t, fxTar(t,
		fxFile("pkg/__init__.py", fxPayload),
		fxFile("pkg/__init__.py", "clean"),
	))
	for name, data := range map[string][]byte{"zip": zipData, "tar.gz": tarData} {
		t.Run(name, func(t *testing.T) {
			got, fl, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, nil)
			if len(got) != 2 || fl.Files != 2 {
				t.Fatalf("visited %d files (%d counted), want 2", len(got), fl.Files)
			}
			bodies := []string{got[0].Data, got[1].Data}
			slices.Sort(bodies)
			if !slices.Equal(bodies, []string{fxPayload, "clean"}) || got[0].Path != got[1].Path {
				t.Fatalf("visits %+v", got)
			}
			// Whichever copy Go or Python would pick, the payload counts.
			res := fxScanner(t, fxLimits(), fxRules).Scan(context.Background(), "x", data)
			if res.Err != nil || res.Score != 15 || len(res.Files) != 1 || res.Files[0].Path != "pkg/__init__.py" {
				t.Fatalf("scan: err %v score %d files %+v", res.Err, res.Score, res.Files)
			}
		})
	}
}

// --- Row 3: tar entry types ---------------------------------------------------

func TestArchive03_TarEntryTypes(t *testing.T) {
	member := func(name string, typ byte, body string) []byte {
		return fxPad(append(fxTarHeader(name, typ, int64(len(body)), ""), body...))
	}
	var data []byte
	data = append(data, member("pkg/reg.py", tar.TypeReg, "reg "+fxPayload)...)
	data = append(data, member("pkg/rega.py", '\x00', "rega "+fxPayload)...)
	data = append(data, member("pkg/cont.py", tar.TypeCont, "cont "+fxPayload)...)
	data = append(data, member("pkg/unknown.py", 'Z', "unknown "+fxPayload)...)
	// A GNU sparse file: "sparse!" at offset 0, then 9 bytes of hole.
	data = append(data, fxPad(append(fxGNUSparse("pkg/sparse.py", 16, [][2]int64{{0, 7}}), "sparse!"...))...)
	data = append(data, member("pkg/", tar.TypeDir, "")...)
	data = append(data, member("pkg/legacy_dir/", '\x00', "")...)
	data = append(data, member("dev/tty", tar.TypeChar, "")...)
	data = append(data, member("dev/sda", tar.TypeBlock, "")...)
	data = append(data, member("dev/fifo", tar.TypeFifo, "")...)
	data = append(data, fxTarEnd()...)

	want := map[string]string{
		"pkg/reg.py":     "reg " + fxPayload,
		"pkg/rega.py":    "rega " + fxPayload,
		"pkg/cont.py":    "cont " + fxPayload,
		"pkg/unknown.py": "unknown " + fxPayload,
		"pkg/sparse.py":  "sparse!\x00\x00\x00\x00\x00\x00\x00\x00\x00",
	}
	for name, data := range map[string][]byte{"tar": data, "tar.gz": fxGzip(t, data), "tar.xz": fxXz(t, data)} {
		t.Run(name, func(t *testing.T) {
			got, fl, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, nil)
			if len(got) != len(want) || fl.Files != int64(len(want)) {
				t.Fatalf("visited %q (%d counted), want %d files", fxPaths(got), fl.Files, len(want))
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
	got, fl, err := fxFlatten(t, fxGzip(t, buf.Bytes()), fxLimits())
	fxWantClass(t, err, nil)
	if !slices.Equal(fxPaths(got), []string{"pkg/a.py"}) || fl.Files != 1 {
		t.Fatalf("visited %q, %d files", fxPaths(got), fl.Files)
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
	sparse := append(fxGNUSparse("pkg/huge.py", declared, [][2]int64{{declared - 1, 1}}), fxPad([]byte("x"))...)
	sparse = append(sparse, fxTarEnd()...)

	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	if err := tw.WriteHeader(&tar.Header{Name: "pkg/huge.py", Size: declared, Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Flush() // no data: the archive is cut right after the header

	for name, raw := range map[string][]byte{"gnu sparse": sparse, "pax size": plain.Bytes()} {
		data := fxGzip(t, raw)
		if len(data) > 300 {
			t.Fatalf("%s: fixture is %d bytes; the trick is a tiny archive", name, len(data))
		}
		for _, lim := range []Limits{fxLimits(), DefaultLimits()} {
			t.Run(name+"/max "+strconv.FormatInt(lim.MaxFileSize, 10), func(t *testing.T) {
				var err error
				var got []fxVisit
				alloc := heapAllocated(func() { got, _, err = fxFlatten(t, data, lim) })
				fxWantClass(t, err, ErrTooLarge, "pkg/huge.py", strconv.FormatInt(declared, 10), strconv.FormatInt(lim.MaxFileSize, 10))
				if len(got) != 0 {
					t.Errorf("visited %q", fxPaths(got))
				}
				if alloc > 16<<20 {
					t.Errorf("allocated %d bytes before failing", alloc)
				}
			})
		}
	}
}

// xzWithDictionary returns fxXz(data) with its (first) block header asking
// for the dictionary of size code code (40 is 4 GiB - 1), CRC fixed.
func xzWithDictionary(tb testing.TB, data []byte, code byte) []byte {
	x := fxXz(tb, data)
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
	raw := fxTar(t, fxFile("pkg/evil.py", fxPayload))
	tests := []struct {
		name string
		data []byte
		frag string
	}{
		{"tar.xz 4 GiB", xzWithDictionary(t, raw, 40), "4294967295 bytes > limit 67108864"},
		{"tar.xz 1 GiB", xzWithDictionary(t, raw, 36), "1073741824 bytes > limit 67108864"},
		{"zip xz member", fxZip(t, fxZipEntry{Name: "pkg/a.py", Body: "xz", Method: zipXz, Compressed: xzWithDictionary(t, []byte("xz"), 38)}), "pkg/a.py"},
		{"nested tar.xz", fxZip(t, fxZipEntry{Name: "vendor/x.tar.xz", Body: string(xzWithDictionary(t, raw, 40)), Method: zip.Store}), "vendor/x.tar.xz"},
		{"second stream", append(fxXz(t, raw[:600]), xzWithDictionary(t, raw[600:], 40)...), "dictionary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			alloc := heapAllocated(func() { _, _, err = fxFlatten(t, tt.data, fxLimits()) })
			fxWantClass(t, err, ErrTooLarge, "dictionary", tt.frag)
			if alloc > 16<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
	// At the bound (64 MiB, xz -9) the stream is read.
	_, _, err := fxFlatten(t, xzWithDictionary(t, raw, 36-10), fxLimits())
	fxWantClass(t, err, nil)
}

// The dictionary check walks the whole xz framing of real files to their
// end, so that no block header escapes it.
func TestArchive04_XzFramingWalk(t *testing.T) {
	noise := make([]byte, 200<<10)
	rand.Read(noise)
	raw := fxTar(t, fxFile("pkg/evil.py", fxPayload), fxFile("pkg/noise.bin", string(noise)),
		fxFile("pkg/zeros.bin", string(make([]byte, 300<<10))))
	pad := make([]byte, 8)
	tests := map[string][]byte{
		"ulikunitz":             fxXz(t, raw),
		"many blocks":           fxXzBlocks(t, raw, 10<<10),
		"uncompressed chunks":   fxXzStored(raw),
		"streams with padding":  append(append(fxXz(t, raw[:5000]), pad...), fxXzStored(raw[5000:])...),
		"python sha256 preset9": fxHex(fxPyXzSHA256Hex),
		"python no check":       fxHex(fxPyXzNoCheckHex),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			end, err := xzWalk(bytes.NewReader(data), maxDictionary)
			if err != nil || end != int64(len(data)) {
				t.Fatalf("walk stopped at %d of %d: %v", end, len(data), err)
			}
			got, _, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, nil)
			want, body := "pkg/evil.py", fxPayload
			if strings.HasPrefix(name, "python") {
				want, body = "p/evil.py", fxPayload+"\n"
			}
			if v, ok := fxFind(got, want); !ok || v.Data != body {
				t.Errorf("visited %q; %s = %q", fxPaths(got), want, v.Data)
			}
		})
	}
}

func TestArchive04_TinyStreamsAllocateLittle(t *testing.T) {
	raw := fxTar(t, fxFile("a.py", "x"))
	// A zstd frame of one byte whose header declares a 64 MiB window.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x80, 0x09, 0x00, 0x00, 'x'}
	tests := map[string][]byte{
		"tar.gz":          fxGzip(t, raw),
		"tar.xz":          fxXz(t, raw),
		"tar.xz 64 MiB":   xzWithDictionary(t, raw, 26),
		"tar.bz2":         fxHex(fxTarBz2Hex),
		"zip xz":          fxZip(t, fxZipEntry{Name: "a.py", Body: "xz", Method: zipXz, Compressed: fxXz(t, []byte("xz"))}),
		"zip zstd":        fxZip(t, fxZipEntry{Name: "a.py", Body: "zstd", Method: zipZstd, Compressed: fxZstd(t, []byte("zstd"))}),
		"zip zstd 64 MiB": fxZip(t, fxZipEntry{Name: "a.py", Body: "x", Method: zipZstd, Compressed: frame}),
		"zip lzma":        fxZip(t, fxZipEntry{Name: "a.py", Body: "lz", Method: zipLZMA, Compressed: fxZipLZMA(t, []byte("lz"), true), Flags: 2}),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			var err error
			alloc := heapAllocated(func() { _, _, err = fxFlatten(t, data, fxLimits()) })
			fxWantClass(t, err, nil)
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
	var many []fxZipEntry
	for i := range 12 {
		many = append(many, fxZipEntry{Name: "z/" + strconv.Itoa(i), Body: zeros(1 << 20), Method: zip.Deflate})
	}
	// Each member is exactly RatioFloor: no member ratio applies.
	noRatio := fxLimits()
	noRatio.MaxRatio = 1 << 40
	bigFiles := fxLimits()
	bigFiles.MaxFileSize = 4 << 20
	noise := make([]byte, 100<<10) // keeps the archive-wide ratio low
	rand.Read(noise)
	liar := fxZip(t, fxZipEntry{Name: "liar.py", Body: zeros(10), Method: zip.Deflate, Compressed: fxDeflate(t, []byte(zeros(4<<20)))})

	tests := []struct {
		name  string
		data  []byte
		lim   Limits
		frags []string
	}{
		{"member ratio", fxZip(t, fxZipEntry{Name: "noise.bin", Body: string(noise), Method: zip.Store}, fxZipEntry{Name: "bomb.bin", Body: zeros(1<<20 + 1), Method: zip.Deflate}), bigFiles, []string{"expansion ratio of bomb.bin exceeds limit 500"}},
		{"distribution ratio", fxZip(t, many...), fxLimits(), []string{"expansion ratio of the distribution"}},
		{"expanded budget", fxZip(t, many...), noRatio, []string{"expanded size", "> limit 8388608"}},
		{"size beyond declared", liar, fxLimits(), []string{"liar.py"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class := ErrTooLarge
			if tt.name == "size beyond declared" {
				class = ErrMalformed
			}
			var err error
			var fl Flattened
			alloc := heapAllocated(func() { _, fl, err = fxFlatten(t, tt.data, tt.lim) })
			fxWantClass(t, err, class, tt.frags...)
			if fl.BytesExpanded > tt.lim.MaxExpandedSize || alloc > 32<<20 {
				t.Errorf("expanded %d bytes, allocated %d before failing", fl.BytesExpanded, alloc)
			}
		})
	}
}

func TestArchive05_OverlappingEntries(t *testing.T) {
	// One real member; many directory entries point at its data.
	data := fxRewriteCentral(t, fxZipFiles(t, fxFile("kernel", strings.Repeat("A", 1000))), func(cs []fxCentral) []fxCentral {
		out := []fxCentral{cs[0]}
		for i := range 50 {
			c := cs[0]
			c.SetName("copy" + strconv.Itoa(i))
			out = append(out, c)
		}
		return out
	})
	got, fl, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, ErrMalformed, "overlap")
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
	raw := fxTar(t, fxFile("bomb.bin", string(make([]byte, 32<<20))), fxFile("noise.bin", string(noise)))
	data := fxGzip(t, raw)
	lim := fxLimits()
	lim.MaxFileSize = 64 << 20
	lim.MaxExpandedSize = 128 << 20
	if 32<<20 > lim.MaxRatio*int64(len(data)) {
		t.Fatalf("fixture: archive-wide ratio would catch it (%d bytes)", len(data))
	}
	_, _, err := fxFlatten(t, data, lim)
	fxWantClass(t, err, ErrTooLarge, "expansion ratio of the distribution exceeds limit 500")
	m := regexp.MustCompile(`\((\d+) bytes from (\d+)\)`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("no figures in %q", err)
	}
	if read, _ := strconv.ParseInt(m[1], 10, 64); read > 4<<20 {
		t.Errorf("expanded %d bytes before failing, want a few MiB at most", read)
	}
}

// --- Row 6: zip methods -----------------------------------------------------------

func TestArchive06_ZipMethodsAreRead(t *testing.T) {
	body := func(m string) string { return "method " + m + ": " + fxPayload + "\n" }
	data := fxZip(t,
		fxZipEntry{Name: "m/store.py", Body: body("store"), Method: zip.Store},
		fxZipEntry{Name: "m/deflate.py", Body: body("deflate"), Method: zip.Deflate},
		fxZipEntry{Name: "m/bzip2.py", Body: fxBzip2MemberText, Method: zipBzip2, Compressed: fxHex(fxBzip2MemberHex)},
		fxZipEntry{Name: "m/lzma_eos.py", Body: body("lzma eos"), Method: zipLZMA, Compressed: fxZipLZMA(t, []byte(body("lzma eos")), true), Flags: 0x2},
		fxZipEntry{Name: "m/lzma_sized.py", Body: body("lzma sized"), Method: zipLZMA, Compressed: fxZipLZMA(t, []byte(body("lzma sized")), false)},
		fxZipEntry{Name: "m/zstd.py", Body: body("zstd"), Method: zipZstd, Compressed: fxZstd(t, []byte(body("zstd")))},
		fxZipEntry{Name: "m/xz.py", Body: body("xz"), Method: zipXz, Compressed: fxXz(t, []byte(body("xz")))},
	)
	got, _, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, nil)
	want := map[string]string{
		"m/store.py": body("store"), "m/deflate.py": body("deflate"), "m/bzip2.py": fxBzip2MemberText,
		"m/lzma_eos.py": body("lzma eos"), "m/lzma_sized.py": body("lzma sized"), "m/zstd.py": body("zstd"), "m/xz.py": body("xz"),
	}
	if len(got) != len(want) {
		t.Fatalf("visited %q", fxPaths(got))
	}
	for _, v := range got {
		if want[v.Path] != v.Data {
			t.Errorf("%s = %q, want %q", v.Path, v.Data, want[v.Path])
		}
	}
	res := fxScanner(t, fxLimits(), fxRules).Scan(context.Background(), "x.whl", data)
	if res.Err != nil || len(res.Files) != len(want) {
		t.Fatalf("scan: %v, files %+v", res.Err, res.Files)
	}
}

func TestArchive06_BadMemberOfEachMethodIsMalformed(t *testing.T) {
	body := "method: " + fxPayload + "\n"
	bad := uint32(0xdeadbeef)
	cut := func(b []byte) []byte { return b[:len(b)/2] }
	tests := []struct {
		name string
		e    fxZipEntry
	}{
		{"bzip2 crc", fxZipEntry{Name: "a.py", Body: fxBzip2MemberText, Method: zipBzip2, Compressed: fxHex(fxBzip2MemberHex), CRC: &bad}},
		{"bzip2 cut", fxZipEntry{Name: "a.py", Body: fxBzip2MemberText, Method: zipBzip2, Compressed: cut(fxHex(fxBzip2MemberHex))}},
		{"lzma crc", fxZipEntry{Name: "a.py", Body: body, Method: zipLZMA, Compressed: fxZipLZMA(t, []byte(body), true), Flags: 0x2, CRC: &bad}},
		{"lzma cut", fxZipEntry{Name: "a.py", Body: body, Method: zipLZMA, Compressed: cut(fxZipLZMA(t, []byte(body), true)), Flags: 0x2}},
		{"zstd crc", fxZipEntry{Name: "a.py", Body: body, Method: zipZstd, Compressed: fxZstd(t, []byte(body)), CRC: &bad}},
		{"zstd cut", fxZipEntry{Name: "a.py", Body: body, Method: zipZstd, Compressed: cut(fxZstd(t, []byte(body)))}},
		{"xz cut", fxZipEntry{Name: "a.py", Body: body, Method: zipXz, Compressed: cut(fxXz(t, []byte(body)))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := fxFlatten(t, fxZip(t, tt.e), fxLimits())
			fxWantClass(t, err, ErrMalformed, "a.py")
		})
	}
}

func TestArchive06_UnknownMethodIsUnsupported(t *testing.T) {
	for _, method := range []uint16{1, 6, 9, 97, 98, 99, 65535} {
		t.Run(strconv.Itoa(int(method)), func(t *testing.T) {
			data := fxZip(t,
				fxZipEntry{Name: "ok.py", Body: "fine", Method: zip.Deflate},
				fxZipEntry{Name: "pkg/hidden.py", Body: fxPayload, Method: method, Compressed: []byte("opaque bytes")},
			)
			_, _, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, ErrUnsupported, "zip method "+strconv.Itoa(int(method))+" in pkg/hidden.py")
		})
	}
	t.Run("encrypted", func(t *testing.T) {
		data := fxZip(t, fxZipEntry{Name: "pkg/secret.py", Body: fxPayload, Method: zip.Store, Flags: 0x1, Compressed: []byte(fxPayload)})
		_, _, err := fxFlatten(t, data, fxLimits())
		fxWantClass(t, err, ErrUnsupported, "encrypted", "pkg/secret.py")
	})
}

// --- Row 7: padded past the scan size -------------------------------------------

func TestArchive07_OverMaxScanSize(t *testing.T) {
	pad := make([]byte, 4096)
	rand.Read(pad)
	data := fxZip(t,
		fxZipEntry{Name: "pkg/evil.py", Body: fxPayload, Method: zip.Deflate},
		fxZipEntry{Name: "padding.bin", Body: string(pad), Method: zip.Store},
	)
	tarGz := fxGzip(t, fxTar(t, fxFile("pkg/evil.py", fxPayload), fxFile("padding.bin", string(pad))))
	for name, data := range map[string][]byte{"zip": data, "tar.gz": tarGz} {
		t.Run(name, func(t *testing.T) {
			lim := fxLimits()
			lim.MaxScanSize = int64(len(data)) - 1
			got, _, err := fxFlatten(t, data, lim)
			fxWantClass(t, err, ErrTooLarge, strconv.Itoa(len(data)), "> limit "+strconv.Itoa(len(data)-1))
			if len(got) != 0 {
				t.Errorf("scanned %q of an archive over the limit", fxPaths(got))
			}
			// At the limit passes: limits are checked with ">".
			lim.MaxScanSize = int64(len(data))
			_, _, err = fxFlatten(t, data, lim)
			fxWantClass(t, err, nil)
		})
	}
}

// --- Row 8: what follows the tar end marker ---------------------------------

func TestArchive08_TrailingDataAndGzipMembers(t *testing.T) {
	raw := fxTar(t, fxFile("pkg/setup.py", "print(1)\n"), fxFile("pkg/evil.py", fxPayload))
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
		{"trailing zeros", append(fxGzip(t, raw), make([]byte, 4096)...)},
		{"trailing garbage", append(fxGzip(t, raw), "<html>garbage</html>"...)},
		{"trailing gzip magic", append(fxGzip(t, raw), 0x1f, 0x8b, 8)},
		{"bad crc after end marker", badCRC(fxGzip(t, raw))},
		{"bad size after end marker", badSize(fxGzip(t, raw))},
		{"bad crc after padded end marker", badCRC(fxGzip(t, padded))},
		{"no trailer after end marker", noTrailer(fxGzip(t, padded))},
		{"concatenated members", append(fxGzip(t, raw[:split]), fxGzip(t, raw[split:])...)},
		{"member per block", func() []byte {
			var out []byte
			for i := 0; i < len(raw); i += tarBlock {
				out = append(out, fxGzip(t, raw[i:i+tarBlock])...)
			}
			return out
		}()},
		{"empty member first", append(fxGzip(t, nil), fxGzip(t, raw)...)},
		{"xz trailing zeros", append(fxXz(t, raw), make([]byte, 64)...)},
		{"xz concatenated streams", append(fxXz(t, raw[:split]), fxXz(t, raw[split:])...)},
		{"tar trailing garbage", append(append([]byte(nil), raw...), "garbage"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := fxFlatten(t, tt.data, fxLimits())
			fxWantClass(t, err, nil)
			if v, ok := fxFind(got, "pkg/evil.py"); !ok || v.Data != fxPayload || len(got) != 2 {
				t.Fatalf("visited %q", fxPaths(got))
			}
		})
	}
}

func TestArchive08_EmptyTarGzIsComplete(t *testing.T) {
	for name, data := range map[string][]byte{
		"go":     fxGzip(t, fxTar(t)),
		"python": fxGzip(t, make([]byte, 10240)),
		"xz":     fxXz(t, fxTar(t)),
	} {
		t.Run(name, func(t *testing.T) {
			got, fl, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, nil)
			if len(got) != 0 || fl.Files != 0 {
				t.Fatalf("got %v %+v", got, fl)
			}
			res := fxScanner(t, fxLimits(), fxRules).Scan(context.Background(), "x.tar.gz", data)
			if res.Status() != StatusComplete {
				t.Fatalf("status %s: %v", res.Status(), res.Err)
			}
		})
	}
}

func TestArchive08_CompressedNonTarIsUnsupported(t *testing.T) {
	text := []byte(strings.Repeat("just some text, no tar header here\n", 40))
	for name, data := range map[string][]byte{
		"gzip":       fxGzip(t, text),
		"gzip short": fxGzip(t, []byte("hi")),
		"gzip empty": fxGzip(t, nil),
		"xz":         fxXz(t, text),
		"gzip zip":   fxGzip(t, wheel(t)),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, ErrUnsupported, "no tar archive")
		})
	}
}

func TestArchive08_TarBz2(t *testing.T) {
	data := fxHex(fxTarBz2Hex)
	got, fl, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, nil)
	if fl.Format != FormatTarBz2 || !slices.Equal(fxPaths(got), []string{"pkg-1.0/setup.py", "pkg-1.0/pkg/evil.py"}) {
		t.Fatalf("format %q paths %q", fl.Format, fxPaths(got))
	}
	if got[1].Data != "import os; "+fxPayload+"\n" {
		t.Errorf("evil.py = %q", got[1].Data)
	}
}

// --- Row 9: truncated or corrupt before the end ---------------------------------

func TestArchive09_CorruptArchivesAreMalformed(t *testing.T) {
	body := strings.Repeat("some python code "+fxPayload+"\n", 200)
	raw := fxTar(t, fxFile("pkg/a.py", body), fxFile("pkg/b.py", body), fxFile("pkg/c.py", "c"))
	gz, xzData, bz := fxGzip(t, raw), fxXz(t, raw), fxHex(fxTarBz2Hex)

	badHeader := append([]byte(nil), raw...)
	second := fxPad(make([]byte, tarBlock+len(body))) // offset of pkg/b.py's header
	if bytes.Contains(raw[len(second):len(second)+tarBlock], []byte("pkg/b.py")) {
		badHeader[len(second)+10] ^= 0x55 // its name changes, its checksum no longer agrees
	} else {
		t.Fatal("fixture: pkg/b.py header not where expected")
	}

	bad := uint32(1)
	zipCRC := fxZip(t, fxZipEntry{Name: "ok.py", Body: "ok", Method: zip.Deflate},
		fxZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Deflate, CRC: &bad})
	storedCRC := fxZip(t, fxZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Store, CRC: &bad})
	w := wheel(t)
	zipCutDeflate := fxZip(t, fxZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Deflate, Compressed: fxDeflate(t, []byte(body))[:20]})

	tests := []struct {
		name  string
		data  []byte
		class error
		frags []string
	}{
		{"tar.gz cut in deflate data", gz[:len(gz)/2], ErrMalformed, []string{"unexpected EOF"}},
		{"tar.gz cut in header", gz[:12], ErrMalformed, nil},
		{"tar.gz corrupt deflate", func() []byte { b := append([]byte(nil), gz...); b[len(b)/3] ^= 0xff; b[len(b)/3+1] ^= 0xff; return b }(), ErrMalformed, nil},
		{"tar.xz cut", xzData[:len(xzData)/2], ErrMalformed, nil},
		{"tar.bz2 cut", bz[:len(bz)/2], ErrMalformed, nil},
		{"tar cut in member", raw[:tarBlock+100], ErrMalformed, []string{"pkg/a.py", "unexpected EOF"}},
		{"tar bad second header", badHeader, ErrMalformed, []string{"tar", "invalid tar header"}},
		{"tar.gz bad second header", fxGzip(t, badHeader), ErrMalformed, []string{"tar", "invalid tar header"}},
		{"zip crc mismatch", zipCRC, ErrMalformed, []string{"pkg/evil.py", "checksum"}},
		{"zip stored crc mismatch", storedCRC, ErrMalformed, []string{"pkg/evil.py", "checksum"}},
		{"zip cut deflate", zipCutDeflate, ErrMalformed, []string{"pkg/evil.py"}},
		{"zip cut directory", w[:len(w)-30], ErrMalformed, []string{"zip"}},
		{"zip cut in data", w[:60], ErrMalformed, []string{"zip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := fxFlatten(t, tt.data, fxLimits())
			fxWantClass(t, err, tt.class, tt.frags...)
			// Through the scanner the result is a failure, never clean.
			res := fxScanner(t, fxLimits(), fxRules).Scan(context.Background(), "x", tt.data)
			if res.Status() != StatusFailed || Class(res.Err) != tt.class {
				t.Fatalf("scan: %s %v", res.Status(), res.Err)
			}
		})
	}
}

// --- Row 10: nested archives ------------------------------------------------------

// nestedWheel is a wheel holding a tar.gz holding a zip.
func nestedWheel(tb testing.TB) []byte {
	inner := fxZipFiles(tb, fxFile("evil.py", fxPayload), fxFile("README", "hello"))
	tgz := fxGzip(tb, fxTar(tb, fxFile("data/notes.txt", "notes"), fxFile("data/inner.zip", string(inner))))
	return fxZip(tb,
		fxZipEntry{Name: "pkg/__init__.py", Body: "", Method: zip.Deflate},
		fxZipEntry{Name: "pkg/data.tar.gz", Body: string(tgz), Method: zip.Store},
	)
}

func TestArchive10_NestedArchivesAreOpened(t *testing.T) {
	got, fl, err := fxFlatten(t, nestedWheel(t), fxLimits())
	fxWantClass(t, err, nil)
	want := []fxVisit{
		{Path: "pkg/__init__.py"},
		{Path: "pkg/data.tar.gz", Depth: 0, Archive: true},
		{Path: "pkg/data.tar.gz/data/notes.txt", Depth: 1},
		{Path: "pkg/data.tar.gz/data/inner.zip", Depth: 1, Archive: true},
		{Path: "pkg/data.tar.gz/data/inner.zip/evil.py", Depth: 2},
		{Path: "pkg/data.tar.gz/data/inner.zip/README", Depth: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("visited %q", fxPaths(got))
	}
	for i := range want {
		if got[i].Path != want[i].Path || got[i].Depth != want[i].Depth || got[i].Archive != want[i].Archive {
			t.Errorf("visit %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if fl.Files != int64(len(want)) {
		t.Errorf("counted %d files, want %d (nested included)", fl.Files, len(want))
	}
	// filetype is tested on the innermost path.
	res := fxScanner(t, fxLimits(), fxRules).Scan(context.Background(), "x.whl", nestedWheel(t))
	m := fxMatchedPaths(res)
	if res.Err != nil || !slices.Equal(m["pkg/data.tar.gz/data/inner.zip/evil.py"], []string{"payload", "payload_py"}) {
		t.Fatalf("scan: %v %v", res.Err, m)
	}
}

func TestArchive10_DepthLimit(t *testing.T) {
	lim := fxLimits()
	lim.MaxDepth = 2
	_, _, err := fxFlatten(t, nestedWheel(t), lim)
	fxWantClass(t, err, nil)
	lim.MaxDepth = 1
	_, _, err = fxFlatten(t, nestedWheel(t), lim)
	fxWantClass(t, err, ErrTooLarge, "nesting depth", "pkg/data.tar.gz/data/inner.zip")
	lim.MaxDepth = 0
	_, _, err = fxFlatten(t, nestedWheel(t), lim)
	fxWantClass(t, err, ErrTooLarge, "nesting depth", "pkg/data.tar.gz")

	// A zip quine-like tower: each level stored in the next.
	data := fxZipFiles(t, fxFile("evil.py", fxPayload))
	for range 10 {
		data = fxZip(t, fxZipEntry{Name: "nested.zip", Body: string(data), Method: zip.Store})
	}
	_, _, err = fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, ErrTooLarge, "nesting depth")
}

func TestArchive10_BrokenNestedArchiveIsANote(t *testing.T) {
	tgz := fxGzip(t, fxTar(t, fxFile("a.py", strings.Repeat("x", 5000)), fxFile("b.py", fxPayload)))
	w := wheel(t)
	badCRC := uint32(7)
	for name, member := range map[string][]byte{
		"truncated zip":    w[:len(w)-10],
		"zip magic only":   []byte("PK\x03\x04 this is no zip"),
		"truncated tar.gz": tgz[:len(tgz)-40],
		"zip crc":          fxZip(t, fxZipEntry{Name: "x.py", Body: "x", Method: zip.Store, CRC: &badCRC}),
		"zip method 99":    fxZip(t, fxZipEntry{Name: "x.py", Body: "x", Method: 99, Compressed: []byte("x")}),
	} {
		t.Run(name, func(t *testing.T) {
			data := fxZip(t,
				fxZipEntry{Name: "tests/broken.bin", Body: string(member), Method: zip.Store},
				fxZipEntry{Name: "pkg/evil.py", Body: fxPayload, Method: zip.Deflate},
			)
			got, fl, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, nil)
			if len(fl.Notes) != 1 || fl.Notes[0].Path != "tests/broken.bin" {
				t.Fatalf("notes %+v", fl.Notes)
			}
			if v, ok := fxFind(got, "tests/broken.bin"); !ok || v.Data != string(member) {
				t.Error("the broken archive's own bytes were not scanned")
			}
			if _, ok := fxFind(got, "pkg/evil.py"); !ok {
				t.Error("the walk did not go on after the broken archive")
			}
		})
	}
}

func TestArchive10_BudgetsInsideNestedArchivesFail(t *testing.T) {
	inner := fxGzip(t, fxTar(t, fxFile("a", "1"), fxFile("b", "2"), fxFile("c", "3")))
	data := fxZip(t,
		fxZipEntry{Name: "x.py", Body: "x", Method: zip.Deflate},
		fxZipEntry{Name: "inner.tar.gz", Body: string(inner), Method: zip.Store},
	)
	lim := fxLimits()
	lim.MaxFiles = 5
	_, _, err := fxFlatten(t, data, lim)
	fxWantClass(t, err, nil)
	lim.MaxFiles = 4
	_, _, err = fxFlatten(t, data, lim)
	fxWantClass(t, err, ErrTooLarge, "number of files 5 > limit 4")

	// A member over the file size inside a nested archive.
	big := fxGzip(t, fxTar(t, fxFile("big.bin", strings.Repeat("y", 2<<20))))
	data = fxZip(t, fxZipEntry{Name: "inner.tar.gz", Body: string(big), Method: zip.Store})
	_, _, err = fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, ErrTooLarge, "inner.tar.gz/big.bin")

	// A gzip bomb inside: the stream ratio fails the distribution.
	bomb := fxGzip(t, fxTar(t, fxFile("bomb.bin", string(make([]byte, 4<<20)))))
	data = fxZip(t, fxZipEntry{Name: "bomb.tar.gz", Body: string(bomb), Method: zip.Store},
		fxZipEntry{Name: "noise.bin", Body: string(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 1)), Method: zip.Store})
	lim = fxLimits()
	lim.MaxFileSize = 8 << 20
	lim.MaxExpandedSize = 64 << 20
	_, _, err = fxFlatten(t, data, lim)
	fxWantClass(t, err, ErrTooLarge, "expansion ratio")

	// A nested zip's entries count in the shared budget before they are read.
	many := make([]fxEntry, 10)
	for i := range many {
		many[i] = fxFile("f"+strconv.Itoa(i), "x")
	}
	data = fxZip(t, fxZipEntry{Name: "many.zip", Body: string(fxZipFiles(t, many...)), Method: zip.Store})
	lim = fxLimits()
	lim.MaxFiles = 8
	got, _, err := fxFlatten(t, data, lim)
	fxWantClass(t, err, ErrTooLarge, "many.zip")
	if len(got) != 1 {
		t.Errorf("visited %q before failing", fxPaths(got))
	}
}

func TestArchive10_BareCompressedFileIsScannedRaw(t *testing.T) {
	jsonGz := fxGzip(t, []byte(`{"payload": "`+fxPayload+`"}`))
	bigGz := fxGzip(t, []byte(strings.Repeat(`{"k": 1}`, 1000)))
	xzFile := fxXz(t, []byte("plain text, no tar"))
	data := fxZip(t,
		fxZipEntry{Name: "pkg/data.json.gz", Body: string(jsonGz), Method: zip.Store},
		fxZipEntry{Name: "pkg/big.json.gz", Body: string(bigGz), Method: zip.Store},
		fxZipEntry{Name: "pkg/notes.xz", Body: string(xzFile), Method: zip.Store},
	)
	got, fl, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, nil)
	if !slices.Equal(fxPaths(got), []string{"pkg/data.json.gz", "pkg/big.json.gz", "pkg/notes.xz"}) {
		t.Fatalf("visited %q", fxPaths(got))
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
	var entries []fxEntry
	for _, n := range names {
		entries = append(entries, fxFile(n, fxPayload))
	}
	for name, data := range map[string][]byte{"zip": fxZipFiles(t, entries...), "tar.gz": fxGzip(t, fxTar(t, entries...))} {
		t.Run(name, func(t *testing.T) {
			got, _, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, nil)
			if !slices.Equal(fxPaths(got), names) {
				t.Fatalf("paths %q, want %q", fxPaths(got), names)
			}
		})
	}
	if d := DisplayName("pkg/\x1b[31mred.py"); strings.ContainsRune(d, 0x1b) {
		t.Errorf("DisplayName kept the escape: %q", d)
	}
}

func TestArchive11_LinksOutsideAreNotFollowed(t *testing.T) {
	data := fxGzip(t, fxTar(t,
		fxFile("pkg/real.py", fxPayload),
		fxEntry{Name: "pkg/up.py", Type: tar.TypeSymlink, Link: "../../etc/passwd"},
		fxEntry{Name: "pkg/abs.py", Type: tar.TypeSymlink, Link: "/etc/passwd"},
		fxEntry{Name: "pkg/hard.py", Type: tar.TypeLink, Link: "../outside.py"},
		fxEntry{Name: "pkg/hardabs.py", Type: tar.TypeLink, Link: "/pkg/real.py"},
		fxEntry{Name: "pkg/missing.py", Type: tar.TypeSymlink, Link: "nothere.py"},
		fxEntry{Name: "pkg/loop1.py", Type: tar.TypeSymlink, Link: "loop2.py"},
		fxEntry{Name: "pkg/loop2.py", Type: tar.TypeSymlink, Link: "loop1.py"},
		fxEntry{Name: "pkg/sub", Type: tar.TypeSymlink, Link: "."},
		fxEntry{Name: "pkg/escape/\x1b]evil", Type: tar.TypeSymlink, Link: "../../../../x"},
	))
	got, fl, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, nil)
	if !slices.Equal(fxPaths(got), []string{"pkg/real.py"}) {
		t.Fatalf("visited %q", fxPaths(got))
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
	fl, err := Flatten(context.Background(), data, DefaultLimits(), func(f *File) error { seen++; return nil })
	elapsed := time.Since(start)
	fxWantClass(t, err, nil)
	if seen != n || fl.Files != n {
		t.Fatalf("visited %d, counted %d, want %d", seen, fl.Files, n)
	}
	// Speed is BenchmarkScanTinyFiles' business; this only logs it.
	t.Logf("%d files in %s: %s per file", n, elapsed, elapsed/n)

	lim := DefaultLimits()
	lim.MaxFiles = n - 1
	seen = 0
	_, err = Flatten(context.Background(), data, lim, func(f *File) error { seen++; return nil })
	fxWantClass(t, err, ErrTooLarge, strconv.Itoa(n), "> limit "+strconv.Itoa(n-1))
	if seen != 0 {
		t.Errorf("visited %d files before failing on the declared count", seen)
	}
	lim.MaxFiles = n
	_, err = Flatten(context.Background(), data, lim, func(f *File) error { return nil })
	fxWantClass(t, err, nil)
}

func TestArchive12_DeclaredCountOfABrokenZip64Record(t *testing.T) {
	// The end record says "see zip64" and the locator points past the end
	// of an archive shorter than a zip64 end record (a fuzz find: a crash).
	data := []byte("PK\x03\x04PK\x06\x07\x00\x00\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"PK\x05\x06\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	_, _, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, ErrMalformed)
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
	fxWantClass(t, err, ErrTooLarge, "declares entries 1099511627776 > limit 200000")
}

func TestArchive12_TarOverMaxFiles(t *testing.T) {
	var entries []fxEntry
	for i := range 20 {
		entries = append(entries, fxFile("f"+strconv.Itoa(i), ""))
	}
	entries = append(entries, fxEntry{Name: "link", Type: tar.TypeSymlink, Link: "f0"})
	data := fxGzip(t, fxTar(t, entries...))
	lim := fxLimits()
	lim.MaxFiles = 21
	_, _, err := fxFlatten(t, data, lim)
	fxWantClass(t, err, nil)
	lim.MaxFiles = 20
	_, _, err = fxFlatten(t, data, lim)
	fxWantClass(t, err, ErrTooLarge, "number of files 21 > limit 20")
	lim.MaxFiles = 10
	got, _, err := fxFlatten(t, data, lim)
	fxWantClass(t, err, ErrTooLarge, "number of files 11 > limit 10")
	if len(got) != 10 {
		t.Errorf("visited %d", len(got))
	}
}

// --- Row 13: non-UTF-8 names --------------------------------------------------------

func TestArchive13_NonUTF8NamesKeptAsBytes(t *testing.T) {
	name := "pkg/\xff\xfe\x80evil.py"
	other := "pkg/caf\xe9.txt"
	entries := []fxEntry{fxFile(name, fxPayload), fxFile(other, fxPayload)}
	for kind, data := range map[string][]byte{"zip": fxZipFiles(t, entries...), "tar.gz": fxGzip(t, fxTar(t, entries...))} {
		t.Run(kind, func(t *testing.T) {
			got, _, err := fxFlatten(t, data, fxLimits())
			fxWantClass(t, err, nil)
			if !slices.Equal(fxPaths(got), []string{name, other}) {
				t.Fatalf("paths %q", fxPaths(got))
			}
			res := fxScanner(t, fxLimits(), fxRules).Scan(context.Background(), "x", data)
			m := fxMatchedPaths(res)
			if res.Err != nil || !slices.Equal(m[name], []string{"payload", "payload_py"}) || !slices.Equal(m[other], []string{"payload"}) {
				t.Fatalf("scan %v: %q", res.Err, m)
			}
		})
	}
	if d := DisplayName(name); d != strconv.Quote(name) {
		t.Errorf("DisplayName = %s", d)
	}
}

// --- Row 14: YARA time-outs and match limits -------------------------------------

func TestArchive14_TooManyMatchesFailsWithPartialFindings(t *testing.T) {
	data := fxZip(t,
		fxZipEntry{Name: "pkg/evil.py", Body: fxPayload, Method: zip.Deflate},
		fxZipEntry{Name: "pkg/flood.txt", Body: strings.Repeat("Q", MatchLimit+10), Method: zip.Deflate},
		fxZipEntry{Name: "pkg/late.py", Body: fxPayload, Method: zip.Deflate},
	)
	rules := map[string]string{
		"payload": fxRules["payload"],
		"flood":   `rule flood { meta: weight = 1 strings: $a = "Q" condition: $a }`,
	}
	lim := fxLimits()
	lim.MaxFileSize = 2 << 20
	res := fxScanner(t, lim, rules).Scan(context.Background(), "x.whl", data)
	if Class(res.Err) != ErrTimeout || !strings.Contains(res.Err.Error(), "pkg/flood.txt") || !strings.Contains(res.Err.Error(), "flood") {
		t.Fatalf("err = %v, want a timeout naming the file and rule", res.Err)
	}
	m := fxMatchedPaths(res)
	if !slices.Equal(m["pkg/evil.py"], []string{"payload"}) || res.Score == 0 || res.Status() != StatusFailed {
		t.Fatalf("partial findings lost: %+v score %d", m, res.Score)
	}
	if _, ok := m["pkg/late.py"]; ok {
		t.Error("scanning went on after the failed file")
	}
}

func TestArchive14_TimeoutFailsWithPartialFindings(t *testing.T) {
	// The condition is quadratic in the file size: far beyond one second on
	// 200 KB, nothing on a small file.
	rules := map[string]string{
		"payload": fxRules["payload"],
		"slow":    `rule slow { condition: filesize > 1000 and for all i in (0..filesize) : ( for all j in (0..filesize) : ( uint8(i) == uint8(j) or true ) ) }`,
	}
	data := fxZip(t,
		fxZipEntry{Name: "pkg/evil.py", Body: fxPayload, Method: zip.Deflate},
		fxZipEntry{Name: "pkg/slow.bin", Body: string(make([]byte, 200_000)), Method: zip.Store},
	)
	lim := fxLimits()
	lim.YaraTimeout = time.Second
	res := fxScanner(t, lim, rules).Scan(context.Background(), "x.whl", data)
	if Class(res.Err) != ErrTimeout || !strings.Contains(res.Err.Error(), "pkg/slow.bin") {
		t.Fatalf("err = %v, want a timeout naming the file", res.Err)
	}
	if m := fxMatchedPaths(res); !slices.Equal(m["pkg/evil.py"], []string{"payload"}) || res.Score != 10 {
		t.Fatalf("partial findings lost: %+v score %d", m, res.Score)
	}
}

// --- Row 15: the name lies about the format ----------------------------------------

func TestArchive15_FormatBySniffingNotByName(t *testing.T) {
	tgz := fxGzip(t, fxTar(t, fxFile("pkg-1.0/pkg/evil.py", fxPayload)))
	tests := []struct {
		target string
		data   []byte
		format Format
		class  error
	}{
		{"https://files.example/pkg-1.0.tar.gz", wheel(t), FormatZip, nil},
		{"https://files.example/pkg-1.0-py3-none-any.whl", tgz, FormatTarGz, nil},
		{"https://files.example/pkg-1.0.zip", fxXz(t, fxTar(t, fxFile("pkg/evil.py", fxPayload))), FormatTarXz, nil},
		{"https://files.example/pkg-1.0.tar.gz", []byte("<!DOCTYPE html><html><body>404 Not Found</body></html>"), FormatUnknown, ErrUnsupported},
		{"https://files.example/pkg-1.0.tar.gz", []byte("<html>" + strings.Repeat(" ", 600) + "</html>"), FormatUnknown, ErrUnsupported},
		{"https://files.example/pkg-1.0.whl", []byte{}, FormatUnknown, ErrUnsupported},
		{"https://files.example/pkg-1.0.whl", []byte("PK"), FormatUnknown, ErrUnsupported},
		{"https://files.example/pkg-1.0.whl", append([]byte("MZ-sfx-stub"), wheel(t)...), FormatUnknown, ErrUnsupported},
	}
	s := fxScanner(t, fxLimits(), fxRules)
	for _, tt := range tests {
		res := s.Scan(context.Background(), tt.target, tt.data)
		if Class(res.Err) != tt.class || res.Format != tt.format {
			t.Errorf("%s (%.10q): format %q err %v, want %q %v", tt.target, tt.data, res.Format, res.Err, tt.format, tt.class)
			continue
		}
		if tt.class == nil && res.Score == 0 {
			t.Errorf("%s: payload not found", tt.target)
		}
		if tt.class != nil && !strings.Contains(res.Err.Error(), "format") {
			t.Errorf("%s: reason %q does not say the format is not recognised", tt.target, res.Err)
		}
	}
}

// --- Row 16: HTML error pages ----------------------------------------------------

func TestArchive16_HTMLErrorPage(t *testing.T) {
	t.Skip("row 16 is a download concern (HTTP status checked before the body is read): " +
		"covered by the download tests; what reaches scan as HTML is row 15")
}

// --- Row 17: links named like code ------------------------------------------------

// fxRow17Links is ARCHIVES.md row 17's sdist: links under .py names to a
// .txt file holding the payload, a link chain, and a link to a clean file.
func fxRow17Links() []fxEntry {
	return []fxEntry{
		// a link may come before its target
		{Name: "pkg-1.0/pkg/early.py", Type: tar.TypeSymlink, Link: "../notes.txt"},
		fxFile("pkg-1.0/notes.txt", "harmless? "+fxPayload),
		{Name: "pkg-1.0/pkg/__init__.py", Type: tar.TypeLink, Link: "pkg-1.0/notes.txt"},
		{Name: "pkg-1.0/pkg/sym.py", Type: tar.TypeSymlink, Link: "../notes.txt"},
		{Name: "pkg-1.0/pkg/chain.py", Type: tar.TypeSymlink, Link: "sym.py"},
		{Name: "pkg-1.0/clean.py", Type: tar.TypeSymlink, Link: "README"},
		fxFile("pkg-1.0/README", "nothing"),
	}
}

func TestArchive17_LinkTargetsCountUnderTheLinkName(t *testing.T) {
	data := fxGzip(t, fxTar(t, fxRow17Links()...))
	got, _, err := fxFlatten(t, data, fxLimits())
	fxWantClass(t, err, nil)
	for _, link := range []string{"pkg-1.0/pkg/early.py", "pkg-1.0/pkg/__init__.py", "pkg-1.0/pkg/sym.py", "pkg-1.0/pkg/chain.py"} {
		v, ok := fxFind(got, link)
		if !ok || !slices.Equal(v.Links, []string{"pkg-1.0/notes.txt"}) || v.Data != "" {
			t.Errorf("%s: visit %+v", link, v)
		}
	}
	res := fxScanner(t, fxLimits(), fxRules).Scan(context.Background(), "pkg-1.0.tar.gz", data)
	m := fxMatchedPaths(res)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := map[string][]string{
		"pkg-1.0/notes.txt":       {"payload"},
		"pkg-1.0/pkg/early.py":    {"payload", "payload_py"},
		"pkg-1.0/pkg/__init__.py": {"payload", "payload_py"},
		"pkg-1.0/pkg/sym.py":      {"payload", "payload_py"},
		"pkg-1.0/pkg/chain.py":    {"payload", "payload_py"},
	}
	if len(m) != len(want) {
		t.Errorf("matched files %q, want %d", m, len(want))
	}
	for p, rules := range want {
		if !slices.Equal(m[p], rules) {
			t.Errorf("%s: rules %q, want %q", p, m[p], rules)
		}
	}
	if !slices.ContainsFunc(res.Rules, func(r RuleHit) bool { return r.Name == "payload_py" }) || res.Score != 15 {
		t.Errorf("rules %+v score %d", res.Rules, res.Score)
	}

	// In a nested tarball, link targets carry the nested prefix.
	outer := fxZip(t, fxZipEntry{Name: "vendored/pkg-1.0.tar.gz", Body: string(data), Method: zip.Store})
	res = fxScanner(t, fxLimits(), fxRules).Scan(context.Background(), "x.whl", outer)
	if m := fxMatchedPaths(res); res.Err != nil || !slices.Equal(m["vendored/pkg-1.0.tar.gz/pkg-1.0/pkg/__init__.py"], []string{"payload", "payload_py"}) {
		t.Fatalf("nested: %v %q", res.Err, m)
	}
}
