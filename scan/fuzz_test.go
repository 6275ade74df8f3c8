package scan

// Fuzz targets for every archive reader. Each checks the invariants any
// input must keep: no panic, a classed error, the expanded budget and the
// file size limit respected. Run one by hand with, for example,
//
//	go test -run '^$' -fuzz '^FuzzFlattenZip$' -fuzztime 20s ./scan/
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
	})
	if err != nil && Class(err) == nil {
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
	raw := fxTar(f,
		fxFile("pkg-1.0/setup.py", "print(1)\n"),
		fxFile("pkg-1.0/notes.txt", fxPayload),
		fxEntry{Name: "pkg-1.0/pkg/__init__.py", Type: tar.TypeLink, Link: "pkg-1.0/notes.txt"},
		fxEntry{Name: "pkg-1.0/pkg/sym.py", Type: tar.TypeSymlink, Link: "../notes.txt"},
		fxEntry{Name: "pkg-1.0/out.py", Type: tar.TypeSymlink, Link: "../../etc/passwd"},
		fxEntry{Name: "pkg-1.0/dir/", Type: tar.TypeDir},
	)
	var types []byte
	for _, typ := range []byte{tar.TypeReg, '\x00', tar.TypeCont, tar.TypeFifo, tar.TypeChar, 'Z'} {
		types = append(types, fxPad(append(fxTarHeader("f"+string(rune('a'+typ%26)), typ, 3, ""), "abc"...))...)
	}
	types = append(types, fxPad(append(fxGNUSparse("sparse.py", 100, [][2]int64{{0, 4}, {50, 4}}), "abcdefgh"...))...)
	types = append(types, fxTarEnd()...)
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
		fxTar(f),
		fxTar(f, fxFile("a", string(make([]byte, 3000)))),
		fuzzTarOf("inner.zip", wheel(f)),
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
		gz := fxGzip(f, s)
		f.Add(gz)
		f.Add(gz[:len(gz)/2])
		f.Add(append(fxGzip(f, s[:len(s)/2]), fxGzip(f, s[len(s)/2:])...))
		f.Add(append(append([]byte(nil), gz...), "trailing garbage"...))
	}
	f.Add(fxGzip(f, []byte("not a tar")))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, data)
		fuzzCheck(t, fuzzGzip(data))
	})
}

func FuzzFlattenTarBz2(f *testing.F) {
	bz := fxHex(fxTarBz2Hex)
	f.Add(bz)
	f.Add(bz[:len(bz)/2])
	f.Add(bz[:60])
	f.Add(append(append([]byte(nil), bz...), bz...))
	f.Add(append(append([]byte(nil), bz...), "garbage"...))
	corrupt := append([]byte(nil), bz...)
	corrupt[40] ^= 0x10
	f.Add(corrupt)
	f.Add(fxHex(fxBzip2MemberHex)) // bzip2 of text, no tar
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, data)
	})
}

func FuzzFlattenTarXz(f *testing.F) {
	raw := fxTar(f, fxFile("pkg/evil.py", fxPayload), fxFile("pkg/b.txt", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
	for _, s := range [][]byte{
		fxXz(f, raw),
		fxXzStored(raw),
		fxXzBlocks(f, raw, 600),
		append(fxXz(f, raw[:700]), fxXz(f, raw[700:])...),
		xzWithDictionary(f, raw, 40),
		fxHex(fxPyXzSHA256Hex),
		fxHex(fxPyXzNoCheckHex),
		fxXz(f, []byte("no tar here")),
	} {
		f.Add(s)
		f.Add(s[:len(s)*2/3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, data)
	})
}

func FuzzFlattenZip(f *testing.F) {
	body := "method: " + fxPayload + "\n"
	bad := uint32(1)
	w := wheel(f)
	for _, s := range [][]byte{
		w,
		w[:len(w)-10],
		append(append([]byte(nil), w...), magicZipEnd...),
		fxZip(f,
			fxZipEntry{Name: "m/bzip2.py", Body: fxBzip2MemberText, Method: zipBzip2, Compressed: fxHex(fxBzip2MemberHex)},
			fxZipEntry{Name: "m/lzma.py", Body: body, Method: zipLZMA, Compressed: fxZipLZMA(f, []byte(body), true), Flags: 0x2},
			fxZipEntry{Name: "m/lzma2.py", Body: body, Method: zipLZMA, Compressed: fxZipLZMA(f, []byte(body), false)},
			fxZipEntry{Name: "m/zstd.py", Body: body, Method: zipZstd, Compressed: fxZstd(f, []byte(body))},
			fxZipEntry{Name: "m/xz.py", Body: body, Method: zipXz, Compressed: fxXz(f, []byte(body))},
		),
		fxZip(f, fxZipEntry{Name: "crc.py", Body: body, Method: zip.Deflate, CRC: &bad}),
		fxZip(f, fxZipEntry{Name: "m99.py", Body: body, Method: 99, Compressed: []byte(body)}),
		fxZipFiles(f, fxFile("dup.py", "a"), fxFile("dup.py", "b"), fxFile("dir/", "")),
		fxRewriteCentral(f, fxZipFiles(f, fxFile("k", "kkkkkkkk")), func(cs []fxCentral) []fxCentral { return append(cs, cs[0]) }),
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
	raw := fxTar(f, fxFile("evil.py", fxPayload))
	for _, s := range [][]byte{
		wheel(f),
		nestedWheel(f),
		fxGzip(f, raw),
		fxXz(f, raw),
		fxHex(fxTarBz2Hex),
		raw,
		fxGzip(f, []byte(`{"a": 1}`)),
		fuzzZipOf("inner.zip", fuzzZipOf("inner2.zip", wheel(f))),
		[]byte("PK\x03\x04 broken"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, fuzzZipOf("pkg/member.bin", data))
		fuzzCheck(t, fuzzGzip(fuzzTarOf("pkg-1.0/member.bin", data)))
	})
}
