package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestComputeRates(t *testing.T) {
	runs := []runResult{
		{Tool: "A", Workers: 1, WallSeconds: 100},
		{Tool: "A", Workers: 2, WallSeconds: 50},
		{Tool: "B", Workers: 1, WallSeconds: 10},
		{Tool: "B", Workers: 2, WallSeconds: 5},
		{Tool: "dragonfly", Workers: 1, WallSeconds: 8},
		{Tool: "dragonfly", Workers: 2, WallSeconds: 4},
	}
	computeRates(runs, 1000e6, 400) // 1000 MB in 400 distributions
	d1, d2 := runs[4], runs[5]
	if !near(d2.MBPerSec, 250) || !near(d2.DistsPerSec, 100) || !near(d2.VsB, 1.25) || !near(d2.VsA, 12.5) {
		t.Errorf("dragonfly x2: %+v", d2)
	}
	if !near(d1.MBPerSec, 125) || !near(d1.VsB, 1.25) || !near(d1.VsA, 12.5) {
		t.Errorf("dragonfly x1 compares with the references' one-worker runs: %+v", d1)
	}
	if !near(runs[3].VsB, 1) || !near(runs[0].VsA, 1) || !near(runs[0].VsB, 0.1) {
		t.Errorf("references: %+v", runs[:4])
	}
	// Without a two-worker reference, the first one serves.
	tiny := []runResult{{Tool: "B", Workers: 1, WallSeconds: 3}, {Tool: "dragonfly", Workers: 2, WallSeconds: 1}}
	computeRates(tiny, 1e6, 1)
	if !near(tiny[1].VsB, 3) || tiny[1].VsA != 0 {
		t.Errorf("tiny: %+v", tiny[1])
	}
}

// report builds a report with the three corpora; scale multiplies
// dragonfly's speed, rss is its peak RSS and differ adds a findings
// difference on the release corpus.
func report(scale, rss float64, tinyFiles int64, tinySeconds float64, differ bool) *benchReport {
	runs := func(bWall, aWall float64) []runResult {
		rs := []runResult{
			{Tool: "A", Label: "A: extract to /tmp + yara CLI", Workers: 1, WallSeconds: 2 * aWall},
			{Tool: "A", Label: "A: extract to /tmp + yara CLI", Workers: 2, WallSeconds: aWall},
			{Tool: "B", Label: "B: refscan.py, in memory", Workers: 1, WallSeconds: 2 * bWall},
			{Tool: "B", Label: "B: refscan.py, in memory", Workers: 2, WallSeconds: bWall},
			{Tool: "dragonfly", Label: "dragonfly scan", Workers: 1, WallSeconds: 2 * bWall / scale, PeakRSSMB: rss / 2},
			{Tool: "dragonfly", Label: "dragonfly scan", Workers: 2, WallSeconds: bWall / scale, PeakRSSMB: rss},
		}
		computeRates(rs, 1150e6, 431)
		return rs
	}
	def := &corpusReport{Name: "default", Mode: "default", Distributions: 431, Expanded: 1150e6, Runs: runs(6, 32),
		Comparisons: []comparison{{Left: "dragonfly scan (2 threads)", Right: "B", Compared: 431, Identical: 431}}}
	rel := &corpusReport{Name: "releases", Mode: "releases", Distributions: 120, Expanded: 500e6, DuplicateShare: 0.612,
		Runs: runs(3, 20), Comparisons: []comparison{{Left: "dragonfly scan (2 threads)", Right: "B", Compared: 120, Identical: 120}}}
	if differ {
		rel.Comparisons[0].Identical--
		rel.Comparisons[0].Differences = []difference{{Target: "r/x-1.0.tar.gz", What: "score", Got: "5", Want: "10"}}
	}
	tinyRuns := []runResult{{Tool: "B", Label: "B: refscan.py, in memory", Workers: 1, WallSeconds: 9},
		{Tool: "dragonfly", Label: "dragonfly scan", Workers: 2, WallSeconds: tinySeconds}}
	computeRates(tinyRuns, 600e3, 1)
	tiny := &corpusReport{Name: "tiny", Mode: "tiny", Distributions: 1, Members: tinyFiles, Runs: tinyRuns}
	rep := &benchReport{Repeat: 3, Corpora: []*corpusReport{def, rel, tiny}, Identical: !differ}
	rep.Targets = checkTargets(rep)
	return rep
}

func targetLines(t *testing.T, rep *benchReport) (map[string]targetCheck, string) {
	t.Helper()
	byName := map[string]targetCheck{}
	for _, tc := range rep.Targets {
		byName[tc.Target] = tc
	}
	var md bytes.Buffer
	writeMarkdown(&md, rep)
	return byName, md.String()
}

