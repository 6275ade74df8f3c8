package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// This file turns a manifest into releases and releases into the
// distributions to write. Planning reads only names, sizes and the first
// block of each file; contents are read when the archives are written, so
// that a 1 GB corpus never sits in memory.

// srcFile is one file of the machine planned into a release.
type srcFile struct {
	Rel   string // name inside the release (the archive path, without an sdist's top folder)
	Path  string // absolute path on disk
	Size  int64
	Mtime int64 // only for the plan's fingerprint: a changed file changes the corpus
	Exec  bool
}

// release is one project version planned from a root: an sdist, a wheel or
// both, made of the same files.
type release struct {
	Name    string // distribution name: letters, digits and underscores
	Version string
	Kind    string // the manifest kind it came from
	Root    int    // index of its manifest line, for the quick selection
	Pkg     string // folder injected files go under
	Files   []srcFile
	Sdist   string // "", "tar.gz" or "zip"
	Wheel   string // "" or the wheel's tag, e.g. "py3-none-any"
	// WheelExtra are generated files of the wheel only (a native package's
	// loader module).
	WheelExtra []member
	// Inject is the injection variant, or -1.
	Inject int
}

func (r *release) expanded() int64 {
	var n int64
	for _, f := range r.Files {
		n += f.Size
	}
	return n
}

// planner walks the roots of a manifest. A file reached twice (hard links,
// such as Mesa's DRI drivers, or roots that overlap) is planned once.
type planner struct {
	seen     map[[2]uint64]bool
	names    map[string]int
	warnings []string
}

func newPlanner() *planner {
	return &planner{seen: map[[2]uint64]bool{}, names: map[string]int{}}
}

func (p *planner) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// uniqueName returns name, or name_2, name_3… when it is already taken, so
// that no two releases write the same file.
func (p *planner) uniqueName(name string) string {
	p.names[name]++
	if n := p.names[name]; n > 1 {
		return name + "_" + strconv.Itoa(n)
	}
	return name
}

// planMain plans the default corpus (or, with quick, a small deterministic
// subset of it) from the manifest.
func planMain(m *manifest, quick bool) ([]release, *samples, []string, error) {
	p := newPlanner()
	var releases []release
	var smp *samples
	every := 0
	for i, spec := range m.Roots {
		if spec.Kind == "inject" {
			s, err := loadSamples(spec.Root)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s:%d: %w", m.Path, spec.Line, err)
			}
			smp, every = s, spec.Every
			continue
		}
		if st, err := os.Stat(spec.Root); err != nil || !st.IsDir() {
			p.warnf("%s:%d: %s is not a folder on this machine; skipped", m.Path, spec.Line, spec.Root)
			continue
		}
		var rs []release
		var err error
		switch spec.Kind {
		case "python":
			rs, err = p.planPython(spec)
		case "code":
			rs, err = p.planCode(spec)
		case "tools":
			rs, err = p.planTools(spec)
		case "native":
			rs, err = p.planNative(spec)
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s:%d: %w", m.Path, spec.Line, err)
		}
		for j := range rs {
			rs[j].Root = i
			rs[j].Inject = -1
		}
		releases = append(releases, rs...)
	}
	if len(releases) == 0 {
		return nil, nil, p.warnings, fmt.Errorf("%s: no files found under any root", m.Path)
	}
	if quick {
		releases = quickSubset(releases)
		every = 2 // a small corpus still needs findings, of every variant
	}
	if smp != nil {
		for i := range releases {
			if i%every == every/2 {
				releases[i].Inject = (i / every) % len(injectVariants)
			}
		}
	}
	return releases, smp, p.warnings, nil
}

// quickSubset keeps, from each root, a few releases of at most 6 MB
// expanded, evenly spread over the root's sorted order: the same code paths
// as the full corpus in a few seconds.
func quickSubset(releases []release) []release {
	byRoot := map[int][]release{}
	var roots []int
	for _, r := range releases {
		if r.expanded() > 6e6 {
			continue
		}
		if _, ok := byRoot[r.Root]; !ok {
			roots = append(roots, r.Root)
		}
		byRoot[r.Root] = append(byRoot[r.Root], r)
	}
	var out []release
	for _, root := range roots {
		rs := byRoot[root]
		k := 3
		if rs[0].Kind == "tools" || rs[0].Kind == "native" {
			k = 1
		}
		k = min(k, len(rs))
		for i := range k {
			out = append(out, rs[i*len(rs)/k])
		}
	}
	return out
}

