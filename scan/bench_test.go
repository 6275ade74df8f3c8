package scan

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/builtin"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

type benchFile = fixture.Entry

func benchFiles(count, size int) []benchFile {
	rng := rand.New(rand.NewPCG(1, 2))
	files := make([]benchFile, count)
	for i := range files {
		files[i] = fixture.File(fmt.Sprintf("pkg-1.0/pkg/mod%05d.py", i), string(fixture.Pythonish(rng, size/2+rng.IntN(size))))
	}
	return files
}

func expandedSize(files []benchFile) int64 {
	var n int64
	for _, f := range files {
		n += int64(len(f.Body))
	}
	return n
}

func benchFlatten(b *testing.B, data []byte, files []benchFile) {
	lim := archive.DefaultLimits()
	b.SetBytes(expandedSize(files))
	b.ReportAllocs()
	for b.Loop() {
		_, err := archive.Flatten(context.Background(), data, lim, func(*archive.File) error { return nil }, archive.Options{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkFlattenTarGz: inflate and split an sdist-shaped tarball.
func BenchmarkFlattenTarGz(b *testing.B) {
	files := benchFiles(400, 16<<10)
	benchFlatten(b, fixture.TarGz(b, files...), files)
}

// BenchmarkFlattenWheel: the same files as a deflated zip.
func BenchmarkFlattenWheel(b *testing.B) {
	files := benchFiles(400, 16<<10)
	benchFlatten(b, fixture.ZipOf(b, zip.Deflate, files...), files)
}

// BenchmarkFlattenReal: real files (16 MiB of the machine's Python
// library; 24 MiB of its shared libraries, larger and less compressible)
// as an sdist-shaped tar.gz and as a wheel. Run it with and without the
// build tag isal to compare the inflate paths (internal/archive/inflate_isal.go).
func BenchmarkFlattenReal(b *testing.B) {
	for _, set := range []struct {
		name  string
		files []benchFile
	}{
		{"python", fixture.PythonLibrary(b, 16<<20)},
		{"native", nativeLibFiles(b, 24<<20)},
	} {
		if len(set.files) == 0 {
			continue
		}
		b.Run(set.name+"/tar.gz", func(b *testing.B) { benchFlatten(b, fixture.TarGz(b, set.files...), set.files) })
		b.Run(set.name+"/wheel", func(b *testing.B) { benchFlatten(b, fixture.ZipOf(b, zip.Deflate, set.files...), set.files) })
	}
}

// BenchmarkFlattenSmallDeflated: per-file overhead of deflated members,
// 20,000 of them in a wheel (Python's zipfile deflates even empty files):
// 6-byte ones, which stay on the Go decoder with either build, and
// 200-byte ones.
func BenchmarkFlattenSmallDeflated(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, size := range []int{6, 200} {
		files := make([]benchFile, 20_000)
		for i := range files {
			body := "x = 1\n"
			if size > len(body) {
				body = string(fixture.Pythonish(rng, size))
			}
			files[i] = fixture.File(fmt.Sprintf("pkg/m%05d.py", i), body)
		}
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			benchFlatten(b, fixture.ZipOf(b, zip.Deflate, files...), files)
		})
	}
}

// nativeLibFiles returns up to max bytes of the machine's shared libraries
// (each under 4 MiB), sorted by name, or nothing when there are none.
func nativeLibFiles(tb testing.TB, max int64) []benchFile {
	paths, _ := filepath.Glob("/usr/lib/x86_64-linux-gnu/*.so*")
	var files []benchFile
	var total int64
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 4<<20 || total+fi.Size() > max {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		files = append(files, fixture.File("pkg/.libs/"+filepath.Base(p), string(b)))
		total += int64(len(b))
	}
	return files
}

// builtinScanner returns a scanner of the built-in rules with speed sp and
// cache c (nil: none).
func builtinScanner(b *testing.B, sp Speed, c *Cache) *Scanner {
	rs, err := rules.Compile("", builtin.Sources())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rs.Close)
	s, err := New(rs, Options{Limits: archive.DefaultLimits(), Speed: sp, Cache: c})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// BenchmarkMatch: YARA alone over the files, with the built-in rules.
func BenchmarkMatch(b *testing.B) {
	files := benchFiles(400, 16<<10)
	m := builtinScanner(b, DefaultSpeed(), nil).plans.Whole().M
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
	data := fixture.TarGz(b, files...)
	s := builtinScanner(b, DefaultSpeed(), nil)
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
		files[i] = fixture.File(fmt.Sprintf("pkg/m%06d.py", i), "x = 1\n")
	}
	data := fixture.ZipOf(b, zip.Store, files...)
	for _, plans := range []bool{false, true} {
		b.Run(fmt.Sprintf("plans=%v", plans), func(b *testing.B) {
			s := builtinScanner(b, Speed{RulePlans: plans, Prefilter: true}, nil)
			b.ReportAllocs()
			for b.Loop() {
				if res := s.Scan(context.Background(), "tiny-1.0.zip", data); res.Err != nil || res.FilesScanned != 100_000 {
					b.Fatal(res.Err, res.FilesScanned)
				}
			}
			b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}

// BenchmarkCacheCost: what a cache lookup (SHA-256 of the file, then a hit)
// costs against matching the file, by file size, with the built-in rules:
// the whole set and the plan of a .py file. CacheMinFileSize comes from it.
func BenchmarkCacheCost(b *testing.B) {
	s := builtinScanner(b, DefaultSpeed(), nil)
	whole := s.plans.Whole().M
	rs := s.RuleSet()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 64, 256, 1 << 10, 4 << 10, 16 << 10} {
		data := fixture.Pythonish(rng, size)
		py := s.plans.For("pkg/mod.py")
		c := NewCache(0)
		c.minSize = 0
		k := cacheKey{sum: sha256.Sum256(data), rules: rs.Hash()}
		c.put(&k, len(rs.Rules()), nil, nil)
		var idx []int32
		for _, bc := range []struct {
			name string
			f    func()
		}{
			{"match", func() { idx, _ = whole.Match(data, idx[:0]) }},
			{"match-py-plan", func() { idx, _ = py.M.Match(data, idx[:0]) }},
			{"hit", func() {
				k := cacheKey{sum: sha256.Sum256(data), rules: rs.Hash()}
				idx, _ = c.get(&k, len(rs.Rules()), nil, idx[:0])
			}},
			{"miss-overhead", func() {
				// hash, lookup and insert without the match: what a miss adds
				k := cacheKey{sum: sha256.Sum256(data), rules: rs.Hash()}
				k.sum[31]++
				idx, _ = c.get(&k, len(rs.Rules()), nil, idx[:0])
				c.put(&k, len(rs.Rules()), idx, nil)
			}},
		} {
			b.Run(fmt.Sprintf("%s/%d", bc.name, size), func(b *testing.B) {
				b.SetBytes(int64(max(size, 1)))
				for b.Loop() {
					bc.f()
				}
			})
		}
	}
}

// leverBench scans dists in turn with the built-in rules, with rule plans
// and the cache (a new one per round: every round starts cold) on or off.
func leverBench(b *testing.B, dists [][]byte, expanded int64, dup float64) {
	for _, mode := range []struct {
		name         string
		plans, cache bool
	}{{"none", false, false}, {"plans", true, false}, {"cache", false, true}, {"both", true, true}} {
		b.Run(mode.name, func(b *testing.B) {
			rs, err := rules.Compile("", builtin.Sources())
			if err != nil {
				b.Fatal(err)
			}
			defer rs.Close()
			sp := Speed{RulePlans: mode.plans, Prefilter: true}
			var s *Scanner
			var c *Cache
			// A scanner's cache is fixed when it is made: with the cache, a
			// new scanner per round (its matchers are cheap to make; the
			// reduced sets are compiled once per rule set).
			newScanner := func() {
				if s != nil {
					s.Close()
				}
				if s, err = New(rs, Options{Limits: archive.DefaultLimits(), Speed: sp, Cache: c}); err != nil {
					b.Fatal(err)
				}
			}
			newScanner()
			defer func() { s.Close() }()
			b.SetBytes(expanded)
			for b.Loop() {
				if mode.cache {
					c = NewCache(0)
					newScanner()
				}
				for i, d := range dists {
					if res := s.Scan(context.Background(), fmt.Sprint(i), d); res.Err != nil {
						b.Fatal(res.Err)
					}
				}
			}
			b.ReportMetric(dup, "dup-share")
			if c != nil {
				st := c.Stats()
				b.ReportMetric(float64(st.Hits)/float64(st.Hits+st.Misses), "hit-ratio")
			}
		})
	}
}

// BenchmarkLeversPython: ordinary Python code (the machine's Python 3.11
// library, 16 MiB of it, as one stored zip so that matching dominates).
func BenchmarkLeversPython(b *testing.B) {
	files := fixture.PythonLibrary(b, 16<<20)
	if len(files) == 0 {
		b.Skip("no /usr/lib/python3.11")
	}
	leverBench(b, [][]byte{fixture.ZipOf(b, zip.Store, files...)}, expandedSize(files), 0)
}

// BenchmarkLeversRelease: a release-shaped set, as PyPI serves it: three
// consecutive versions, each an sdist and three platform wheels. The
// wheels share their Python files and differ in their native libraries;
// each version changes a tenth of the Python files.
func BenchmarkLeversRelease(b *testing.B) {
	dists, expanded, dup := releaseSet(b)
	leverBench(b, dists, expanded, dup)
}

// releaseSet builds the release-shaped set and returns it with its
// expanded size and the share of bytes that repeat an earlier file.
func releaseSet(tb testing.TB) ([][]byte, int64, float64) {
	rng := rand.New(rand.NewPCG(5, 6))
	py := fixture.PythonLibrary(tb, 4<<20)
	if len(py) == 0 {
		py = benchFiles(300, 16<<10)
	}
	for i := range py {
		py[i].Name = "pkg/" + path.Base(path.Dir(py[i].Name)) + "_" + path.Base(py[i].Name)
	}
	native := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return string(b)
	}
	var dists [][]byte
	var expanded, dupBytes int64
	seen := map[string]bool{}
	count := func(files []benchFile) {
		for _, f := range files {
			expanded += int64(len(f.Body))
			if seen[f.Body] {
				dupBytes += int64(len(f.Body))
			}
			seen[f.Body] = true
		}
	}
	for v := range 3 {
		if v > 0 {
			for i := range py {
				if rng.IntN(10) == 0 {
					py[i].Body += fmt.Sprintf("\n__version__ = '1.%d'\n", v)
				}
			}
		}
		sdist := append(slices.Clone(py),
			fixture.File("setup.py", "from setuptools import setup\nsetup(name='pkg')\n"),
			fixture.File("PKG-INFO", fmt.Sprintf("Metadata-Version: 2.1\nName: pkg\nVersion: 1.%d\n", v)))
		for i := range sdist {
			sdist[i].Name = fmt.Sprintf("pkg-1.%d/%s", v, sdist[i].Name)
		}
		count(sdist)
		dists = append(dists, fixture.TarGz(tb, sdist...))
		for _, plat := range []string{"manylinux_x86_64", "manylinux_aarch64", "macosx_arm64"} {
			whl := append(slices.Clone(py),
				fixture.File("pkg/_speedups."+plat+".so", native(400<<10)),
				fixture.File("pkg/libcore."+plat+".so", native(1536<<10)),
				fixture.File(fmt.Sprintf("pkg-1.%d.dist-info/WHEEL", v), "Wheel-Version: 1.0\nTag: "+plat+"\n"))
			count(whl)
			dists = append(dists, fixture.ZipOf(tb, zip.Deflate, whl...))
		}
	}
	return dists, expanded, float64(dupBytes) / float64(expanded)
}
