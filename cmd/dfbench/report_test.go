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

// targetLines judges rep's targets afresh and returns them by name, with
// the Markdown report.
func targetLines(t *testing.T, rep *benchReport) (map[string]targetCheck, string) {
	t.Helper()
	rep.Targets = checkTargets(rep)
	byName := map[string]targetCheck{}
	for _, tc := range rep.Targets {
		byName[tc.Target] = tc
	}
	var md bytes.Buffer
	writeMarkdown(&md, rep)
	return byName, md.String()
}

// daemonTargetName is the daemon target's name in the report.
const daemonTargetName = "daemon end to end within 10% of dragonfly scan, every placement"

func TestTargetsMet(t *testing.T) {
	rep := report(4, 120, 100000, 0.9, false)
	rep.Daemon = []daemonPlacement{{Placement: "shared", Runs: 3, WallRatio: 1.09}, {Placement: "split", Runs: 3, WallRatio: 1.04}}
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
		{daemonTargetName, "shared 1.090x, split 1.040x (medians)"},
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
	if len(rep.Targets) != 8 {
		t.Errorf("%d targets, want 8", len(rep.Targets))
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
	rep.Daemon = []daemonPlacement{{Placement: "shared", Runs: 5, WallRatio: 1.224}, {Placement: "split", Runs: 5, WallRatio: 1.082}}
	byName, md := targetLines(t, rep)
	for target, value := range map[string]string{
		"default corpus, 2 workers: dragonfly at least 1.3x B":         "1.10x",
		"default corpus, 2 workers: dragonfly at least 6x A":           "5.87x",
		"default corpus, 2 workers: dragonfly peak RSS under 300 MB":   "420 MB",
		"release-shaped corpus, 2 workers: dragonfly at least 3x B":    "1.10x",
		"release-shaped corpus: findings identical to B":               "no",
		"100000 tiny files in one archive: dragonfly scan under 1.5 s": "2.25 s",
		daemonTargetName: "shared 1.224x, split 1.082x (medians)",
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

// The daemon's benchmark output is summarised by medians per placement;
// without it the target is reported as not evaluated.
func TestDaemonBench(t *testing.T) {
	out := `goos: linux
BenchmarkDaemonVersusScan/cores=shared-2 	       1	7915956761 ns/op	         0.6324 mainframe-cpu-s	       257.5 run-MB/s	         8.000 run-connections	        75.92 run-jobs/s	       435.7 run-peakRSS-MB	         1.142 run/scan-cpu	         1.163 run/scan-time	       299.6 scan-MB/s	       274.5 scan-peakRSS-MB
--- BENCH: BenchmarkDaemonVersusScan-2
    bench_test.go:257: corpus: 322 releases
BenchmarkDaemonVersusScan/cores=shared-2 	       1	8361397328 ns/op	         0.6447 mainframe-cpu-s	       232.5 run-MB/s	        12.00 run-connections	        68.55 run-jobs/s	       424.3 run-peakRSS-MB	         1.260 run/scan-cpu	         1.288 run/scan-time	       299.5 scan-MB/s	       274.7 scan-peakRSS-MB
BenchmarkDaemonVersusScan/cores=split-2 	       1	12903157808 ns/op	         1.000 daemon-first	         0.4798 plain-download-cpu-s	         1.031 transfer-floor	         0.6162 mainframe-cpu-s	       172.9 run-MB/s	         4.000 run-connections	        50.97 run-jobs/s	       251.5 run-peakRSS-MB	         0.9528 run/scan-cpu	         0.9633 run/scan-time	       166.6 scan-MB/s	       195.0 scan-peakRSS-MB
BenchmarkDaemonVersusScan/cores=shared-2 	       1	8000000000 ns/op	         0.5 mainframe-cpu-s	       250 run-MB/s	         8 run-connections	        70 run-jobs/s	       430 run-peakRSS-MB	         1.2 run/scan-cpu	         1.2 run/scan-time	       300 scan-MB/s	       275 scan-peakRSS-MB
PASS
`
	ps, err := parseDaemonBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Placement != "shared" || ps[1].Placement != "split" {
		t.Fatalf("placements %+v", ps)
	}
	if sh := ps[0]; sh.Runs != 3 || !near(sh.WallRatio, 1.2) || !near(sh.CPURatio, 1.2) || !near(sh.FakeCPU, 0.6324) || !near(sh.RunMBs, 250) || !near(sh.ScanMBs, 299.6) {
		t.Errorf("shared: %+v", sh)
	}
	if sp := ps[1]; sp.Runs != 1 || !near(sp.WallRatio, 0.9633) || !near(sp.TransferFloor, 1.031) {
		t.Errorf("split: %+v", sp)
	}
	if !near(median([]float64{4, 1, 3, 2}), 2.5) || median(nil) != 0 {
		t.Error("median")
	}
	if _, err := parseDaemonBench(strings.NewReader("BenchmarkDaemonVersusScan/cores=shared-2 \t 1\t 5 ns/op\n")); err == nil {
		t.Error("a placement without run/scan-time was accepted")
	}

	rep := report(4, 120, 100000, 0.9, false)
	rep.Daemon = ps
	byName, md := targetLines(t, rep)
	if tc := byName[daemonTargetName]; tc.Met || tc.Value != "shared 1.200x, split 0.963x (medians)" {
		t.Errorf("daemon target %+v", tc)
	}
	if !strings.Contains(md, "| shared | 3 | 1.200 | 1.200 | not measured | 0.63 | 250.0 | 299.6 |") ||
		!strings.Contains(md, "| split | 1 | 0.963 | 0.953 | 1.031 | 0.62 | 172.9 | 166.6 |") {
		t.Errorf("report lacks the daemon table:\n%s", md)
	}
	byName, md = targetLines(t, report(4, 120, 100000, 0.9, false))
	if tc := byName[daemonTargetName]; tc.Met || tc.Skipped == "" || !strings.Contains(md, daemonTargetName+":  (not evaluated: not measured") {
		t.Errorf("without the benchmark: %+v\n%s", tc, md)
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