// walk lists the files under dir in lexical order, named relative to base.
// It skips symlinks, special files, excluded names, files larger than the
// root's maxfile, files already planned, names that are not printable UTF-8
// (reports would quote them), and files that are themselves archives: the
// corpus's nested archives are the injected ones, whose meaning every
// scanner agrees on, rather than the deliberately broken archives of test
// suites, which measure a scanner's edge cases, not its speed.
func (p *planner) walk(spec rootSpec, dir, base string, keep func(rel string, info fs.FileInfo) bool) ([]srcFile, error) {
	var files []srcFile
	err := filepath.WalkDir(dir, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			if full == dir {
				return err
			}
			p.warnf("%s: %v; skipped", full, err)
			return nil
		}
		if full != dir && spec.excluded(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(base, full)
		if err != nil || !printableName(rel) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if info.Size() > spec.MaxFile || (keep != nil && !keep(rel, info)) {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if p.seen[key] {
				return nil
			}
			p.seen[key] = true
		}
		if isArchiveFile(full) {
			return nil
		}
		files = append(files, srcFile{Rel: filepath.ToSlash(rel), Path: full, Size: info.Size(),
			Mtime: info.ModTime().UnixNano(), Exec: info.Mode()&0o111 != 0})
		return nil
	})
	return files, err
}

// printableName reports whether a path is printable UTF-8, which every
// report shows as it is.
func printableName(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// isArchiveFile reports whether the file at p starts like an archive or a
// compressed stream that a scanner would open as a nested archive.
func isArchiveFile(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return true // unreadable: leave it out
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	return looksLikeArchive(head[:n])
}

func looksLikeArchive(b []byte) bool {
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")), bytes.HasPrefix(b, []byte("PK\x05\x06")),
		bytes.HasPrefix(b, []byte{0x1f, 0x8b}), bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}),
		len(b) > 3 && bytes.HasPrefix(b, []byte("BZh")) && b[3] >= '1' && b[3] <= '9':
		return true
	}
	return len(b) >= 512 && tarChecksumOK(b[:512])
}

// tarChecksumOK reports whether a 512-byte block is a tar header by its
// checksum, the test a scanner applies to a distribution's first block.
func tarChecksumOK(block []byte) bool {
	var unsigned, signed int64
	for i, c := range block {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	field := strings.Trim(string(block[148:156]), " \x00")
	want, err := strconv.ParseInt(field, 8, 64)
	return err == nil && (want == unsigned || want == signed)
}

// sanitize makes a distribution name: anything but a letter or digit
// becomes an underscore.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, s)
}

func isSharedLib(name string) bool {
	return strings.HasSuffix(name, ".so") || strings.Contains(name, ".so.")
}

// planPython: every top-level folder is a release with an sdist and a
// wheel; loose top-level files form releases of 25.
func (p *planner) planPython(spec rootSpec) ([]release, error) {
	entries, err := os.ReadDir(spec.Root)
	if err != nil {
		return nil, err
	}
	var out []release
	add := func(name, pkg string, files []srcFile) {
		if len(files) == 0 {
			return
		}
		r := release{Name: p.uniqueName(spec.Prefix + sanitize(name)), Version: spec.Version, Kind: spec.Kind,
			Pkg: pkg, Files: files, Sdist: "tar.gz", Wheel: "py3-none-any"}
		if spec.ZipEvery > 0 && len(out)%spec.ZipEvery == spec.ZipEvery-1 {
			r.Sdist = "zip"
		}
		for _, f := range files {
			if isSharedLib(f.Rel) {
				r.Wheel = "cp311-cp311-manylinux_2_17_x86_64"
				break
			}
		}
		out = append(out, r)
	}
	var loose []srcFile
	for _, e := range entries {
		full := filepath.Join(spec.Root, e.Name())
		if spec.excluded(e.Name()) {
			continue
		}
		files, err := p.walk(spec, full, spec.Root, nil)
		if err != nil {
			p.warnf("%s: %v; skipped", full, err)
			continue
		}
		if e.IsDir() {
			add(e.Name(), e.Name(), files)
		} else {
			loose = append(loose, files...)
		}
	}
	for i := 0; i < len(loose); i += 25 {
		name := fmt.Sprintf("modules%02d", i/25)
		add(name, spec.Prefix+name, loose[i:min(i+25, len(loose))])
	}
	return out, nil
}

