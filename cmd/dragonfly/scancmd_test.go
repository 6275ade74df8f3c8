package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeTarGz(t *testing.T, path string, files map[string]string) {
	t.Helper()
	if err := os.WriteFile(path, tarGzBytes(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tarGzBytes(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range sortedNames(files) {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedNames(files) {
		w, _ := zw.Create(name)
		w.Write([]byte(files[name]))
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sortedNames(m map[string]string) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	return names
}

// testRules is a small local rule set, so that these tests do not depend
// on the built-in rules' details.
func testRules(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "demo.yar"), []byte(`
rule py_marker { meta: weight = 5 filetype = ".py" strings: $a = "EVIL_MARKER" condition: $a }
rule any_marker { meta: weight = 2 strings: $a = "EVIL_MARKER" condition: $a }
`), 0o644)
	return dir
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestScanJSONReportGroupsPackages(t *testing.T) {
	dir := t.TempDir()
	writeTarGz(t, filepath.Join(dir, "evil-1.0.tar.gz"), map[string]string{"evil-1.0/setup.py": "x = 'EVIL_MARKER'", "evil-1.0/README": "EVIL_MARKER"})
	writeZip(t, filepath.Join(dir, "evil-1.0-py3-none-any.whl"), map[string]string{"evil/__init__.py": "pass"})
	writeZip(t, filepath.Join(dir, "clean-2.0-py3-none-any.whl"), map[string]string{"clean/__init__.py": "pass"})
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("EVIL_MARKER"), 0o644) // not a distribution name: skipped in folders

	code, stdout, stderr := runCLI(t, "scan", dir, "--format", "json", "--rules", testRules(t))
	if code != exitFindings {
		t.Fatalf("exit %d, want 1; stderr: %s", code, stderr)
	}
	var rep struct {
		RulesHash string `json:"rules_hash"`
		Packages  []struct {
			Name, Version string
			Score         int64
			RulesMatched  []string `json:"rules_matched"`
			Result        map[string]any
			Distributions []struct {
				Target, Format, Status, Reason string
				Score                          int64
				FilesScanned                   int64 `json:"files_scanned"`
				Rules                          []struct {
					Name   string
					Weight int64
				}
				Files []struct {
					Path  string
					Score int64
					Rules []string
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(rep.RulesHash) != 64 || len(rep.Packages) != 2 {
		t.Fatalf("report: %s", stdout)
	}
	clean, evil := rep.Packages[0], rep.Packages[1]
	if clean.Name != "clean" || clean.Score != 0 || len(clean.RulesMatched) != 0 || clean.Result["inspector_url"] != nil {
		t.Errorf("clean package: %+v", clean)
	}
	if evil.Name != "evil" || evil.Version != "1.0" || evil.Score != 7 || !reflect.DeepEqual(evil.RulesMatched, []string{"any_marker", "py_marker"}) {
		t.Errorf("evil package: %+v", evil)
	}
	if len(evil.Distributions) != 2 || evil.Distributions[1].Format != "tar.gz" || evil.Distributions[1].FilesScanned != 2 {
		t.Fatalf("evil distributions: %+v", evil.Distributions)
	}
	files := evil.Distributions[1].Files
	// README counts only for the rule without filetype.
	if len(files) != 2 || files[0].Path != "evil-1.0/README" || files[0].Score != 2 || files[1].Path != "evil-1.0/setup.py" || files[1].Score != 7 {
		t.Errorf("files: %+v", files)
	}
	if evil.Result["commit"] != rep.RulesHash || evil.Result["score"] != float64(7) {
		t.Errorf("mainframe body: %+v", evil.Result)
	}
}

// exitCodeFixtures writes a clean, a matching and a broken distribution.
func exitCodeFixtures(t *testing.T) (clean, evil, broken string) {
	dir := t.TempDir()
	clean = filepath.Join(dir, "clean-1.0.tar.gz")
	writeTarGz(t, clean, map[string]string{"clean-1.0/a.py": "print(1)"})
	evil = filepath.Join(dir, "evil-1.0.tar.gz")
	writeTarGz(t, evil, map[string]string{"evil-1.0/a.py": "EVIL_MARKER"})
	broken = filepath.Join(dir, "broken-1.0.tar.gz")
	os.WriteFile(broken, []byte("<html>503</html>"), 0o644)
	return clean, evil, broken
}

func TestScanExitCodes(t *testing.T) {
	clean, evil, broken := exitCodeFixtures(t)
	rules := testRules(t)

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"clean", []string{clean}, exitOK},
		{"findings", []string{clean, evil}, exitFindings},
		{"findings below --fail-score", []string{evil, "--fail-score", "8"}, exitOK},
		{"failure", []string{clean, broken}, exitFailure},
		{"findings win over failures", []string{broken, evil}, exitFindings},
		{"no targets", nil, exitFailure},
		{"missing target", []string{filepath.Join(filepath.Dir(clean), "nope.whl")}, exitFailure},
		{"bad format", []string{"--format", "xml", clean}, exitFailure},
		{"flags after targets and --", []string{clean, "--threads", "1", "--", evil}, exitFindings},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, append([]string{"scan", "--rules", rules, "--format", "json"}, tt.args...)...)
		if code != tt.want {
			t.Errorf("%s: exit %d, want %d; stderr: %s", tt.name, code, tt.want, stderr)
		}
	}
}

func TestScanFailedDistributionReportsReasonAndPartialFindings(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "pkg-1.0-py3-none-any.whl")
	writeZip(t, good, map[string]string{"pkg/a.py": "EVIL_MARKER"})
	bad := filepath.Join(dir, "pkg-1.0.tar.gz")
	os.WriteFile(bad, []byte("PK\x03\x04 not really a zip"), 0o644)
	code, stdout, _ := runCLI(t, "scan", "--rules", testRules(t), "--format", "json", good, bad)
	if code != exitFindings {
		t.Fatalf("exit %d", code)
	}
	var rep struct {
		Packages []struct {
			Result        map[string]any
			Distributions []struct{ Status, Reason string }
		}
	}
	json.Unmarshal([]byte(stdout), &rep)
	p := rep.Packages[0]
	reason, _ := p.Result["reason"].(string)
	if _, hasCommit := p.Result["commit"]; hasCommit || !strings.HasPrefix(reason, "malformed: pkg-1.0.tar.gz: ") ||
		!strings.HasSuffix(reason, "; partial score 7: any_marker, py_marker") {
		t.Errorf("failure body: %+v", p.Result)
	}
	if p.Distributions[1].Status != "failed" || !strings.HasPrefix(p.Distributions[1].Reason, "malformed: ") {
		t.Errorf("distribution: %+v", p.Distributions[1])
	}
}

func TestScanRulesThatDoNotCompileNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "broken.yara"), []byte("rule x {\n  condition: nope\n}"), 0o644)
	clean := filepath.Join(t.TempDir(), "c-1.0.zip")
	writeZip(t, clean, map[string]string{"a": "b"})
	code, _, stderr := runCLI(t, "scan", "--rules", dir, clean)
	if code != exitFailure || !strings.Contains(stderr, "broken.yara line 2") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
}

