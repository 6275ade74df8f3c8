package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFile writes data at root/rel, making folders.
func writeFile(t *testing.T, root, rel string, data []byte, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}

// pythonSource is deterministic Python text of about size bytes.
func pythonSource(seed, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\"\"\"Module %d.\"\"\"\n\n", seed)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "def f_%d_%d(x):\n    return x * %d + %d\n\n\n", seed, i, seed, i)
	}
	return b.Bytes()
}

// binary is deterministic pseudo-random bytes behind an ELF magic, the
// stand-in of a shared library or an executable.
func binary(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	out := make([]byte, size)
	for i := range out {
		out[i] = byte(r.Uint32())
	}
	copy(out, "\x7fELF\x02\x01\x01\x00")
	return out
}

// sourceTree writes a small machine of every kind a manifest names (Python
// packages, code, tools, shared libraries, fake samples) under a temporary
// folder and returns its manifest.
func sourceTree(t *testing.T) (manifestPath, root string) {
	t.Helper()
	root = t.TempDir()
	// Two packages large enough for the release-shaped corpus (200 KB to
	// 6 MB), one small one, loose modules and a cache folder excluded.
	for p, pkg := range []string{"alpha", "gamma"} {
		for i := range 40 {
			writeFile(t, root, fmt.Sprintf("py/%s/mod%02d.py", pkg, i), pythonSource(100*p+i, 6000), 0o644)
		}
		writeFile(t, root, "py/"+pkg+"/__init__.py", []byte("from .mod00 import *\n"), 0o644)
	}
	writeFile(t, root, "py/beta/__init__.py", pythonSource(7, 300), 0o644)
	writeFile(t, root, "py/beta/__pycache__/x.pyc", []byte("cache"), 0o644)
	writeFile(t, root, "py/loose1.py", pythonSource(8, 500), 0o644)
	writeFile(t, root, "py/loose2.py", pythonSource(9, 500), 0o644)
	writeFile(t, root, "code/net/http.go", []byte("package http\n\nfunc Get() {}\n"), 0o644)
	writeFile(t, root, "code/net/url/url.go", []byte("package url\n"), 0o644)
	writeFile(t, root, "code/zlib/inflate.c", []byte("int inflate(void) { return 0; }\n"), 0o644)
	writeFile(t, root, "tools/bin/mytool", binary(1, 20000), 0o755)
	writeFile(t, root, "tools/bin/README", []byte("not executable\n"), 0o644)
	writeFile(t, root, "lib/libfoo.so.1", binary(2, 320000), 0o644)
	writeFile(t, root, "lib/libbar.so", binary(3, 350000), 0o644)
	writeFile(t, root, "lib/sub/libbaz.so.2.1", binary(4, 400000), 0o644)
	writeFile(t, root, "lib/notalib.a", binary(5, 1000), 0o644)
	samples := map[string]string{
		"src/totally_harmless-0.1.0/setup.py":                                      "from setuptools import setup\n# hook\nsetup()\n",
		"src/totally_harmless-0.1.0/totally_harmless/__init__.py":                  "exec('blob')\n",
		"src/totally_harmless-0.1.0/totally_harmless/constants.py":                 "PATHS = ['Login Data']\n",
		"nested/totally_harmless-0.1.0/totally_harmless/data/extras.zip/stage2.py": "POOL = 'stratum+tcp://example'\n",
	}
	for rel, body := range samples {
		writeFile(t, root, "samples/"+rel, []byte(body), 0o644)
	}
	manifest := `python py prefix=t_ version=2.0 exclude=__pycache__ zip_every=2
code code prefix=c_ split=30B
tools tools prefix=tool_
native lib prefix=n_ sizes=500KB
inject samples every=2
`
	manifestPath = filepath.Join(root, "manifest.txt")
	writeFile(t, root, "manifest.txt", []byte(manifest), 0o644)
	return manifestPath, root
}

type archiveMember struct {
	Name string
	Data []byte
}

// readArchive returns the members with content of a .tar.gz, .zip or .whl
// in archive order, read with the standard library alone.
func readArchive(t *testing.T, p string) []archiveMember {
	t.Helper()
	var out []archiveMember
	if strings.HasSuffix(p, ".tar.gz") {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, archiveMember{h.Name, data})
		}
		return out
	}
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("%s: %s: %v", p, f.Name, err)
		}
		data, err := io.ReadAll(rc) // checks the CRC
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %s: %v", p, f.Name, err)
		}
		out = append(out, archiveMember{f.Name, data})
	}
	return out
}

