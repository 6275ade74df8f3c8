package scan

import (
	"archive/tar"
	"archive/zip"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/builtin"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// Rule plans and the content cache must never change a result: every test
// here scans the same distributions with each lever on and off and wants
// identical DistResults (score, rules, files with their rules and scores,
// error and its message, notes, sizes).

// leverRules reference each other in every way that matters to rule plans.
var leverRules = map[string]string{
	"a_helpers": `
private rule helper_marker { strings: $h = "HELPER_MARK" condition: $h }
private rule helper_exec { strings: $e = /exec\s*\(/ condition: $e }
// no filetype: counts everywhere
rule base_marker { meta: weight = 2 strings: $b = "BASE_MARK" condition: $b }
rule txt_marker { meta: weight = 1 filetype = ".txt .cfg" strings: $t = "TXT_MARK" condition: $t }
`,
	"b_rules": `
import "math"
// public referencing private
rule py_helper { meta: weight = 3 filetype = ".py" condition: helper_marker }
// filetype rule referencing a rule without filetype (and a private one)
rule py_on_base { meta: weight = 4 filetype = ".py .pyw" condition: base_marker and helper_exec }
// rule without filetype referencing a filetype rule
rule any_on_txt { meta: weight = 5 condition: txt_marker and filesize < 100000 }
// suffix semantics: counts for setup.py and mysetup.py, not setup.pyc
rule setup_hook { meta: weight = 7 filetype = "setup.py" strings: $s = "SETUP_MARK" condition: $s and helper_exec }
// a rule-set wildcard
rule pth_wild { meta: weight = 6 filetype = ".pth" strings: $i = "import " condition: $i and any of (helper*) }
rule payload { meta: weight = 10 strings: $a = "EVIL_PAYLOAD" condition: $a }
rule payload_py { meta: weight = 5 filetype = ".py" strings: $a = "EVIL_PAYLOAD" condition: $a }
rule sh_only { meta: weight = 1 filetype = ".sh" strings: $a = "EVIL_PAYLOAD" condition: $a and not base_marker }
rule entropy_bin { meta: weight = 1 filetype = ".bin" condition: filesize > 64 and math.entropy(0, filesize) > 7.0 }
// matches once per byte of a run of Q: libyara's match limit
rule flood { meta: weight = 1 filetype = ".py" strings: $q = "QQQQ" condition: $q }
`,
	"b_tricky": `
/* a comment with } rule fake { condition: true } */
rule tricky_text : tag1 tag2
{
    meta:
        weight = 1
        filetype = ".js"
        description = "a } brace and rule x {"
    strings:
        $h = { 4D 5A [2-4] 90 // } rule in a hex comment
        }
        $r = /x{2,3}\}rule/
        $s = "}\" rule"
    condition:
        any of them and not (pth_wild or setup_hook)
}
`,
	"c_global": `
// sorted last, yet it gates every rule of the namespace
global private rule not_blocked { strings: $x = "GLOBAL_BLOCK" condition: not $x }
`,
}

// leverBodies and leverNames make the generated corpus: every body under
// every name.
var leverBodies = []string{
	"",
	"nothing to see",
	"HELPER_MARK",
	"x = 1\nHELPER_MARK; exec (code)\nBASE_MARK\n",
	"TXT_MARK in a text",
	"SETUP_MARK\nexec(open('x').read())\n",
	"import site; HELPER_MARK\n",
	"EVIL_PAYLOAD",
	"EVIL_PAYLOAD BASE_MARK",
	"EVIL_PAYLOAD and GLOBAL_BLOCK",
	"TXT_MARK HELPER_MARK BASE_MARK SETUP_MARK EVIL_PAYLOAD exec( import " + strings.Repeat("padding ", 40),
	strings.Repeat("BASE_MARK padding\n", 30),
	strings.Repeat("QQQQQ", 100) + " EVIL_PAYLOAD",
	"var s = 'xxx}rule'; // HELPER_MARK",
}

var leverNames = []string{
	"pkg/a.py", "pkg/b.pyw", "pkg/c.pth", "setup.py", "pkg/mysetup.py", "pkg/setup.pyc",
	"notes.txt", "conf.cfg", "run.sh", "blob.bin", "README", "pkg/SETUP.PY", "web/app.js",
}

func leverBinary() string {
	b := make([]byte, 4096)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return string(b)
}

type leverDist struct {
	name string
	data []byte
}

// leverCorpus returns the generated and fixture distributions.
func leverCorpus(tb testing.TB) []leverDist {
	bodies := append(slices.Clone(leverBodies), leverBinary())
	var grid []fixture.Entry
	for i, b := range bodies {
		for _, n := range leverNames {
			grid = append(grid, fixture.File(fmt.Sprintf("grid/b%02d/%s", i, n), b))
		}
	}
	// Links: bodies stored under neutral names, linked under every name;
	// aliases that keep their target's suffix need no second pass.
	var linked []fixture.Entry
	for i, b := range bodies {
		linked = append(linked, fixture.File(fmt.Sprintf("store/b%02d.dat", i), b), fixture.File(fmt.Sprintf("store/b%02d.py", i), b))
		for j, n := range leverNames {
			name := fmt.Sprintf("links/b%02d/%s", i, n)
			ups := strings.Repeat("../", strings.Count(path.Dir(name), "/")+1)
			typ, link := byte(tar.TypeSymlink), fmt.Sprintf("%sstore/b%02d.dat", ups, i)
			if j%2 == 1 {
				typ, link = tar.TypeLink, fmt.Sprintf("store/b%02d.dat", i)
			}
			linked = append(linked, fixture.Entry{Name: name, Type: typ, Link: link})
		}
	}
	var aliases []fixture.Entry
	for i, b := range bodies {
		aliases = append(aliases, fixture.File(fmt.Sprintf("pkg/m%02d.py", i), b), fixture.File(fmt.Sprintf("pkg/t%02d.txt", i), b),
			fixture.Entry{Name: fmt.Sprintf("alias/m%02d.py", i), Type: tar.TypeSymlink, Link: fmt.Sprintf("../pkg/m%02d.py", i)},
			fixture.Entry{Name: fmt.Sprintf("alias/t%02d.cfg", i), Type: tar.TypeLink, Link: fmt.Sprintf("pkg/t%02d.txt", i)})
	}
	gridTgz := fixture.Gzip(tb, fixture.Tar(tb, grid...))
	gridZip := fixture.ZipFiles(tb, grid...)
	linkTgz := fixture.Gzip(tb, fixture.Tar(tb, linked...))
	aliasTgz := fixture.Gzip(tb, fixture.Tar(tb, aliases...))
	dups := []fixture.Entry{
		fixture.File("pkg/__init__.py", "clean"), fixture.File("pkg/__init__.py", "EVIL_PAYLOAD HELPER_MARK"),
		fixture.File("notes.txt", "TXT_MARK"), fixture.File("notes.txt", "clean"),
		{Name: "pkg/alias.py", Type: tar.TypeSymlink, Link: "../notes.txt"},
	}
	// A string of a .py rule reaches libyara's match limit: in a .txt file,
	// where that rule cannot count, the file does not fail (the whole set
	// sees the flood, a plan does not); in a .py file it fails, and so
	// does a link that gives the .txt file a .py name.
	floodBody := strings.Repeat("Q", rules.MatchLimit+10)
	flood := fixture.Zip(tb,
		fixture.ZipEntry{Name: "pkg/evil.py", Body: "EVIL_PAYLOAD HELPER_MARK", Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/below.txt", Body: strings.Repeat("Q", rules.MatchLimit-1), Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/flood.txt", Body: floodBody, Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/late.py", Body: "EVIL_PAYLOAD", Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/flood.py", Body: floodBody, Method: zip.Deflate},
	)
	floodLink := fixture.Gzip(tb, fixture.Tar(tb,
		fixture.File("pkg/flood.txt", floodBody+" BASE_MARK"),
		fixture.Entry{Name: "pkg/alias.cfg", Type: tar.TypeLink, Link: "pkg/flood.txt"},
		fixture.Entry{Name: "pkg/alias.py", Type: tar.TypeSymlink, Link: "flood.txt"},
	))
	row2zip := fixture.ZipFiles(tb, fixture.File("pkg/__init__.py", "clean"), fixture.File("pkg/__init__.py", fixture.Payload))
	row17 := fixture.Gzip(tb, fixture.Tar(tb, append(fixture.Row17Links(),
		fixture.Entry{Name: "pkg-1.0/out.py", Type: tar.TypeSymlink, Link: "../../etc/passwd"})...))
	return []leverDist{
		{"grid-1.0.tar.gz", gridTgz},
		{"grid-1.0-py3-none-any.whl", gridZip},
		{"links-1.0.tar.gz", linkTgz},
		{"alias-1.0.tar.gz", aliasTgz},
		{"nested-links.whl", fixture.Zip(tb, fixture.ZipEntry{Name: "vendored/links.tar.gz", Body: string(linkTgz), Method: zip.Store},
			fixture.ZipEntry{Name: "vendored/grid.zip", Body: string(gridZip), Method: zip.Store})},
		{"nested-zip.tar.gz", fixture.Gzip(tb, fixture.Tar(tb, fixture.File("pkg/data/grid.whl", string(gridZip)), fixture.File("pkg/a.py", "HELPER_MARK")))},
		{"dups.tar.gz", fixture.Gzip(tb, fixture.Tar(tb, dups...))},
		{"dups.zip", fixture.ZipFiles(tb, dups[:4]...)},
		{"flood.whl", flood},
		{"flood-link.tar.gz", floodLink},
		{"wheel.whl", fixture.Wheel(tb)},
		{"nested.whl", fixture.NestedWheel(tb)},
		{"row2.zip", row2zip},
		{"row17.tar.gz", row17},
		{"bz2.tar.bz2", fixture.Hex(fixture.TarBz2Hex)},
		{"broken.whl", fixture.ZipFiles(tb, fixture.File("pkg/a.py", "EVIL_PAYLOAD"), fixture.File("pkg/bad.zip", "PK\x03\x04 not a zip"))},
	}
}

func leverLimits() archive.Limits {
	lim := fxLimits()
	lim.MaxFileSize = 2 << 20
	lim.MaxExpandedSize = 32 << 20
	lim.MaxRatio = 1 << 20
	return lim
}

// leverScan scans every distribution with one scanner; the prefilter is
// on with any other lever.
func leverScan(tb testing.TB, rs *rules.RuleSet, lim archive.Limits, plans bool, cache *Cache, dists []leverDist) []DistResult {
	return leverScanWith(tb, rs, lim, plans, cache, plans || cache != nil, dists)
}

func leverScanWith(tb testing.TB, rs *rules.RuleSet, lim archive.Limits, plans bool, cache *Cache, prefilter bool, dists []leverDist) []DistResult {
	tb.Helper()
	s, err := New(rs, Options{Limits: lim, Speed: Speed{RulePlans: plans, Prefilter: prefilter}, Cache: cache})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	out := make([]DistResult, len(dists))
	for i, d := range dists {
		out[i] = *s.Scan(context.Background(), d.name, d.data)
	}
	return out
}

// sameResults compares results field by field, errors by message.
func sameResults(tb testing.TB, label string, want, got []DistResult) {
	tb.Helper()
	for i := range want {
		w, g := want[i], got[i]
		if (w.Err == nil) != (g.Err == nil) || (w.Err != nil && (w.Err.Error() != g.Err.Error() || failure.Class(w.Err) != failure.Class(g.Err))) {
			tb.Errorf("%s: %s: err %v, want %v", label, w.Target, g.Err, w.Err)
		}
		w.Err, g.Err = nil, nil
		if !reflect.DeepEqual(w, g) {
			tb.Errorf("%s: %s differs:\n got %+v\nwant %+v", label, w.Target, g, w)
		}
	}
}

// leverVariants scans dists with each lever and both, cold and warm, and
// in parallel, and compares everything with the plain scan. uncached is
// the number of files the warm pass must miss, with plans off and on:
// those where a string reached libyara's match limit, failing them or not,
// since they are never cached.
func leverVariants(t *testing.T, rs *rules.RuleSet, lim archive.Limits, dists []leverDist, uncached map[bool]int64) []DistResult {
	want := leverScan(t, rs, lim, false, nil, dists)
	sameResults(t, "plans", want, leverScan(t, rs, lim, true, nil, dists))
	sameResults(t, "prefilter", want, leverScanWith(t, rs, lim, false, nil, true, dists))
	sameResults(t, "plans without prefilter", want, leverScanWith(t, rs, lim, true, nil, false, dists))

	for _, plans := range []bool{false, true} {
		for _, minSize := range []int{0, CacheMinFileSize} {
			label := fmt.Sprintf("cache (plans %v, files from %d bytes)", plans, minSize)
			c := NewCache(0)
			c.minSize = minSize
			sameResults(t, label+" cold", want, leverScan(t, rs, lim, plans, c, dists))
			before := c.Stats()
			sameResults(t, label+" warm", want, leverScan(t, rs, lim, plans, c, dists))
			if after := c.Stats(); after.Misses-before.Misses != uncached[plans] || after.Hits == before.Hits {
				t.Errorf("%s: warm pass %+v after %+v: want hits only but for %d files", label, after, before, uncached[plans])
			}
			// A tiny cache evicts all the time: still the same results.
			c = NewCache(4096)
			c.minSize = minSize
			sameResults(t, label+" tiny", want, leverScan(t, rs, lim, plans, c, dists))
		}
	}
	// Scanners of one process share one cache.
	c := NewCache(0)
	c.minSize = 0
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sameResults(t, fmt.Sprintf("shared cache, worker %d", w), want, leverScan(t, rs, lim, w != 1, c, dists))
		}()
	}
	wg.Wait()
	return want
}

