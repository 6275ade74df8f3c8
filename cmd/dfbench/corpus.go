package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// corpusIndex is corpus.json, written beside the distributions: what the
// corpus holds, how it was made, and the figures the benchmark divides by.
type corpusIndex struct {
	Generator string `json:"generator"`
	Mode      string `json:"mode"` // default, quick, releases, releases-quick or tiny
	// Fingerprint identifies the plan (every member's source, size and
	// mtime) and the generator binary: a corpus with the same fingerprint
	// is the same corpus, so --reuse may keep it.
	Fingerprint string `json:"fingerprint"`
	// Hash is the SHA-256 of "sha256  file" lines, sorted by file: the
	// identity of the bytes written.
	Hash           string       `json:"hash"`
	Distributions  int          `json:"distributions"`
	Bytes          int64        `json:"bytes"`
	Expanded       int64        `json:"expanded_bytes"`
	Members        int64        `json:"members"`
	DuplicateBytes int64        `json:"duplicate_bytes"`
	DuplicateShare float64      `json:"duplicate_share"`
	SizeBuckets    []sizeBucket `json:"size_buckets"`
	Warnings       []string     `json:"warnings,omitempty"`
	Dists          []indexDist  `json:"dists"`
}

type indexDist struct {
	File     string `json:"file"`
	Bytes    int64  `json:"bytes"`
	Expanded int64  `json:"expanded_bytes"`
	Members  int    `json:"members"`
	SHA256   string `json:"sha256"`
	Injected string `json:"injected,omitempty"`
}

type sizeBucket struct {
	Label string `json:"label"`
	Count int    `json:"count"`
}

// generatorVersion changes whenever the corpus a manifest gives changes
// meaning; the fingerprint also covers the binary itself.
const generatorVersion = "dfbench corpus 1"

func corpusCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dfbench corpus", flag.ContinueOnError)
	fs.SetOutput(stderr)
	manifestPath := fs.String("manifest", "scripts/bench/manifest.txt", "manifest of source roots")
	out := fs.String("out", "", "folder to write the corpus into (replaced if it holds a corpus)")
	quick := fs.Bool("quick", false, "a small subset, for smoke tests")
	releases := fs.Bool("releases", false, "the release-shaped corpus: platform wheels and consecutive versions")
	tiny := fs.Int("tiny", 0, "instead, one tar.gz of this many tiny files")
	reuse := fs.Bool("reuse", false, "keep the corpus in --out when its fingerprint matches")
	workers := fs.Int("workers", runtime.NumCPU(), "distributions written at once")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: dfbench corpus --manifest FILE --out DIR [--quick] [--releases] [--tiny N] [--reuse]")
		return 2
	}
	idx, err := makeCorpus(corpusOptions{Manifest: *manifestPath, Out: *out, Quick: *quick, Releases: *releases,
		Tiny: *tiny, Reuse: *reuse, Workers: *workers}, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "dfbench corpus: %v\n", err)
		return 1
	}
	printCorpusSummary(stdout, *out, idx)
	return 0
}

type corpusOptions struct {
	Manifest string
	Out      string
	Quick    bool
	Releases bool
	Tiny     int
	Reuse    bool
	Workers  int
}

// planCorpus returns the distributions of the corpus the options ask for,
// its mode name and the planner's warnings.
func planCorpus(o corpusOptions) ([]dist, string, []string, error) {
	if o.Tiny > 0 {
		return []dist{tinyDist(o.Tiny)}, "tiny", nil, nil
	}
	m, err := readManifest(o.Manifest)
	if err != nil {
		return nil, "", nil, err
	}
	if o.Releases {
		shape, mode := fullShape, "releases"
		if o.Quick {
			shape, mode = quickShape, "releases-quick"
		}
		ds, warnings, err := planReleases(m, shape)
		return ds, mode, warnings, err
	}
	rs, smp, warnings, err := planMain(m, o.Quick)
	if err != nil {
		return nil, "", warnings, err
	}
	var ds []dist
	for i := range rs {
		ds = append(ds, distsOf(&rs[i], smp)...)
	}
	mode := "default"
	if o.Quick {
		mode = "quick"
	}
	return ds, mode, warnings, nil
}

// tinyDist is one sdist of n files of six bytes, the per-file overhead
// case (scan's BenchmarkScanTinyFiles, as a tar.gz).
func tinyDist(n int) dist {
	d := dist{File: "tiny-1.0.tar.gz", Format: "tar.gz", Level: sdistLevel}
	for i := range n {
		d.Members = append(d.Members, member{Name: fmt.Sprintf("tiny-1.0/pkg/m%06d.py", i), Data: []byte("x = 1\n")})
	}
	return d
}

