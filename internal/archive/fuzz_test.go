package archive

// Fuzz targets for every archive reader. Each checks the invariants any
// input must keep: no panic, a classed error, the expanded budget and the
// file size limit respected. Run one by hand with, for example,
//
//	go test -run '^$' -fuzz '^FuzzFlattenZip$' -fuzztime 100000x ./internal/archive/
//
// Crashers land in testdata/fuzz/<target>/ and are replayed by go test.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
)

func fuzzLimits() Limits {
	lim := DefaultLimits()
	lim.MaxFileSize = 1 << 20
	lim.MaxExpandedSize = 4 << 20
	lim.MaxFiles = 1000
	return lim
}

// fuzzCheck flattens data and checks the invariants.
func fuzzCheck(t *testing.T, data []byte) {
	t.Helper()
	lim := fuzzLimits()
	var files int64
	start := time.Now()
	defer func() {
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("SLOW %s on %d bytes", d, len(data))
		}
	}()
	fl, err := Flatten(context.Background(), data, lim, func(f *File) error {
		files++
		if int64(len(f.Data)) > lim.MaxFileSize {
			t.Fatalf("visited %s with %d bytes > MaxFileSize %d", DisplayName(f.Path), len(f.Data), lim.MaxFileSize)
		}
		if f.Depth > lim.MaxDepth {
			t.Fatalf("visited %s at depth %d > MaxDepth %d", DisplayName(f.Path), f.Depth, lim.MaxDepth)
		}
		if f.LinkTargets != nil && f.Data != nil {
			t.Fatalf("link %s carries data", DisplayName(f.Path))
		}
		return nil
	}, Options{})
	if err != nil && failure.Class(err) == nil {
		t.Fatalf("error without a class: %v", err)
	}
	if fl.BytesExpanded > lim.MaxExpandedSize || fl.BytesExpanded < 0 {
		t.Fatalf("BytesExpanded %d, limit %d", fl.BytesExpanded, lim.MaxExpandedSize)
	}
	if files > lim.MaxFiles || fl.Files > lim.MaxFiles+1 {
		t.Fatalf("visited %d files, counted %d, limit %d", files, fl.Files, lim.MaxFiles)
	}
	if fxDiff != nil {
		fxDiff(t, data, lim)
	}
}

// fuzzGzip compresses without failing the fuzz run.
func fuzzGzip(data []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

// fuzzTarOf is a tar holding one member, data.
func fuzzTarOf(name string, data []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(data)), Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	return buf.Bytes()
}

// fuzzZipOf is a zip storing one member, data.
func fuzzZipOf(name string, data []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	w.Write(data)
	zw.Close()
	return buf.Bytes()
}

// seedTars are small valid and broken tars.
func seedTars(f *testing.F) [][]byte {
	raw := fixture.Tar(f,
		fixture.File("pkg-1.0/setup.py", "print(1)\n"),
		fixture.File("pkg-1.0/notes.txt", fixture.Payload),
		fixture.Entry{Name: "pkg-1.0/pkg/__init__.py", Type: tar.TypeLink, Link: "pkg-1.0/notes.txt"},
		fixture.Entry{Name: "pkg-1.0/pkg/sym.py", Type: tar.TypeSymlink, Link: "../notes.txt"},
		fixture.Entry{Name: "pkg-1.0/out.py", Type: tar.TypeSymlink, Link: "../../etc/passwd"},
		fixture.Entry{Name: "pkg-1.0/dir/", Type: tar.TypeDir},
	)
	var types []byte
	for _, typ := range []byte{tar.TypeReg, '\x00', tar.TypeCont, tar.TypeFifo, tar.TypeChar, 'Z'} {
		types = append(types, fixture.Pad(append(fixture.TarHeader("f"+string(rune('a'+typ%26)), typ, 3, ""), "abc"...))...)
	}
	types = append(types, fixture.Pad(append(fixture.GNUSparse("sparse.py", 100, [][2]int64{{0, 4}, {50, 4}}), "abcdefgh"...))...)
	types = append(types, fixture.TarEnd()...)
	var pax bytes.Buffer
	tw := tar.NewWriter(&pax)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "x"}})
	tw.WriteHeader(&tar.Header{Name: string(bytes.Repeat([]byte("long/"), 40)) + "a.py", Size: 2, Mode: 0o644, PAXRecords: map[string]string{"path": "p\xffx.py"}})
	tw.Write([]byte("hi"))
	tw.Close()
	return [][]byte{
		raw,
		raw[:len(raw)-700],
		types,
		pax.Bytes(),
		fixture.Tar(f),
		fixture.Tar(f, fixture.File("a", string(make([]byte, 3000)))),
		fuzzTarOf("inner.zip", fixture.Wheel(f)),
		fuzzTarOf("inner.tar.gz", fuzzGzip(raw)),
	}
}

func FuzzFlattenTar(f *testing.F) {
	for _, s := range seedTars(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, data)
	})
}