func TestTargetsMet(t *testing.T) {
	rep := report(4, 120, 100000, 0.9, false)
	byName, md := targetLines(t, rep)
	// dragonfly x2 runs in 6/4 = 1.5 s on the default corpus: 4x B, 21.3x A.
	for _, want := range []struct {
		target, value string
	}{
		{"default corpus, 2 workers: dragonfly at least 1.3x B", "4.00x"},
		{"default corpus, 2 workers: dragonfly at least 6x A", "21.33x"},
		{"default corpus, 2 workers: dragonfly peak RSS under 300 MB", "120 MB"},
		{"default corpus: findings identical to B", "yes"},
		{"release-shaped corpus, 2 workers: dragonfly at least 3x B", "4.00x"},
		{"release-shaped corpus: findings identical to B", "yes"},
		{"100000 tiny files in one archive: dragonfly scan under 1.5 s", "0.90 s"},
	} {
		tc, ok := byName[want.target]
		if !ok {
			t.Errorf("no target %q", want.target)
			continue
		}
		if tc.Value != want.value || !tc.Met || tc.Skipped != "" {
			t.Errorf("%s: %+v, want %s and met", want.target, tc, want.value)
		}
		if line := "- " + want.target + ": " + want.value + " (met)"; !strings.Contains(md, line) {
			t.Errorf("report lacks %q", line)
		}
	}
	if len(rep.Targets) != 7 {
		t.Errorf("%d targets, want 7", len(rep.Targets))
	}
	for _, want := range []string{
		"| dragonfly scan | 2 | 1.50 | 766.7 | 287.3 |",
		"duplicate bytes 61.2% of 500.0 MB expanded",
		"identical findings everywhere",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "NOT met") || strings.Contains(md, "Quick mode") {
		t.Errorf("report:\n%s", md)
	}
}

func TestTargetsUnmet(t *testing.T) {
	rep := report(1.1, 420, 100000, 2.25, true)
	byName, md := targetLines(t, rep)
	for target, value := range map[string]string{
		"default corpus, 2 workers: dragonfly at least 1.3x B":         "1.10x",
		"default corpus, 2 workers: dragonfly at least 6x A":           "5.87x",
		"default corpus, 2 workers: dragonfly peak RSS under 300 MB":   "420 MB",
		"release-shaped corpus, 2 workers: dragonfly at least 3x B":    "1.10x",
		"release-shaped corpus: findings identical to B":               "no",
		"100000 tiny files in one archive: dragonfly scan under 1.5 s": "2.25 s",
	} {
		tc := byName[target]
		if tc.Value != value || tc.Met {
			t.Errorf("%s: %+v, want %s and not met", target, tc, value)
		}
		if line := "- " + target + ": " + value + " (NOT met)"; !strings.Contains(md, line) {
			t.Errorf("report lacks %q", line)
		}
	}
	if tc := byName["default corpus: findings identical to B"]; !tc.Met {
		t.Errorf("the default corpus's findings are identical: %+v", tc)
	}
	for _, want := range []string{"1 DIFFERENCES", "r/x-1.0.tar.gz: score: dragonfly 5, reference 10", "FINDINGS DIFFER"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// A tiny-files archive smaller than the target's is reported, not judged,
// and a quick corpus says so.
func TestTargetsQuick(t *testing.T) {
	rep := report(4, 120, 10000, 0.2, false)
	rep.Corpora[0].Mode, rep.Corpora[1].Mode = "quick", "releases-quick"
	byName, md := targetLines(t, rep)
	tc := byName["100000 tiny files in one archive: dragonfly scan under 1.5 s"]
	if tc.Met || tc.Skipped == "" {
		t.Errorf("tiny target on 10000 files: %+v", tc)
	}
	for _, want := range []string{"(not evaluated: this archive holds 10000 files)", "**Quick mode**"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestMeasureExitCode(t *testing.T) {
	m, err := measure(exec.Command("sh", "-c", "echo oops >&2; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Exit != 3 || m.Stderr != "oops\n" || m.Wall <= 0 {
		t.Errorf("measurement %+v", m)
	}
	if _, err := measure(exec.Command("/nonexistent/dfbench-tool")); err == nil {
		t.Error("a missing program measured")
	}
}

// scripts/bench/run rejects what it does not understand before installing
// or building anything.
func TestRunScriptArguments(t *testing.T) {
	script := filepath.Join("..", "..", "scripts", "bench", "run")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "scripts/bench/run [--quick]"},
		{[]string{"--frobnicate"}, 2, "unknown argument --frobnicate"},
		{[]string{"--repeat", "0"}, 2, "--repeat wants a positive number"},
		{[]string{"--quick", "--tiny=many"}, 2, "--tiny wants a positive number"},
	} {
		cmd := exec.Command("bash", append([]string{script}, tc.args...)...)
		cmd.Env = append(os.Environ(), "DFBENCH_WORK="+t.TempDir())
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("run %v: exit %d, output %q; want exit %d and %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}

func TestBuildTags(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary is built without tags (go test -tags would add them).
	if got := buildTags(exe); got != "" && !strings.HasPrefix(got, " (build tags: ") {
		t.Errorf("buildTags(test binary) = %q", got)
	}
	if got := buildTags("/dfbench/no/such/binary"); got != "" {
		t.Errorf("buildTags(missing) = %q", got)
	}
}
