package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

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

type benchFile = fxEntry

func benchFiles(count, size int) []benchFile {
	rng := rand.New(rand.NewPCG(1, 2))
	files := make([]benchFile, count)
	for i := range files {
		files[i] = fxFile(fmt.Sprintf("pkg-1.0/pkg/mod%05d.py", i), string(pythonish(rng, size/2+rng.IntN(size))))
	}
	return files
}

func buildTarGz(tb testing.TB, files []benchFile) []byte { return fxGzip(tb, fxTar(tb, files...)) }

func buildZipArchive(tb testing.TB, files []benchFile, method uint16) []byte {
	entries := make([]fxZipEntry, len(files))
	for i, f := range files {
		entries[i] = fxZipEntry{Name: f.Name, Body: f.Body, Method: method}
	}
	return fxZip(tb, entries...)
}

func expandedSize(files []benchFile) int64 {
	var n int64
	for _, f := range files {
		n += int64(len(f.Body))
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
	data := make([][]byte, len(files))
	for i, f := range files {
		data[i] = []byte(f.Body)
	}
	var idx []int32
	for b.Loop() {
		for _, d := range data {
			var err error
			if idx, err = m.Match(d, idx[:0]); err != nil {
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
		files[i] = fxFile(fmt.Sprintf("pkg/m%06d.py", i), "x = 1\n")
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
