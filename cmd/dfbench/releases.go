package main

import (
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
)

// The release-shaped corpus is PyPI as a worker sees it when a project
// publishes: every version has an sdist and one wheel per platform; the
// wheels of a version hold the same pure-Python files and native libraries
// built per platform (other bytes), and consecutive versions share most of
// their files. A scanner that matches a file's content once, whatever its
// name or distribution, has less work here than the byte count says; the
// corpus index reports how much (the share of duplicate bytes).

// releaseShape sizes the release-shaped corpus.
type releaseShape struct {
	Budget    int64 // expanded bytes to plan, at least
	Versions  int
	Platforms []string
	// EditEvery: a file changes between consecutive versions when a hash
	// of its name and the version is divisible by it (10: a tenth).
	EditEvery int
}

var (
	fullShape = releaseShape{Budget: 500e6, Versions: 3, EditEvery: 10, Platforms: []string{
		"cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux_2_17_aarch64", "cp311-cp311-musllinux_1_1_x86_64",
		"cp311-cp311-macosx_11_0_arm64", "cp311-cp311-win_amd64"}}
	quickShape = releaseShape{Budget: 20e6, Versions: 2, EditEvery: 10, Platforms: []string{
		"cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-macosx_11_0_arm64", "cp311-cp311-win_amd64"}}
)

// planReleases plans the release-shaped corpus: projects made of a Python
// package of a python root (0.2 to 6 MB) and two shared libraries of a
// native root (0.3 to 12 MB each), taken in a stride through the sorted
// candidates until the budget is reached.
func planReleases(m *manifest, shape releaseShape) ([]dist, []string, error) {
	p := newPlanner()
	var pkgs []release
	var libs []srcFile
	var smp *samples
	for _, spec := range m.Roots {
		if spec.Kind == "inject" {
			s, err := loadSamples(spec.Root)
			if err != nil {
				return nil, nil, fmt.Errorf("%s:%d: %w", m.Path, spec.Line, err)
			}
			smp = s
			continue
		}
		if st, err := os.Stat(spec.Root); err != nil || !st.IsDir() {
			p.warnf("%s:%d: %s is not a folder on this machine; skipped", m.Path, spec.Line, spec.Root)
			continue
		}
		switch spec.Kind {
		case "python":
			rs, err := p.planPython(spec)
			if err != nil {
				return nil, nil, err
			}
			for _, r := range rs {
				if n := r.expanded(); n >= 200e3 && n <= 6e6 && r.Pkg != spec.Prefix+"modules00" {
					pkgs = append(pkgs, r)
				}
			}
		case "native":
			files, err := p.walk(spec, spec.Root, spec.Root, func(rel string, info fs.FileInfo) bool {
				return isSharedLib(path.Base(rel)) && info.Size() >= 300e3 && info.Size() <= 12e6
			})
			if err != nil {
				return nil, nil, err
			}
			libs = append(libs, files...)
		}
	}
	if len(pkgs) == 0 || len(libs) < 2 {
		return nil, p.warnings, fmt.Errorf("%s: the release-shaped corpus needs Python packages (python roots) and shared libraries (native roots)", m.Path)
	}
	var out []dist
	var total int64
	stride := max(1, len(pkgs)/12)
	for j := 0; total < shape.Budget && j < len(pkgs); j++ {
		pkg := pkgs[(j*stride+j/12)%len(pkgs)]
		native := []srcFile{libs[(2*j)%len(libs)], libs[(2*j+1)%len(libs)]}
		name := fmt.Sprintf("proj%02d_%s", j, pkg.Pkg)
		inject := -1
		if j%4 == 1 && smp != nil {
			inject = (j / 4) % len(injectVariants)
		}
		for v := range shape.Versions {
			ds := projectVersion(name, pkg, native, v, shape, inject, smp)
			for _, d := range ds {
				for _, m := range d.Members {
					total += m.Size + int64(len(m.Data))
				}
			}
			out = append(out, ds...)
		}
	}
	return out, p.warnings, nil
}

// projectVersion returns the sdist and the platform wheels of version v of
// a project.
func projectVersion(name string, pkg release, native []srcFile, v int, shape releaseShape, inject int, smp *samples) []dist {
	version := fmt.Sprintf("1.%d.0", v)
	r := release{Name: name, Version: version, Kind: "python", Pkg: pkg.Pkg, Inject: inject, Sdist: "tar.gz"}
	// Python files: the same in every distribution of a version; a file
	// edited in an earlier version keeps that edit.
	pyMembers := make([]member, len(pkg.Files))
	for i, f := range pkg.Files {
		m := srcMember(f.Rel, f)
		for u := 1; u <= v; u++ {
			if editedIn(f.Rel, u, shape.EditEvery) {
				m.Append = append(m.Append, fmt.Sprintf("\n# dfbench: edited in 1.%d.0\n", u))
			}
		}
		pyMembers[i] = m
	}
	r.Files = nil
	sdist := distsOf(&r, smp)[0]
	top := name + "-" + version + "/"
	sdist.Members = append(prefixed(top, pyMembers), sdist.Members...)
	out := []dist{sdist}
	for pi, plat := range shape.Platforms {
		w := release{Name: name, Version: version, Kind: "python", Pkg: pkg.Pkg, Inject: inject, Wheel: plat}
		d := distsOf(&w, smp)[0]
		libs := make([]member, len(native))
		for i, f := range native {
			libs[i] = srcMember(pkg.Pkg+".libs/"+path.Base(f.Rel), f)
			// Every (version, platform) build differs from every other.
			libs[i].Flip = 1 + v*len(shape.Platforms) + pi
		}
		d.Members = append(append(append([]member{}, pyMembers...), libs...), d.Members...)
		out = append(out, d)
	}
	return out
}

func prefixed(prefix string, ms []member) []member {
	out := make([]member, len(ms))
	for i, m := range ms {
		m.Name = prefix + m.Name
		out[i] = m
	}
	return out
}

// editedIn reports whether the file named rel changes in version v.
func editedIn(rel string, v, every int) bool {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s@%d", rel, v)
	return h.Sum32()%uint32(every) == 0
}
