package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// member is one entry of an archive to write. Its content is read or built
// only when the archive is written.
type member struct {
	Name string
	// Src is a file to read; its Size and Mtime are in the plan so that a
	// changed file changes the fingerprint.
	Src   string `json:",omitempty"`
	Size  int64  `json:",omitempty"`
	Mtime int64  `json:",omitempty"`
	// Data is literal content (when Src is empty and Nested is nil).
	Data []byte `json:",omitempty"`
	// Nested makes the content an archive built from its members.
	Nested *archive `json:",omitempty"`
	// Link makes the member a tar symlink to this target (no content).
	Link string `json:",omitempty"`
	Exec bool   `json:",omitempty"`
	// Append lines to the content: the edits of a later version.
	Append []string `json:",omitempty"`
	// Flip > 0 flips one byte per 4 KiB page, at offsets chosen by the
	// seed: a platform build whose bytes differ but whose size and
	// structure do not.
	Flip int `json:",omitempty"`
}

// archive is a nested archive: "tar.gz", "zip" or "whl" (a zip).
type archive struct {
	Format  string
	Members []member
}

// dist is one distribution file of the corpus.
type dist struct {
	File   string // file name in the corpus folder
	Format string // "tar.gz" or "zip" (wheels are zips)
	Level  int    // deflate level
	// Record names the wheel's RECORD, written last with the hash of every
	// member; empty for sdists.
	Record  string `json:",omitempty"`
	Members []member
	// Injected names the injection variant, for the corpus index.
	Injected string `json:",omitempty"`
}

// Compression levels, fixed so that the corpus is the same on every run:
// setuptools writes sdists with tarfile's gzip default (9) and wheels with
// zipfile's deflate default (zlib's 6).
const (
	sdistLevel = 9
	wheelLevel = 6
)

func srcMember(name string, f srcFile) member {
	return member{Name: name, Src: f.Path, Size: f.Size, Mtime: f.Mtime, Exec: f.Exec}
}

// distsOf returns the sdist and wheel of a release, injected files included.
func distsOf(r *release, smp *samples) []dist {
	var out []dist
	inj := injection{}
	if r.Inject >= 0 && smp != nil {
		inj = injectVariants[r.Inject](smp, r.Pkg)
	}
	if r.Sdist != "" {
		top := r.Name + "-" + r.Version + "/"
		d := dist{File: r.Name + "-" + r.Version + "." + r.Sdist, Format: r.Sdist, Level: sdistLevel, Injected: inj.name}
		if r.Sdist == "zip" {
			d.Format = "zip"
		}
		for _, f := range r.Files {
			d.Members = append(d.Members, srcMember(top+f.Rel, f))
		}
		d.Members = append(d.Members,
			member{Name: top + "PKG-INFO", Data: []byte(pkgInfo(r.Name, r.Version))},
			member{Name: top + "pyproject.toml", Data: []byte(pyproject(r.Name, r.Version))})
		setup := []byte("from setuptools import setup\n\nsetup()\n")
		if inj.setup != nil {
			setup = inj.setup
		}
		if r.Kind == "python" || inj.setup != nil {
			d.Members = append(d.Members, member{Name: top + "setup.py", Data: setup})
		}
		for _, m := range inj.sdist {
			m.Name = top + m.Name
			d.Members = append(d.Members, m)
		}
		out = append(out, d)
	}
	if r.Wheel != "" {
		info := r.Name + "-" + r.Version + ".dist-info/"
		d := dist{File: r.Name + "-" + r.Version + "-" + r.Wheel + ".whl", Format: "zip", Level: wheelLevel,
			Record: info + "RECORD", Injected: inj.name}
		for _, f := range r.Files {
			d.Members = append(d.Members, srcMember(f.Rel, f))
		}
		d.Members = append(d.Members, r.WheelExtra...)
		wheelInj := inj.wheel
		if r.Sdist == "" && inj.setup != nil {
			// A wheel-only release carries the hook as a build script.
			wheelInj = append(wheelInj, member{Name: r.Pkg + "/_build/setup.py", Data: inj.setup})
		}
		d.Members = append(d.Members, wheelInj...)
		d.Members = append(d.Members,
			member{Name: info + "METADATA", Data: []byte(pkgInfo(r.Name, r.Version))},
			member{Name: info + "WHEEL", Data: []byte(wheelFile(r.Wheel))})
		out = append(out, d)
	}
	return out
}