func TestLeversKeepResults(t *testing.T) {
	rs, err := rules.Compile("", leverRules)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	dists := leverCorpus(t)
	// Misses of the warm pass: flood.whl's flood.py, which fails, and,
	// where the whole set matches it (every file without plans; with
	// plans, the second pass of flood-link.tar.gz for its link), a
	// flood.txt of each flood fixture.
	want := leverVariants(t, rs, leverLimits(), dists, map[bool]int64{false: 3, true: 2})

	// Plans were really used: every name of the corpus has a plan of its
	// own (a reduced set compiled, or nothing to match), never the whole
	// set, which is what a compile error of a reduced set falls back to;
	// several distinct reduced sets.
	p, err := rules.NewPlans(rs, leverLimits().YaraTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reduced := map[*rules.Matcher]bool{}
	for _, name := range leverNames {
		switch pl := p.For(name); {
		case pl == p.Whole():
			t.Errorf("%s: the whole set (plans off, or the reduced set failed)", name)
		case pl.M != nil:
			reduced[pl.M] = true
		}
	}
	if len(reduced) < 5 {
		t.Errorf("%d reduced plans compiled for %d names", len(reduced), len(leverNames))
	}

	// The corpus exercises what it should: matches of every rule, counted
	// through links, the match limit, a note.
	counted := map[string]bool{}
	for _, r := range want {
		for _, h := range r.Rules {
			counted[h.Name] = true
		}
	}
	for _, r := range rs.Rules() {
		if !r.Private && !counted[r.Name] {
			t.Errorf("rule %s never counted in the corpus", r.Name)
		}
	}
	byTarget := map[string]DistResult{}
	for _, r := range want {
		byTarget[r.Target] = r
	}
	if r := byTarget["flood.whl"]; failure.Class(r.Err) != failure.ErrTimeout || !strings.Contains(r.Err.Error(), "pkg/flood.py") ||
		!slices.Contains(fxMatchedPaths(&r)["pkg/late.py"], "payload_py") {
		t.Errorf("flood.whl: err %v, want the match limit on pkg/flood.py after pkg/late.py's findings", r.Err)
	}
	if r := byTarget["flood-link.tar.gz"]; failure.Class(r.Err) != failure.ErrTimeout || !strings.Contains(r.Err.Error(), "pkg/alias.py") ||
		!slices.Contains(fxMatchedPaths(&r)["pkg/alias.cfg"], "base_marker") {
		t.Errorf("flood-link.tar.gz: err %v, want the match limit on the link pkg/alias.py after pkg/alias.cfg's findings", r.Err)
	}
	if m := fxMatchedPaths(ptr(byTarget["row17.tar.gz"])); !reflect.DeepEqual(m["pkg-1.0/pkg/__init__.py"], []string{"payload", "payload_py"}) {
		t.Errorf("row17: link rules %q", m["pkg-1.0/pkg/__init__.py"])
	}
	if m := fxMatchedPaths(ptr(byTarget["links-1.0.tar.gz"])); !reflect.DeepEqual(m["links/b03/pkg/a.py"], []string{"base_marker", "py_helper", "py_on_base"}) {
		t.Errorf("links: link rules %q", m["links/b03/pkg/a.py"])
	}
	if len(byTarget["broken.whl"].Notes) == 0 {
		t.Error("broken.whl: no note")
	}
}

func ptr[T any](v T) *T { return &v }

// TestLeversKeepResultsBuiltin: the built-in rules over the demo
// distributions and over Python's own library, when installed.
func TestLeversKeepResultsBuiltin(t *testing.T) {
	rs, err := rules.Compile("", builtin.Sources())
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var dists []leverDist
	paths, _ := filepath.Glob("../samples/dist/*")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dists = append(dists, leverDist{filepath.Base(p), b})
	}
	if files := fixture.PythonLibrary(t, 2<<20); len(files) > 0 {
		// The same library files as an sdist and a wheel, and renamed to
		// other suffixes, linked, and with setup.py and .pth names.
		var renamed []fixture.Entry
		for i, f := range files[:min(len(files), 100)] {
			suffix := []string{".pth", ".txt", "/setup.py", ".sh", ".bat"}[i%5]
			renamed = append(renamed, fixture.File(f.Name+suffix, f.Body),
				fixture.Entry{Name: f.Name + ".link.py", Type: tar.TypeSymlink, Link: filepath.Base(f.Name + suffix)})
		}
		dists = append(dists,
			leverDist{"stdlib-1.0.tar", fixture.Tar(t, files...)},
			leverDist{"stdlib-1.0-py3-none-any.whl", fixture.ZipOf(t, zip.Store, files...)},
			leverDist{"renamed-1.0.tar", fixture.Tar(t, renamed...)},
		)
	}
	// Files only the rules without a filetype meet, where the prefilter
	// works: a hit, near misses, binary data.
	rng := rand.New(rand.NewPCG(3, 4))
	blob := make([]byte, 300<<10)
	for i := range blob {
		blob[i] = byte(rng.IntN(256))
	}
	dists = append(dists, leverDist{"data-1.0.tar", fixture.Tar(t,
		fixture.File("data/pool.json", `{"url": "stratum+tcp://pool.example:3333"}`),
		fixture.File("data/abstract.txt", "an abstract of the strategy; STRATUM alone"),
		fixture.File("data/xmrig.txt", "XMRig without a pool"),
		fixture.File("data/xmrig-pool.cfg", "xmrig --donate-level 1"),
		fixture.File("data/libx.so", string(blob)),
		fixture.File("data/notes.txt", strings.Repeat("plain notes\n", 1000)),
	)})
	want := leverVariants(t, rs, archive.DefaultLimits(), dists, nil)
	s, err := New(rs, Options{Limits: archive.DefaultLimits(), Speed: DefaultSpeed()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, d := range dists {
		s.Scan(context.Background(), d.name, d.data)
	}
	if s.Prefiltered() == 0 {
		t.Error("the prefilter answered for no file")
	}
	for _, r := range want {
		t.Logf("%s: score %d, %d files matched, err %v", r.Target, r.Score, len(r.Files), r.Err)
	}
}