// planCode: every top-level folder is an sdist; a folder over the split
// size becomes one sdist per subfolder plus one for its own files. Loose
// top-level files form one more sdist.
func (p *planner) planCode(spec rootSpec) ([]release, error) {
	entries, err := os.ReadDir(spec.Root)
	if err != nil {
		return nil, err
	}
	var out []release
	add := func(name string, files []srcFile) {
		if len(files) == 0 {
			return
		}
		r := release{Name: p.uniqueName(spec.Prefix + sanitize(name)), Version: spec.Version, Kind: spec.Kind,
			Pkg: sanitize(name), Files: files, Sdist: "tar.gz"}
		if spec.ZipEvery > 0 && len(out)%spec.ZipEvery == spec.ZipEvery-1 {
			r.Sdist = "zip"
		}
		out = append(out, r)
	}
	var loose []srcFile
	for _, e := range entries {
		full := filepath.Join(spec.Root, e.Name())
		if spec.excluded(e.Name()) {
			continue
		}
		files, err := p.walk(spec, full, spec.Root, nil)
		if err != nil {
			p.warnf("%s: %v; skipped", full, err)
			continue
		}
		if !e.IsDir() {
			loose = append(loose, files...)
			continue
		}
		var size int64
		for _, f := range files {
			size += f.Size
		}
		if size <= spec.Split {
			add(e.Name(), files)
			continue
		}
		// Split by subfolder, keeping the walk's lexical order.
		var own []srcFile
		var groups []string
		bySub := map[string][]srcFile{}
		for _, f := range files {
			parts := strings.SplitN(f.Rel, "/", 3)
			if len(parts) < 3 {
				own = append(own, f)
				continue
			}
			if _, ok := bySub[parts[1]]; !ok {
				groups = append(groups, parts[1])
			}
			bySub[parts[1]] = append(bySub[parts[1]], f)
		}
		add(e.Name(), own)
		for _, g := range groups {
			add(e.Name()+"_"+g, bySub[g])
		}
	}
	add("root", loose)
	return out, nil
}

// planTools: every executable file is a wheel of its own, its binary in the
// wheel's scripts folder and a small Python module beside it.
func (p *planner) planTools(spec rootSpec) ([]release, error) {
	files, err := p.walk(spec, spec.Root, spec.Root, func(rel string, info fs.FileInfo) bool {
		return info.Mode()&0o111 != 0
	})
	if err != nil {
		return nil, err
	}
	var out []release
	for _, f := range files {
		name := p.uniqueName(spec.Prefix + sanitize(path.Base(f.Rel)))
		f.Rel = name + "-" + spec.Version + ".data/scripts/" + path.Base(f.Rel)
		out = append(out, release{Name: name, Version: spec.Version, Kind: spec.Kind, Pkg: name,
			Files: []srcFile{f}, Wheel: "py3-none-manylinux_2_17_x86_64",
			WheelExtra: []member{{Name: name + "/__init__.py", Data: []byte(toolShim(path.Base(f.Rel)))}}})
	}
	return out, nil
}

// planNative groups shared libraries into binary wheels whose expanded
// sizes follow the root's size cycle, so that the corpus has a few large
// wheels among many small ones, as PyPI does.
func (p *planner) planNative(spec rootSpec) ([]release, error) {
	files, err := p.walk(spec, spec.Root, spec.Root, func(rel string, info fs.FileInfo) bool {
		return isSharedLib(path.Base(rel))
	})
	if err != nil {
		return nil, err
	}
	var out []release
	var total int64
	for i := 0; i < len(files) && total < spec.Budget; {
		target := spec.Sizes[len(out)%len(spec.Sizes)]
		var group []srcFile
		var size int64
		for ; i < len(files) && size < target; i++ {
			group = append(group, files[i])
			size += files[i].Size
		}
		total += size
		base := strings.SplitN(path.Base(group[0].Rel), ".so", 2)[0]
		name := p.uniqueName(spec.Prefix + sanitize(base))
		for j := range group {
			group[j].Rel = name + ".libs/" + group[j].Rel
		}
		out = append(out, release{Name: name, Version: spec.Version, Kind: spec.Kind, Pkg: name, Files: group,
			Wheel:      "cp311-cp311-manylinux_2_17_x86_64",
			WheelExtra: []member{{Name: name + "/__init__.py", Data: []byte(nativeShim(name, group))}}})
	}
	return out, nil
}

// toolShim is the module of a tool wheel: it finds the binary, as ruff's
// __main__ does.
func toolShim(bin string) string {
	return fmt.Sprintf(`"""Locate the bundled %[1]s binary."""

import os
import sysconfig


def find_binary() -> str:
    path = os.path.join(sysconfig.get_path("scripts"), %[1]q)
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    return path
`, bin)
}

// nativeShim is the loader module of a native wheel.
func nativeShim(name string, libs []srcFile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\"\"\"Load the shared libraries bundled with %s.\"\"\"\n\nimport ctypes\nimport os\n\n_HERE = os.path.dirname(os.path.dirname(__file__))\nLIBRARIES = [\n", name)
	for _, l := range libs {
		fmt.Fprintf(&b, "    %q,\n", l.Rel)
	}
	b.WriteString("]\n\n\ndef load():\n    return [ctypes.CDLL(os.path.join(_HERE, lib)) for lib in LIBRARIES]\n")
	return b.String()
}