func pkgInfo(name, version string) string {
	return fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: dfbench corpus package made of code found on this machine\nRequires-Python: >=3.8\n", name, version)
}

func pyproject(name, version string) string {
	return fmt.Sprintf("[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = %q\nversion = %q\n", name, version)
}

func wheelFile(tag string) string {
	pure := "true"
	if !strings.HasPrefix(tag, "py3-none-any") {
		pure = "false"
	}
	return fmt.Sprintf("Wheel-Version: 1.0\nGenerator: dfbench\nRoot-Is-Purelib: %s\nTag: %s\n", pure, tag)
}

// samples are the harmless imitations of malware in the repository's
// samples folder (see samples/README.md), which the built-in rules catch.
type samples struct {
	Setup     []byte // an install hook that mentions curl
	ExecBlob  []byte // exec of a base64 blob
	Constants []byte // browser password stores, a Discord webhook
	Stage2    []byte // a stratum mining pool address
}

func loadSamples(dir string) (*samples, error) {
	read := func(rel string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, fmt.Errorf("samples: %w", err)
		}
		return b, nil
	}
	var s samples
	var err error
	for _, f := range []struct {
		dst *[]byte
		rel string
	}{
		{&s.Setup, "src/totally_harmless-0.1.0/setup.py"},
		{&s.ExecBlob, "src/totally_harmless-0.1.0/totally_harmless/__init__.py"},
		{&s.Constants, "src/totally_harmless-0.1.0/totally_harmless/constants.py"},
		{&s.Stage2, "nested/totally_harmless-0.1.0/totally_harmless/data/extras.zip/stage2.py"},
	} {
		if *f.dst, err = read(f.rel); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// injection is what one variant adds to a release: files of the sdist
// (named below its top folder), files of the wheel, and a replacement
// setup.py.
type injection struct {
	name  string
	sdist []member
	wheel []member
	setup []byte
}

// injectVariants cover the ways a finding reaches a report: a setup.py
// hook, plain modules, a zip nested in the package, a tar symlink whose
// .py name makes a .txt file's matches count, and an archive nested two
// deep.
var injectVariants = []func(s *samples, pkg string) injection{
	func(s *samples, pkg string) injection {
		return injection{name: "setup-hook", setup: s.Setup}
	},
	func(s *samples, pkg string) injection {
		m := member{Name: pkg + "/_helpers.py", Data: s.ExecBlob}
		return injection{name: "exec-blob", sdist: []member{m}, wheel: []member{m}}
	},
	func(s *samples, pkg string) injection {
		m := member{Name: pkg + "/data/extras.zip", Nested: &archive{Format: "zip", Members: []member{{Name: "stage2.py", Data: s.Stage2}}}}
		return injection{name: "nested-zip", sdist: []member{m}, wheel: []member{m}}
	},
	func(s *samples, pkg string) injection {
		m := member{Name: pkg + "/_constants.py", Data: s.Constants}
		return injection{name: "credentials", sdist: []member{m}, wheel: []member{m}}
	},
	func(s *samples, pkg string) injection {
		txt := member{Name: pkg + "/notes/shim.txt", Data: s.ExecBlob}
		link := member{Name: pkg + "/_shim.py", Link: "notes/shim.txt"}
		return injection{name: "tar-link", sdist: []member{txt, link}, wheel: []member{txt}}
	},
	func(s *samples, pkg string) injection {
		inner := &archive{Format: "whl", Members: []member{
			{Name: "dep/__init__.py", Data: s.Constants},
			{Name: "dep-1.0.dist-info/METADATA", Data: []byte(pkgInfo("dep", "1.0"))},
		}}
		outer := &archive{Format: "tar.gz", Members: []member{
			{Name: "dep-1.0/PKG-INFO", Data: []byte(pkgInfo("dep", "1.0"))},
			{Name: "dep-1.0/dist/dep-1.0-py3-none-any.whl", Nested: inner},
		}}
		return injection{name: "nested-deep",
			sdist: []member{{Name: "tests/fixtures/dep-1.0.tar.gz", Nested: outer}},
			wheel: []member{{Name: pkg + "/_vendor/dep-1.0-py3-none-any.whl", Nested: inner}}}
	},
}