// corpusFiles maps each file of a corpus folder to its SHA-256.
func corpusFiles(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func TestCorpusDeterministic(t *testing.T) {
	t.Parallel()
	manifestPath, root := sourceTree(t)
	out := t.TempDir()
	a, b := filepath.Join(out, "a"), filepath.Join(out, "b")
	var log bytes.Buffer
	// Different numbers of writers: the bytes must not depend on the order
	// in which the archives are written.
	idxA, err := makeCorpus(corpusOptions{Manifest: manifestPath, Out: a, Workers: 1}, &log)
	if err != nil {
		t.Fatal(err)
	}
	// Nor on the source files' times, which change the plan (and so the
	// fingerprint) but not a byte of the archives.
	past := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			err = os.Chtimes(p, past, past)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	idxB, err := makeCorpus(corpusOptions{Manifest: manifestPath, Out: b, Workers: 4}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if idxA.Hash != idxB.Hash {
		t.Fatalf("two generations differ: hash %s / %s", idxA.Hash, idxB.Hash)
	}
	if idxA.Fingerprint == idxB.Fingerprint {
		t.Errorf("the fingerprint ignores the source files' times")
	}
	filesA, filesB := corpusFiles(t, a), corpusFiles(t, b)
	if len(filesA) != idxA.Distributions+1 { // + corpus.json
		t.Errorf("%d files in the corpus folder, index lists %d distributions", len(filesA), idxA.Distributions)
	}
	for name, sum := range filesA {
		if name == "corpus.json" {
			continue // holds the paths of the source files, the same here
		}
		if filesB[name] != sum {
			t.Errorf("%s differs between the two generations", name)
		}
	}

	// What was planned is there: every kind, sdists as tar.gz and zip,
	// injected samples, archives that read back with their RECORDs right.
	var kinds []string
	injected := 0
	for _, d := range idxA.Dists {
		for _, prefix := range []string{"t_", "c_", "tool_", "n_"} {
			if strings.HasPrefix(d.File, prefix) && !slices.Contains(kinds, prefix) {
				kinds = append(kinds, prefix)
			}
		}
		if d.Injected != "" {
			injected++
		}
		if strings.Contains(d.File, "pycache") {
			t.Errorf("%s: excluded folder planned", d.File)
		}
		members := readArchive(t, filepath.Join(a, d.File))
		if len(members) != d.Members {
			t.Errorf("%s: %d members read, index says %d", d.File, len(members), d.Members)
		}
		var expanded int64
		for _, m := range members {
			expanded += int64(len(m.Data))
		}
		if expanded != d.Expanded {
			t.Errorf("%s: %d bytes expanded, index says %d", d.File, expanded, d.Expanded)
		}
		if strings.HasSuffix(d.File, ".whl") {
			checkRecord(t, d.File, members)
		}
	}
	if len(kinds) != 4 {
		t.Errorf("corpus holds distributions of %v, want all four kinds", kinds)
	}
	if injected == 0 {
		t.Error("no distribution carries injected samples")
	}
	for _, want := range []string{"t_alpha-2.0.tar.gz", "t_alpha-2.0-py3-none-any.whl", "t_beta-2.0.zip", "c_net_url-1.0.tar.gz",
		"tool_mytool-1.0-py3-none-manylinux_2_17_x86_64.whl"} {
		if _, ok := filesA[want]; !ok {
			t.Errorf("no %s in the corpus: %v", want, slices.Sorted(maps.Keys(filesA)))
		}
	}

	// Reuse keeps a corpus whose plan is unchanged, and regenerates one
	// whose source changed: the hash follows the bytes.
	log.Reset()
	if _, err := makeCorpus(corpusOptions{Manifest: manifestPath, Out: b, Reuse: true, Workers: 2}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "up to date") {
		t.Errorf("unchanged corpus not reused: %s", log.String())
	}
	writeFile(t, root, "py/alpha/mod03.py", append(pythonSource(3, 6000), "# edited\n"...), 0o644)
	log.Reset()
	idxC, err := makeCorpus(corpusOptions{Manifest: manifestPath, Out: b, Reuse: true, Workers: 2}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "up to date") || idxC.Hash == idxA.Hash || idxC.Fingerprint == idxA.Fingerprint {
		t.Errorf("a changed source file left the corpus as it was (hash %s)", idxC.Hash)
	}
	if got := corpusFiles(t, b); got["t_alpha-2.0.tar.gz"] == filesA["t_alpha-2.0.tar.gz"] || got["t_beta-2.0.zip"] != filesA["t_beta-2.0.zip"] {
		t.Error("the edit should change exactly the distributions holding the file")
	}
}

// checkRecord verifies a wheel's RECORD against its members.
func checkRecord(t *testing.T, file string, members []archiveMember) {
	t.Helper()
	var record []byte
	byName := map[string][]byte{}
	for _, m := range members {
		byName[m.Name] = m.Data
		if strings.HasSuffix(m.Name, ".dist-info/RECORD") {
			record = m.Data
		}
	}
	if record == nil {
		t.Errorf("%s: no RECORD", file)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(record)), "\n")
	if len(lines) != len(members) {
		t.Errorf("%s: RECORD lists %d files, the wheel holds %d", file, len(lines), len(members))
	}
	for _, line := range lines {
		f := strings.Split(line, ",")
		if len(f) != 3 || f[1] == "" {
			continue // RECORD itself
		}
		sum := sha256.Sum256(byName[f[0]])
		if want := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]); f[1] != want || f[2] != fmt.Sprint(len(byName[f[0]])) {
			t.Errorf("%s: RECORD line %q, want %s,%d", file, line, want, len(byName[f[0]]))
		}
	}
}