// makeCorpus plans and writes a corpus, or keeps the one in o.Out when
// o.Reuse is set and its fingerprint matches.
func makeCorpus(o corpusOptions, log io.Writer) (*corpusIndex, error) {
	ds, mode, warnings, err := planCorpus(o)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		fmt.Fprintln(log, "warning:", w)
	}
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.File] {
			return nil, fmt.Errorf("two distributions named %s", d.File)
		}
		seen[d.File] = true
	}
	fp, err := fingerprint(mode, ds)
	if err != nil {
		return nil, err
	}
	if o.Reuse {
		if idx, err := readIndex(o.Out); err == nil && idx.Fingerprint == fp {
			fmt.Fprintf(log, "dfbench corpus: %s is up to date (fingerprint %.12s)\n", o.Out, fp)
			return idx, nil
		}
	}
	if err := prepareOut(o.Out); err != nil {
		return nil, err
	}
	partial := o.Out + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(partial, 0o755); err != nil {
		return nil, err
	}
	written, err := writeAll(partial, ds, max(1, o.Workers))
	if err != nil {
		os.RemoveAll(partial)
		return nil, err
	}
	idx := buildIndex(mode, fp, ds, written, warnings)
	if mode == "default" && (idx.Distributions < 300 || idx.Expanded < 1e9) {
		w := fmt.Sprintf("the default corpus should hold at least 300 distributions and 1 GB expanded; this one holds %d and %.2f GB (roots missing on this machine?)",
			idx.Distributions, float64(idx.Expanded)/1e9)
		idx.Warnings = append(idx.Warnings, w)
		fmt.Fprintln(log, "warning:", w)
	}
	body, _ := json.MarshalIndent(idx, "", "  ")
	if err := os.WriteFile(filepath.Join(partial, "corpus.json"), append(body, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(o.Out); err != nil {
		return nil, err
	}
	return idx, os.Rename(partial, o.Out)
}

// prepareOut refuses to replace a folder that is not a corpus: --out is
// removed and rewritten, and must not be someone's home folder.
func prepareOut(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(filepath.Dir(out), 0o755)
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, "corpus.json")); err != nil {
		return fmt.Errorf("%s exists and holds no corpus.json: not replacing it", out)
	}
	return nil
}

// fingerprint hashes the plan and the generator binary.
func fingerprint(mode string, ds []dist) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", generatorVersion, mode)
	if exe, err := os.Executable(); err == nil {
		if f, err := os.Open(exe); err == nil {
			io.Copy(h, f)
			f.Close()
		}
	}
	if err := json.NewEncoder(h).Encode(ds); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeAll writes the distributions on workers goroutines. Each archive is
// independent, so the bytes do not depend on the order they are written in.
func writeAll(dir string, ds []dist, workers int) ([]writtenDist, error) {
	out := make([]writtenDist, len(ds))
	errs := make([]error, len(ds))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = writeDist(dir, &ds[i])
			}
		})
	}
	for i := range ds {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errors.Join(errs...)
}

// buildIndex sums the written corpus up. Duplicate bytes are counted in
// the order a scanner meets the files (file names sorted, members in
// archive order): a member whose content was seen before is a duplicate.
func buildIndex(mode, fp string, ds []dist, written []writtenDist, warnings []string) *corpusIndex {
	idx := &corpusIndex{Generator: generatorVersion, Mode: mode, Fingerprint: fp, Warnings: warnings}
	order := make([]int, len(ds))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return ds[order[a]].File < ds[order[b]].File })
	buckets := []struct {
		label string
		upTo  int64
	}{{"<100 KB", 100e3}, {"100 KB-1 MB", 1e6}, {"1-10 MB", 10e6}, {"10-60 MB", 60e6}, {">60 MB", 1 << 62}}
	counts := make([]int, len(buckets))
	seen := map[[32]byte]bool{}
	var lines strings.Builder
	for _, i := range order {
		d, w := &ds[i], &written[i]
		e := indexDist{File: d.File, Bytes: w.Bytes, Members: len(w.Members), SHA256: hex.EncodeToString(w.SHA256[:]), Injected: d.Injected}
		for _, m := range w.Members {
			e.Expanded += m.Size
			if seen[m.Sum] {
				idx.DuplicateBytes += m.Size
			}
			seen[m.Sum] = true
		}
		idx.Dists = append(idx.Dists, e)
		idx.Distributions++
		idx.Bytes += e.Bytes
		idx.Expanded += e.Expanded
		idx.Members += int64(e.Members)
		for b := range buckets {
			if e.Bytes < buckets[b].upTo {
				counts[b]++
				break
			}
		}
		fmt.Fprintf(&lines, "%s  %s\n", e.SHA256, e.File)
	}
	sum := sha256.Sum256([]byte(lines.String()))
	idx.Hash = hex.EncodeToString(sum[:])
	if idx.Expanded > 0 {
		idx.DuplicateShare = float64(idx.DuplicateBytes) / float64(idx.Expanded)
	}
	for b := range buckets {
		idx.SizeBuckets = append(idx.SizeBuckets, sizeBucket{Label: buckets[b].label, Count: counts[b]})
	}
	return idx
}

func readIndex(dir string) (*corpusIndex, error) {
	body, err := os.ReadFile(filepath.Join(dir, "corpus.json"))
	if err != nil {
		return nil, err
	}
	var idx corpusIndex
	if err := json.Unmarshal(body, &idx); err != nil {
		return nil, fmt.Errorf("%s/corpus.json: %w", dir, err)
	}
	return &idx, nil
}

func printCorpusSummary(w io.Writer, dir string, idx *corpusIndex) {
	injected := 0
	for _, d := range idx.Dists {
		if d.Injected != "" {
			injected++
		}
	}
	fmt.Fprintf(w, "corpus %s (%s): %d distributions, %d members, %.1f MB compressed, %.1f MB expanded, %d with injected samples\n",
		dir, idx.Mode, idx.Distributions, idx.Members, float64(idx.Bytes)/1e6, float64(idx.Expanded)/1e6, injected)
	var parts []string
	for _, b := range idx.SizeBuckets {
		parts = append(parts, fmt.Sprintf("%s: %d", b.Label, b.Count))
	}
	fmt.Fprintf(w, "  sizes (compressed): %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "  duplicate bytes (SHA-256 of member contents, expanded): %.1f MB, %.1f%%\n",
		float64(idx.DuplicateBytes)/1e6, 100*idx.DuplicateShare)
	fmt.Fprintf(w, "  hash %s\n", idx.Hash)
}
