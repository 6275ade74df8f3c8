package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// A manifest names the source roots of the corpus, one per line:
//
//	KIND ROOT [key=value]...
//
// so that the corpus is made of real code and native libraries of this
// machine rather than of synthetic text, whose compression ratio and match
// density say little about PyPI. Blank lines and lines starting with "#" are
// ignored; a relative ROOT is relative to the manifest's folder. The kinds:
//
//   - python: every top-level folder of ROOT is a release (an sdist and a
//     pure wheel); loose top-level files form releases of 25.
//   - code: every top-level folder of ROOT is an sdist; a folder larger than
//     split= is split into its subfolders, so that one huge tree does not
//     become one huge distribution.
//   - tools: every executable file under ROOT is a wheel of its own, the way
//     ruff, uv or ziglang ship a native binary.
//   - native: shared libraries under ROOT (*.so, *.so.N) grouped into
//     platform wheels whose expanded sizes cycle through sizes=, up to
//     budget= in all.
//   - inject: ROOT is the repository's samples folder, whose harmless
//     imitations of malware are injected into every every=-th release, so
//     that findings are not trivially empty.
//
// Options of every kind: prefix= (release name prefix), version=,
// exclude= (comma-separated glob patterns of base names skipped at any
// depth), zip_every= (every n-th sdist is a .zip instead of a .tar.gz; 0
// never), maxfile= (files larger than this are skipped). Sizes take KB, MB,
// GB (powers of ten) or KiB, MiB, GiB.

// rootSpec is one line of a manifest.
type rootSpec struct {
	Kind    string
	Root    string // absolute
	Line    int
	Prefix  string
	Version string
	Exclude []string
	// ZipEvery makes every n-th sdist of this root a zip (0: never).
	ZipEvery int
	// Split is the folder size above which a code folder is split.
	Split int64
	// Budget bounds the expanded bytes planned from a native root.
	Budget int64
	// MaxFile skips larger files.
	MaxFile int64
	// Sizes is the cycle of group sizes of a native root.
	Sizes []int64
	// Every is the injection period of an inject line.
	Every int
}

// manifest is a parsed manifest file.
type manifest struct {
	Path  string
	Roots []rootSpec
}

var knownKinds = map[string]bool{"python": true, "code": true, "tools": true, "native": true, "inject": true}

// readManifest parses the manifest at p. Roots are resolved but not checked:
// a root missing on this machine is skipped when planning, with a warning.
func readManifest(p string) (*manifest, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseManifest(p, f)
}

// parseManifest parses a manifest read from r; p names it in errors and
// anchors relative roots.
func parseManifest(p string, r io.Reader) (*manifest, error) {
	m := &manifest{Path: p}
	base := filepath.Dir(p)
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: want KIND ROOT [key=value]...", p, line)
		}
		spec := rootSpec{Kind: fields[0], Root: fields[1], Line: line, Version: "1.0", MaxFile: 200e6}
		if !knownKinds[spec.Kind] {
			return nil, fmt.Errorf("%s:%d: unknown kind %q", p, line, spec.Kind)
		}
		if !filepath.IsAbs(spec.Root) {
			spec.Root = filepath.Join(base, spec.Root)
		}
		switch spec.Kind {
		case "python":
			spec.ZipEvery = 7
		case "code":
			spec.ZipEvery = 5
			spec.Split = 8e6
		case "native":
			spec.Budget = 1 << 62
			spec.Sizes = []int64{3e6, 1e6, 8e6, 2e6, 40e6, 600e3, 5e6, 120e6, 1500e3, 15e6, 2500e3, 70e6}
		case "inject":
			spec.Every = 11
		}
		for _, kv := range fields[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("%s:%d: option %q is not key=value", p, line, kv)
			}
			if err := spec.set(k, v); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", p, line, k, err)
			}
		}
		m.Roots = append(m.Roots, spec)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(m.Roots) == 0 {
		return nil, fmt.Errorf("%s: no roots", p)
	}
	return m, nil
}

func (s *rootSpec) set(k, v string) error {
	var err error
	switch k {
	case "prefix":
		s.Prefix = v
	case "version":
		s.Version = v
	case "exclude":
		for _, pat := range strings.Split(v, ",") {
			if _, err := path.Match(pat, ""); err != nil {
				return err
			}
			s.Exclude = append(s.Exclude, pat)
		}
	case "zip_every":
		s.ZipEvery, err = strconv.Atoi(v)
	case "every":
		s.Every, err = strconv.Atoi(v)
		if err == nil && s.Every < 1 {
			err = fmt.Errorf("must be at least 1")
		}
	case "split":
		s.Split, err = parseSize(v)
	case "budget":
		s.Budget, err = parseSize(v)
	case "maxfile":
		s.MaxFile, err = parseSize(v)
	case "sizes":
		s.Sizes = nil
		for _, item := range strings.Split(v, ",") {
			n, err := parseSize(item)
			if err != nil {
				return err
			}
			s.Sizes = append(s.Sizes, n)
		}
	default:
		return fmt.Errorf("unknown option")
	}
	return err
}

// excluded reports whether a file or folder named base is skipped.
func (s *rootSpec) excluded(base string) bool {
	for _, pat := range s.Exclude {
		if ok, _ := path.Match(pat, base); ok {
			return true
		}
	}
	return false
}

// parseSize reads "600MB", "8MiB", "1.5GB" or a plain byte count.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(f * mult), nil
}
