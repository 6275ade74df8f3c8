package builtin_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// The demo distributions of samples/ are built from these directories by
// samples/build.sh: samples/src/NAME-VERSION is the sdist's content, and
// samples/nested/NAME-VERSION/<path>.zip/ becomes the zip archive <path>.zip
// inside it, whose files the scanner names "<path>.zip/<file>".
const (
	samplesSrc    = "../../samples/src"
	samplesNested = "../../samples/nested"
)

// sampleFiles returns the files of one sample package, keyed by their path
// in the sdist (NAME-VERSION/...), nested archives' files included.
func sampleFiles(t *testing.T, pkg string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, root := range []string{samplesSrc, samplesNested} {
		dir := filepath.Join(root, pkg)
		if _, err := os.Stat(dir); os.IsNotExist(err) && root == samplesNested {
			continue
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files[filepath.ToSlash(rel)] = b
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) == 0 {
		t.Fatalf("no files for sample %s", pkg)
	}
	return files
}

// countedRules returns, per file, the rules that count for it.
func countedRules(t *testing.T, rs *rules.RuleSet, m *rules.Matcher, files map[string][]byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for path, data := range files {
		idx, err := m.Match(data, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, i := range idx {
			if r := rs.Rules()[i]; r.CountsFor(path) {
				out[path] = append(out[path], r.Name)
			}
		}
		slices.Sort(out[path])
	}
	return out
}

func TestCleanSampleMatchesNothing(t *testing.T) {
	rs := compileBuiltin(t)
	m := newMatcher(t, rs)
	files := sampleFiles(t, "tidy_helpers-1.0.0")
	if _, ok := files["tidy_helpers-1.0.0/tidy_helpers/__init__.py"]; !ok {
		t.Fatalf("unexpected layout: %v", files)
	}
	for path, rules := range countedRules(t, rs, m, files) {
		t.Errorf("%s: %v", path, rules)
	}
}

// harmlessExpected is what totally_harmless-0.1.0 is built to trigger. Keep
// it in step with samples/src/totally_harmless-0.1.0/README.md.
var harmlessExpected = map[string][]string{
	"totally_harmless-0.1.0/setup.py":                                   {"setup_cmdclass_install_hook", "setup_shell_download"},
	"totally_harmless-0.1.0/totally_harmless/__init__.py":               {"exec_base64_blob"},
	"totally_harmless-0.1.0/totally_harmless/constants.py":              {"credentials_browser_store", "exfil_discord_webhook_url"},
	"totally_harmless-0.1.0/totally_harmless/data/extras.zip/stage2.py": {"miners_stratum_url"},
}

func TestHarmlessSampleMatchesIntendedRules(t *testing.T) {
	rs := compileBuiltin(t)
	m := newMatcher(t, rs)
	got := countedRules(t, rs, m, sampleFiles(t, "totally_harmless-0.1.0"))
	for path, want := range harmlessExpected {
		if !slices.Equal(got[path], want) {
			t.Errorf("%s: counted %v, want %v", path, got[path], want)
		}
	}
	for path, rules := range got {
		if _, ok := harmlessExpected[path]; !ok {
			t.Errorf("%s: unexpected %v", path, rules)
		}
	}
	// The demo should show several rules, at least one of them a
	// setup.py-only rule and one reached only inside the nested archive.
	distinct := map[string]bool{}
	setupOnly, nested := false, false
	for path, rules := range harmlessExpected {
		for _, name := range rules {
			distinct[name] = true
			if r, ok := rs.Rule(name); ok && slices.Equal(r.FileTypes, []string{"setup.py"}) {
				setupOnly = true
			}
		}
		if strings.Contains(path, ".zip/") {
			nested = true
		}
	}
	if len(distinct) < 4 || !setupOnly || !nested {
		t.Errorf("the harmless sample shows %d rules, a setup.py-only one: %v, one in a nested archive: %v", len(distinct), setupOnly, nested)
	}
}
