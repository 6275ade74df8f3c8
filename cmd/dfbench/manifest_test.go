package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseManifest(t *testing.T) {
	text := `# comment

python py prefix=std_ version=3.11.2 exclude=__pycache__,*.dist-info zip_every=3
  code /abs/code split=2MiB maxfile=1.5MB
tools tools
native lib sizes=500KB,2MB budget=1GB
inject samples every=4
`
	m, err := parseManifest("/etc/bench/manifest.txt", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Roots) != 5 {
		t.Fatalf("got %d roots, want 5", len(m.Roots))
	}
	py, code, tools, native, inject := m.Roots[0], m.Roots[1], m.Roots[2], m.Roots[3], m.Roots[4]
	if py.Kind != "python" || py.Root != "/etc/bench/py" || py.Line != 3 || py.Prefix != "std_" || py.Version != "3.11.2" ||
		py.ZipEvery != 3 || !slices.Equal(py.Exclude, []string{"__pycache__", "*.dist-info"}) {
		t.Errorf("python line: %+v", py)
	}
	if !py.excluded("__pycache__") || !py.excluded("foo-1.0.dist-info") || py.excluded("foo.py") {
		t.Errorf("python line: exclude patterns do not apply")
	}
	if code.Root != "/abs/code" || code.Line != 4 || code.Split != 2<<20 || code.MaxFile != 1500e3 || code.ZipEvery != 5 {
		t.Errorf("code line: %+v", code)
	}
	if tools.Root != "/etc/bench/tools" || tools.Version != "1.0" || tools.MaxFile != 200e6 {
		t.Errorf("tools line (defaults): %+v", tools)
	}
	if !slices.Equal(native.Sizes, []int64{500e3, 2e6}) || native.Budget != 1e9 {
		t.Errorf("native line: %+v", native)
	}
	if inject.Every != 4 || inject.Root != "/etc/bench/samples" || inject.Line != 7 {
		t.Errorf("inject line: %+v", inject)
	}
}

func TestParseManifestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"no root", "# roots\npython\n", "m.txt:2: want KIND ROOT"},
		{"unknown kind", "python a\n\nrust b\n", `m.txt:3: unknown kind "rust"`},
		{"not key=value", "code a split\n", `m.txt:1: option "split" is not key=value`},
		{"bad size", "# x\n# y\ncode a split=big\n", `m.txt:3: split: bad size "big"`},
		{"negative size", "native a budget=-1MB\n", `m.txt:1: budget: bad size "-1"`},
		{"bad size list", "python a\nnative b sizes=1MB,,2MB\n", `m.txt:2: sizes: bad size ""`},
		{"unknown option", "tools a colour=blue\n", "m.txt:1: colour: unknown option"},
		{"every below 1", "python a\ninject s every=0\n", "m.txt:2: every: must be at least 1"},
		{"every not a number", "inject s every=x\n", "m.txt:1: every:"},
		{"bad pattern", "python a exclude=[\n", "m.txt:1: exclude:"},
		{"no roots", "# nothing\n\n", "m.txt: no roots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseManifest("/x/m.txt", strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "123": 123, "10B": 10, "8KB": 8000, "8KiB": 8192, "1.5MB": 1500000,
		"2MiB": 2 << 20, "1GB": 1e9, "1GiB": 1 << 30} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "x1", "-5", "1TB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}

// The manifest the benchmark ships parses, and its inject line finds the
// repository's samples.
func TestShippedManifest(t *testing.T) {
	m, err := readManifest(filepath.Join("..", "..", "scripts", "bench", "manifest.txt"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range m.Roots {
		kinds[r.Kind]++
		if r.Kind == "inject" {
			if _, err := loadSamples(r.Root); err != nil {
				t.Errorf("inject line %d: %v", r.Line, err)
			}
		}
	}
	for _, k := range []string{"python", "code", "tools", "native", "inject"} {
		if kinds[k] == 0 {
			t.Errorf("the shipped manifest has no %s line", k)
		}
	}
}