func FuzzFlattenTarGz(f *testing.F) {
	// The input is checked as is (gzip framing) and gzipped (tar framing).
	for _, s := range seedTars(f) {
		f.Add(s)
		gz := fixture.Gzip(f, s)
		f.Add(gz)
		f.Add(gz[:len(gz)/2])
		f.Add(append(fixture.Gzip(f, s[:len(s)/2]), fixture.Gzip(f, s[len(s)/2:])...))
		f.Add(append(append([]byte(nil), gz...), "trailing garbage"...))
	}
	f.Add(fixture.Gzip(f, []byte("not a tar")))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, data)
		fuzzCheck(t, fuzzGzip(data))
	})
}

func FuzzFlattenTarBz2(f *testing.F) {
	bz := fixture.Hex(fixture.TarBz2Hex)
	f.Add(bz)
	f.Add(bz[:len(bz)/2])
	f.Add(bz[:60])
	f.Add(append(append([]byte(nil), bz...), bz...))
	f.Add(append(append([]byte(nil), bz...), "garbage"...))
	corrupt := append([]byte(nil), bz...)
	corrupt[40] ^= 0x10
	f.Add(corrupt)
	f.Add(fixture.Hex(fixture.Bzip2MemberHex)) // bzip2 of text, no tar
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, data)
	})
}

func FuzzFlattenTarXz(f *testing.F) {
	raw := fixture.Tar(f, fixture.File("pkg/evil.py", fixture.Payload), fixture.File("pkg/b.txt", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
	for _, s := range [][]byte{
		fixture.Xz(f, raw),
		fixture.XzStored(raw),
		fixture.XzBlocks(f, raw, 600),
		append(fixture.Xz(f, raw[:700]), fixture.Xz(f, raw[700:])...),
		xzWithDictionary(f, raw, 40),
		fixture.Hex(fixture.PyXzSHA256Hex),
		fixture.Hex(fixture.PyXzNoCheckHex),
		fixture.Xz(f, []byte("no tar here")),
	} {
		f.Add(s)
		f.Add(s[:len(s)*2/3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, data)
	})
}

func FuzzFlattenZip(f *testing.F) {
	body := "method: " + fixture.Payload + "\n"
	bad := uint32(1)
	w := fixture.Wheel(f)
	for _, s := range [][]byte{
		w,
		w[:len(w)-10],
		append(append([]byte(nil), w...), magicZipEnd...),
		fixture.Zip(f,
			fixture.ZipEntry{Name: "m/bzip2.py", Body: fixture.Bzip2MemberText, Method: zipBzip2, Compressed: fixture.Hex(fixture.Bzip2MemberHex)},
			fixture.ZipEntry{Name: "m/lzma.py", Body: body, Method: zipLZMA, Compressed: fixture.ZipLZMA(f, []byte(body), true), Flags: 0x2},
			fixture.ZipEntry{Name: "m/lzma2.py", Body: body, Method: zipLZMA, Compressed: fixture.ZipLZMA(f, []byte(body), false)},
			fixture.ZipEntry{Name: "m/zstd.py", Body: body, Method: zipZstd, Compressed: fixture.Zstd(f, []byte(body))},
			fixture.ZipEntry{Name: "m/xz.py", Body: body, Method: zipXz, Compressed: fixture.Xz(f, []byte(body))},
		),
		fixture.Zip(f, fixture.ZipEntry{Name: "crc.py", Body: body, Method: zip.Deflate, CRC: &bad}),
		fixture.Zip(f, fixture.ZipEntry{Name: "m99.py", Body: body, Method: 99, Compressed: []byte(body)}),
		fixture.ZipFiles(f, fixture.File("dup.py", "a"), fixture.File("dup.py", "b"), fixture.File("dir/", "")),
		fixture.RewriteCentral(f, fixture.ZipFiles(f, fixture.File("k", "kkkkkkkk")), func(cs []fixture.Central) []fixture.Central { return append(cs, cs[0]) }),
		append([]byte(nil), "PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"...),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, data)
	})
}

func FuzzFlattenNested(f *testing.F) {
	// The input is a member, checked stored in a zip and in a tar.gz.
	raw := fixture.Tar(f, fixture.File("evil.py", fixture.Payload))
	for _, s := range [][]byte{
		fixture.Wheel(f),
		fixture.NestedWheel(f),
		fixture.Gzip(f, raw),
		fixture.Xz(f, raw),
		fixture.Hex(fixture.TarBz2Hex),
		raw,
		fixture.Gzip(f, []byte(`{"a": 1}`)),
		fuzzZipOf("inner.zip", fuzzZipOf("inner2.zip", fixture.Wheel(f))),
		[]byte("PK\x03\x04 broken"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, fuzzZipOf("pkg/member.bin", data))
		fuzzCheck(t, fuzzGzip(fuzzTarOf("pkg-1.0/member.bin", data)))
	})
}