func TestTinyCorpus(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "tiny")
	idx, err := makeCorpus(corpusOptions{Out: out, Tiny: 1000, Workers: 1}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Mode != "tiny" || idx.Distributions != 1 || idx.Members != 1000 {
		t.Fatalf("index: mode %s, %d distributions, %d members", idx.Mode, idx.Distributions, idx.Members)
	}
	members := readArchive(t, filepath.Join(out, idx.Dists[0].File))
	if len(members) != 1000 || string(members[999].Data) != "x = 1\n" {
		t.Fatalf("%d members", len(members))
	}
	// Every file but the first repeats the first one's bytes.
	if idx.DuplicateBytes != 999*6 {
		t.Errorf("duplicate bytes %d, want %d", idx.DuplicateBytes, 999*6)
	}
}

func TestPrepareOutRefusesForeignFolder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "precious.txt", []byte("keep me"), 0o644)
	_, err := makeCorpus(corpusOptions{Out: dir, Tiny: 10, Workers: 1}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no corpus.json") {
		t.Fatalf("error %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious.txt")); err != nil {
		t.Fatal(err)
	}
}

// distInfo splits a release corpus file name into project, version and
// platform tag ("" for the sdist).
func distInfo(file string) (project, version, tag string) {
	if base, ok := strings.CutSuffix(file, ".tar.gz"); ok {
		i := strings.LastIndex(base, "-")
		return base[:i], base[i+1:], ""
	}
	parts := strings.SplitN(strings.TrimSuffix(file, ".whl"), "-", 3)
	return parts[0], parts[1], parts[2]
}

