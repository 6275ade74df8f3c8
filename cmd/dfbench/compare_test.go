package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// refDist is a distribution as both dragonfly's JSON report and
// refscan.py's output write it.
func refDist(target, status, reason string, score int, rules []string, files map[string][]string) map[string]any {
	var rs []map[string]any
	for _, r := range rules {
		rs = append(rs, map[string]any{"name": r, "weight": 5})
	}
	var fs []map[string]any
	for path, names := range files {
		fs = append(fs, map[string]any{"path": path, "score": 5 * len(names), "rules": names})
	}
	return map[string]any{"target": target, "status": status, "reason": reason, "score": score, "rules": rs, "files": fs,
		"files_scanned": 12, "bytes_expanded": 3400}
}

// decodeDists turns refDist values into what the readers return.
func decodeDists(t *testing.T, ds ...map[string]any) []jsonDist {
	t.Helper()
	b, err := json.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	var out []jsonDist
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func baseline() []map[string]any {
	return []map[string]any{
		refDist("corpus/a-1.0.tar.gz", "complete", "", 10, []string{"exec_b64", "curl_setup"},
			map[string][]string{"a-1.0/setup.py": {"curl_setup"}, "a-1.0/a/x.py": {"exec_b64"}}),
		refDist("corpus/b-1.0-py3-none-any.whl", "complete", "", 0, nil, nil),
		refDist("corpus/c-1.0.zip", "failed", "malformed: zip: not a valid zip file", 0, nil, nil),
	}
}

func TestCompareFindingsIdentical(t *testing.T) {
	want := findingsOf(decodeDists(t, baseline()...))
	// The same findings, listed in another order, with rules and files
	// reordered, a target spelled with a doubled slash and a failure
	// worded differently: identical.
	other := baseline()
	other[0] = refDist("corpus//a-1.0.tar.gz", "complete", "", 10, []string{"curl_setup", "exec_b64"},
		map[string][]string{"a-1.0/a/x.py": {"exec_b64"}, "a-1.0/setup.py": {"curl_setup"}})
	other[2]["reason"] = "malformed: zip: reading the central directory: unexpected EOF"
	got := findingsOf(decodeDists(t, other[2], other[0], other[1]))
	c := compareFindings(got, want)
	if len(c.Differences) != 0 || c.Compared != 3 || c.Identical != 3 || c.WithFindings != 1 {
		t.Fatalf("comparison %+v, want 3 identical of 3, 1 with findings", c)
	}
	var out bytes.Buffer
	printComparison(&out, c)
	if !strings.Contains(out.String(), "3/3 distributions identical (1 with findings): identical") {
		t.Errorf("printed: %s", out.String())
	}
}

func TestCompareFindingsDiffer(t *testing.T) {
	want := findingsOf(decodeDists(t, baseline()...))
	for _, tc := range []struct {
		name   string
		change func(ds []map[string]any) []map[string]any
		what   []string // the differences' What, in order
	}{
		{"score", func(ds []map[string]any) []map[string]any { ds[0]["score"] = 15; return ds }, []string{"score"}},
		{"rule missing", func(ds []map[string]any) []map[string]any {
			ds[0] = refDist("corpus/a-1.0.tar.gz", "complete", "", 10, []string{"exec_b64"},
				map[string][]string{"a-1.0/setup.py": {"curl_setup"}, "a-1.0/a/x.py": {"exec_b64"}})
			return ds
		}, []string{"rules"}},
		{"finding on another file", func(ds []map[string]any) []map[string]any {
			ds[0] = refDist("corpus/a-1.0.tar.gz", "complete", "", 10, []string{"exec_b64", "curl_setup"},
				map[string][]string{"a-1.0/setup.py": {"curl_setup"}, "a-1.0/a/y.py": {"exec_b64"}})
			return ds
		}, []string{"file a-1.0/a/x.py", "file a-1.0/a/y.py"}},
		{"status class", func(ds []map[string]any) []map[string]any {
			ds[2]["reason"] = "unsupported: encrypted zip entry"
			return ds
		}, []string{"status"}},
		{"files scanned", func(ds []map[string]any) []map[string]any { ds[1]["files_scanned"] = 11; return ds }, []string{"files scanned"}},
		{"bytes expanded", func(ds []map[string]any) []map[string]any { ds[1]["bytes_expanded"] = 1; return ds }, []string{"bytes expanded"}},
		{"distribution missing", func(ds []map[string]any) []map[string]any { return ds[:2] }, []string{"distribution"}},
		{"distribution extra", func(ds []map[string]any) []map[string]any {
			return append(ds, refDist("corpus/d-1.0.tar.gz", "complete", "", 0, nil, nil))
		}, []string{"distribution"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := findingsOf(decodeDists(t, tc.change(baseline())...))
			c := compareFindings(got, want)
			var whats []string
			for _, d := range c.Differences {
				whats = append(whats, d.What)
			}
			if fmt.Sprint(whats) != fmt.Sprint(tc.what) {
				t.Fatalf("differences %v, want %v", c.Differences, tc.what)
			}
			if c.Identical != c.Compared-1 {
				t.Errorf("%d of %d identical, want all but one", c.Identical, c.Compared)
			}
			var out bytes.Buffer
			printComparison(&out, c)
			if !strings.Contains(out.String(), fmt.Sprintf("%d DIFFERENCES", len(tc.what))) {
				t.Errorf("printed: %s", out.String())
			}
		})
	}
}

// dfbench compare reads dragonfly's report and refscan.py's output from
// files and exits 1 on a difference.
func TestCompareCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ds := baseline()
	// dragonfly groups distributions by package.
	report := write("dragonfly.json", map[string]any{"packages": []any{
		map[string]any{"name": "a", "distributions": []any{ds[0]}},
		map[string]any{"name": "b", "distributions": []any{ds[1], ds[2]}},
	}})
	ref := write("refscan.json", map[string]any{"tool": "refscan.py", "procs": 2, "distributions": ds})
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"compare", report, ref}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	changed := baseline()
	changed[1]["score"] = 3
	ref2 := write("refscan2.json", map[string]any{"distributions": changed})
	stdout.Reset()
	if code := dispatch([]string{"compare", report, ref2}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stdout.String())
	}
	if !strings.Contains(stdout.String(), "corpus/b-1.0-py3-none-any.whl: score: dragonfly 0, reference 3") {
		t.Errorf("printed: %s", stdout.String())
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	if code := dispatch([]string{"compare", bad, ref}, &stdout, &stderr); code != 2 {
		t.Errorf("unreadable report: exit %d, want 2", code)
	}
}
