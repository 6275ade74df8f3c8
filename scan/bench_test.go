package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/vipyrsec/dragonfly-client-go/scan/builtin"
)

// pythonish returns n bytes of deterministic, Python-looking source: real
// sdists compress about 4:1, and so does this.
func pythonish(rng *rand.Rand, n int) []byte {
	words := strings.Fields(`def class return import from self if else elif for while in not and or None True False
		requests json os sys path value result items config logger data response session client error raise try except
		with open read write append update format join split strip lower len range dict list str int float`)
	var b bytes.Buffer
	for b.Len() < n {
		indent := strings.Repeat("    ", rng.IntN(3))
		b.WriteString(indent)
		for w := 0; w < 3+rng.IntN(8); w++ {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(" .(,=:"[rng.IntN(6)])
		}
		fmt.Fprintf(&b, "%d\n", rng.IntN(1000))
	}
	return b.Bytes()[:n]
}

type benchFile struct {
	name string
	data []byte
}

func benchFiles(count, size int) []benchFile {
	rng := rand.New(rand.NewPCG(1, 2))
	files := make([]benchFile, count)
	for i := range files {
		files[i] = benchFile{fmt.Sprintf("pkg-1.0/pkg/mod%05d.py", i), pythonish(rng, size/2+rng.IntN(size))}
	}
	return files
}

func buildTarGz(tb testing.TB, files []benchFile) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		tw.Write(f.data)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func buildZipArchive(tb testing.TB, files []benchFile, method uint16) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: method})
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(f.data)
	}
	zw.Close()
	return buf.Bytes()
}

func expandedSize(files []benchFile) int64 {
	var n int64
	for _, f := range files {
		n += int64(len(f.data))
	}
	return n
}

func benchFlatten(b *testing.B, data []byte, files []benchFile) {
	lim := DefaultLimits()
	b.SetBytes(expandedSize(files))
	b.ReportAllocs()
	for b.Loop() {
		_, err := Flatten(context.Background(), data, lim, func(*File) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkFlattenTarGz: inflate and split an sdist-shaped tarball.
func BenchmarkFlattenTarGz(b *testing.B) {
	files := benchFiles(400, 16<<10)
	benchFlatten(b, buildTarGz(b, files), files)
}

// BenchmarkFlattenWheel: the same files as a deflated zip.
func BenchmarkFlattenWheel(b *testing.B) {
	files := benchFiles(400, 16<<10)
	benchFlatten(b, buildZipArchive(b, files, zip.Deflate), files)
}

func builtinScanner(b *testing.B) *Scanner {
	rs, err := Compile("", builtin.Sources())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rs.Close)
	s, err := NewScanner(rs, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// BenchmarkMatch: YARA alone over the files, with the built-in rules.
func BenchmarkMatch(b *testing.B) {
	files := benchFiles(400, 16<<10)
	m := builtinScanner(b).m
	b.SetBytes(expandedSize(files))
	b.ReportAllocs()
	var idx []int32
	for b.Loop() {
		for _, f := range files {
			var err error
			if idx, err = m.Match(f.data, idx[:0]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkScanTarGz: flatten, match and score one sdist end to end.
func BenchmarkScanTarGz(b *testing.B) {
	files := benchFiles(400, 16<<10)
	data := buildTarGz(b, files)
	s := builtinScanner(b)
	b.SetBytes(expandedSize(files))
	b.ReportAllocs()
	for b.Loop() {
		if res := s.Scan(context.Background(), "pkg-1.0.tar.gz", data); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

// BenchmarkScanTinyFiles: per-file overhead, 100,000 tiny files in one zip.
func BenchmarkScanTinyFiles(b *testing.B) {
	files := make([]benchFile, 100_000)
	for i := range files {
		files[i] = benchFile{fmt.Sprintf("pkg/m%06d.py", i), []byte("x = 1\n")}
	}
	data := buildZipArchive(b, files, zip.Store)
	s := builtinScanner(b)
	b.ReportAllocs()
	for b.Loop() {
		if res := s.Scan(context.Background(), "tiny-1.0.zip", data); res.Err != nil || res.FilesScanned != 100_000 {
			b.Fatal(res.Err, res.FilesScanned)
		}
	}
	b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}