func TestReleaseCorpus(t *testing.T) {
	t.Parallel()
	manifestPath, _ := sourceTree(t)
	out := filepath.Join(t.TempDir(), "releases")
	idx, err := makeCorpus(corpusOptions{Manifest: manifestPath, Out: out, Releases: true, Quick: true, Workers: 2}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Mode != "releases-quick" {
		t.Fatalf("mode %s", idx.Mode)
	}
	type build struct {
		py   map[string][32]byte // pure-Python files (package folder)
		libs map[string][32]byte // native libraries
		size map[string]int
	}
	// builds[project][version][tag]
	builds := map[string]map[string]map[string]build{}
	libSums := map[string][][32]byte{} // by project
	seen := map[[32]byte]bool{}
	var dupBytes, expanded int64
	for _, d := range idx.Dists { // sorted by file name, the order the index counts in
		project, version, tag := distInfo(d.File)
		b := build{py: map[string][32]byte{}, libs: map[string][32]byte{}, size: map[string]int{}}
		for _, m := range readArchive(t, filepath.Join(out, d.File)) {
			sum := sha256.Sum256(m.Data)
			expanded += int64(len(m.Data))
			if seen[sum] {
				dupBytes += int64(len(m.Data))
			}
			seen[sum] = true
			name := m.Name
			if tag == "" {
				name = strings.TrimPrefix(name, project+"-"+version+"/")
			}
			switch {
			case strings.Contains(name, ".libs/"):
				b.libs[name] = sum
				b.size[name] = len(m.Data)
				libSums[project] = append(libSums[project], sum)
			case strings.HasSuffix(name, ".py") && !strings.Contains(name, "_build/") && name != "setup.py":
				b.py[name] = sum
			}
		}
		if builds[project] == nil {
			builds[project] = map[string]map[string]build{}
		}
		if builds[project][version] == nil {
			builds[project][version] = map[string]build{}
		}
		builds[project][version][tag] = b
	}
	if len(builds) != 2 {
		t.Fatalf("%d projects, want 2 (alpha and gamma): %v", len(builds), slices.Sorted(maps.Keys(builds)))
	}
	for project, versions := range builds {
		if len(versions) != quickShape.Versions {
			t.Errorf("%s: %d versions, want %d", project, len(versions), quickShape.Versions)
		}
		for version, tags := range versions {
			if len(tags) != 1+len(quickShape.Platforms) {
				t.Errorf("%s %s: %d distributions, want the sdist and %d wheels", project, version, len(tags), len(quickShape.Platforms))
			}
			sdist := tags[""]
			first := tags[quickShape.Platforms[0]]
			if len(first.py) < 40 || len(first.libs) != 2 {
				t.Fatalf("%s %s: wheel holds %d Python files and %d libraries", project, version, len(first.py), len(first.libs))
			}
			for _, plat := range quickShape.Platforms {
				w := tags[plat]
				// Pure-Python files: byte-identical in every wheel and the sdist.
				for name, sum := range first.py {
					if w.py[name] != sum || sdist.py[name] != sum {
						t.Errorf("%s %s: %s differs between platforms or from the sdist", project, version, name)
					}
				}
				// Native libraries: same names and sizes, other bytes.
				for name, sum := range first.libs {
					if w.size[name] != first.size[name] {
						t.Errorf("%s %s %s: %s has another size", project, version, plat, name)
					}
					if plat != quickShape.Platforms[0] && w.libs[name] == sum {
						t.Errorf("%s %s: %s is the same on %s and %s", project, version, name, plat, quickShape.Platforms[0])
					}
				}
			}
		}
		// Consecutive versions share most Python files, but not all.
		v0, v1 := versions["1.0.0"][quickShape.Platforms[0]], versions["1.1.0"][quickShape.Platforms[0]]
		same := 0
		for name, sum := range v0.py {
			if v1.py[name] == sum {
				same++
			}
		}
		if same*2 < len(v0.py) || same == len(v0.py) {
			t.Errorf("%s: %d of %d Python files unchanged from 1.0.0 to 1.1.0; want most, not all", project, same, len(v0.py))
		}
	}
	// Every (version, platform) build of a project's libraries is distinct.
	for project, sums := range libSums {
		distinct := map[[32]byte]bool{}
		for _, s := range sums {
			distinct[s] = true
		}
		if want := 2 * quickShape.Versions * len(quickShape.Platforms); len(sums) != want || len(distinct) != len(sums) {
			t.Errorf("%s: %d library builds, %d distinct; want %d distinct", project, len(sums), len(distinct), want)
		}
	}
	// The share of duplicate bytes, recomputed from the archives.
	if expanded != idx.Expanded || dupBytes != idx.DuplicateBytes {
		t.Errorf("index: %d expanded, %d duplicate; archives: %d, %d", idx.Expanded, idx.DuplicateBytes, expanded, dupBytes)
	}
	if want := float64(dupBytes) / float64(expanded); idx.DuplicateShare != want || want < 0.2 || want > 0.8 {
		t.Errorf("duplicate share %.3f, recomputed %.3f (want between 0.2 and 0.8 for this shape)", idx.DuplicateShare, want)
	}
}