func TestScanBuiltinRulesTableReport(t *testing.T) {
	dir := t.TempDir()
	writeTarGz(t, filepath.Join(dir, "demo-1.0.tar.gz"), map[string]string{"demo-1.0/setup.py": "from setuptools import setup\nsetup(name='demo')\n"})
	code, stdout, stderr := runCLI(t, "scan", dir)
	if code != exitOK || !strings.Contains(stdout, "rules: built-in") || !strings.Contains(stdout, "demo 1.0: clean, score 0") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestScanConfigFromEnvironment(t *testing.T) {
	t.Setenv("DRAGONFLY_MAX_FILE_SIZE", "4")
	t.Setenv("DRAGONFLY_YARA_TIMEOUT", "3")
	dir := t.TempDir()
	target := filepath.Join(dir, "big-1.0.tar.gz")
	writeTarGz(t, target, map[string]string{"big-1.0/a.py": "0123456789"})
	code, stdout, _ := runCLI(t, "scan", "--format", "json", target)
	if code != exitFailure || !strings.Contains(stdout, "too large: file big-1.0/a.py of 10 > limit 4") {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	t.Setenv("DRAGONFLY_YARA_TIMEOUT", "half a minute")
	if code, _, stderr := runCLI(t, "scan", target); code != exitFailure || !strings.Contains(stderr, "DRAGONFLY_YARA_TIMEOUT") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"60": time.Minute, "90s": 90 * time.Second, " 2m ": 2 * time.Minute} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "-5", "soon", "1e3"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) accepted", bad)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != exitOK || !strings.Contains(out, "libyara 4.") {
		t.Fatalf("%d %q", code, out)
	}
}

func TestScanURLTargets(t *testing.T) {
	dir := t.TempDir()
	writeTarGz(t, filepath.Join(dir, "evil-1.0.tar.gz"), map[string]string{"evil-1.0/setup.py": "x = 'EVIL_MARKER'"})
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()

	code, stdout, stderr := runCLI(t, "scan", "--format", "json", "--rules", testRules(t),
		srv.URL+"/evil-1.0.tar.gz?signature=s3cret", srv.URL+"/missing-2.0.tar.gz")
	if code != exitFindings {
		t.Fatalf("exit %d, want 1; stderr: %s", code, stderr)
	}
	var rep struct {
		Packages []struct {
			Name          string
			Score         int64
			Result        map[string]any
			Distributions []struct{ Status, Reason string }
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Packages) != 2 {
		t.Fatalf("%v\n%s", err, stdout)
	}
	evil, missing := rep.Packages[0], rep.Packages[1]
	wantInspector := "https://inspector.pypi.io/project/evil/1.0/evil-1.0.tar.gz/evil-1.0/setup.py"
	if evil.Name != "evil" || evil.Score != 7 || evil.Result["inspector_url"] != wantInspector {
		t.Errorf("evil: %+v", evil)
	}
	if want := "download failed: HTTP 404 " + srv.URL + "/missing-2.0.tar.gz"; missing.Name != "missing" ||
		missing.Distributions[0].Status != "failed" || missing.Distributions[0].Reason != want {
		t.Errorf("missing: %+v, want reason %q", missing, want)
	}
	if strings.Contains(stderr, "s3cret") {
		t.Errorf("the signed query string reached the logs: %s", stderr)
	}
}
