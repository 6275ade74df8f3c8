package rulescheck

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

// Samples may be plain files, archives (flattened: their inner files, and
// nested archives' bytes and files, are matched) or folders of both.
func TestRulesSamplesFlattenArchives(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string]string{"pkg-1.0/setup.py": "print('setup')\n", "pkg-1.0/pkg/__init__.py": "x = 1\n"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "pkg-1.0.tar.gz"), buf.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "loose.py"), []byte("print(1)\n"), 0o644)

	set, err := ReadSamples(dir, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range set.Samples {
		got[s.Path] = string(s.Data)
	}
	slash := filepath.ToSlash(dir)
	want := map[string]string{
		slash + "/loose.py":                                   "print(1)\n",
		slash + "/sub/pkg-1.0.tar.gz/pkg-1.0/setup.py":        "print('setup')\n",
		slash + "/sub/pkg-1.0.tar.gz/pkg-1.0/pkg/__init__.py": "x = 1\n",
	}
	if len(got) != len(want) {
		t.Errorf("samples %v", got)
	}
	for p, body := range want {
		if got[p] != body {
			t.Errorf("%s = %q, want %q (all: %v)", p, got[p], body, got)
		}
	}
}

// Without --sample and outside the repository, the generated corpus is
// used.
func TestRulesDefaultSamples(t *testing.T) {
	set, err := LoadSamples(nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if set.Source != "built-in generated corpus" || len(set.Samples) < 20 {
		t.Errorf("%s: %d samples", set.Source, len(set.Samples))
	}

	// In a checkout, the demo sources (or distributions, once built).
	repo := t.TempDir()
	src := filepath.Join(repo, "samples", "src", "pkg-1.0")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "setup.py"), []byte("print(1)\n"), 0o644)
	set, err = LoadSamples(nil, repo)
	if err != nil {
		t.Fatal(err)
	}
	if set.Source != filepath.Join(repo, "samples", "src") || len(set.Samples) != 1 {
		t.Errorf("%s: %d samples", set.Source, len(set.Samples))
	}
}
