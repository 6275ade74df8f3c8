package main

import (
	"fmt"
	"io"
)

// tinyTargetFiles is the size of the tiny-files target of issue 6: that
// many files in one archive, scanned in under tinyTargetSeconds.
const (
	tinyTargetFiles   = 100000
	tinyTargetSeconds = 1.5
)

// checkTargets evaluates the targets of issue 6. The daemon's comes from
// BenchmarkDaemonVersusScan (cmd/dragonfly), which scripts/bench/run runs
// and hands over with --daemon-bench.
func checkTargets(rep *benchReport) []targetCheck {
	var out []targetCheck
	corpus := func(name string) *corpusReport {
		for _, cr := range rep.Corpora {
			if cr.Name == name {
				return cr
			}
		}
		return nil
	}
	find := func(cr *corpusReport, tool string, workers int) *runResult {
		for i := range cr.Runs {
			if cr.Runs[i].Tool == tool && cr.Runs[i].Workers == workers {
				return &cr.Runs[i]
			}
		}
		return nil
	}
	identical := func(cr *corpusReport) bool {
		for _, cmp := range cr.Comparisons {
			if len(cmp.Differences) > 0 {
				return false
			}
		}
		return true
	}
	if cr := corpus("default"); cr != nil {
		if d := find(cr, "dragonfly", 2); d != nil {
			out = append(out,
				targetCheck{Target: "default corpus, 2 workers: dragonfly at least 1.3x B", Value: fmt.Sprintf("%.2fx", d.VsB), Met: d.VsB >= 1.3},
				targetCheck{Target: "default corpus, 2 workers: dragonfly at least 6x A", Value: fmt.Sprintf("%.2fx", d.VsA), Met: d.VsA >= 6},
				targetCheck{Target: "default corpus, 2 workers: dragonfly peak RSS under 300 MB", Value: fmt.Sprintf("%.0f MB", d.PeakRSSMB), Met: d.PeakRSSMB < 300})
		}
		ok := identical(cr)
		out = append(out, targetCheck{Target: "default corpus: findings identical to B", Value: yesNo(ok), Met: ok})
	}
	if cr := corpus("releases"); cr != nil {
		if d := find(cr, "dragonfly", 2); d != nil {
			out = append(out, targetCheck{Target: "release-shaped corpus, 2 workers: dragonfly at least 3x B", Value: fmt.Sprintf("%.2fx", d.VsB), Met: d.VsB >= 3})
		}
		ok := identical(cr)
		out = append(out, targetCheck{Target: "release-shaped corpus: findings identical to B", Value: yesNo(ok), Met: ok})
	}
	if cr := corpus("tiny"); cr != nil {
		if d := find(cr, "dragonfly", 2); d != nil {
			t := targetCheck{Target: fmt.Sprintf("%d tiny files in one archive: dragonfly scan under %.1f s", tinyTargetFiles, tinyTargetSeconds),
				Value: fmt.Sprintf("%.2f s", d.WallSeconds), Met: d.WallSeconds < tinyTargetSeconds}
			if cr.Members < tinyTargetFiles {
				t.Met = false
				t.Skipped = fmt.Sprintf("this archive holds %d files", cr.Members)
			}
			out = append(out, t)
		}
	}
	return append(out, daemonTarget(rep.Daemon))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// quickMode reports whether any corpus of the report is a quick one.
func quickMode(rep *benchReport) bool {
	for _, cr := range rep.Corpora {
		if cr.Mode == "quick" || cr.Mode == "releases-quick" {
			return true
		}
	}
	return false
}

// writeMarkdown prints the report: one table per corpus, the findings
// comparisons, the targets.
func writeMarkdown(w io.Writer, rep *benchReport) {
	fmt.Fprintf(w, "## dfbench: dragonfly scan against the references of issue 6\n\n")
	fmt.Fprintf(w, "%s; %s; %s; %s; %s. Best wall time of %d run(s); peak RSS is the highest, process tree included.\n",
		rep.Date, rep.Host, rep.Dragonfly, rep.Yara, rep.Python, rep.Repeat)
	fmt.Fprintf(w, "A: each distribution extracted into a fresh folder under /tmp, then `yara -C -N -r -p 1`, then removed (workers: distributions at once). "+
		"B: scripts/bench/refscan.py under /usr/bin/python3 with python3-yara, in memory (workers: processes). "+
		"MB/s counts expanded bytes; × B and × A divide by the reference with as many workers.\n")
	if quickMode(rep) {
		fmt.Fprintf(w, "\n**Quick mode**: small corpora, for a smoke test; the ratios say little about the targets.\n")
	}
	for _, cr := range rep.Corpora {
		fmt.Fprintf(w, "\n### Corpus %s (%s)\n\n", cr.Name, cr.Mode)
		fmt.Fprintf(w, "%d distributions, %d files, %.1f MB compressed, %.1f MB expanded; duplicate bytes (SHA-256 of file contents, expanded): %.1f%%; hash %.12s\n\n",
			cr.Distributions, cr.Members, float64(cr.Bytes)/1e6, float64(cr.Expanded)/1e6, 100*cr.DuplicateShare, cr.Hash)
		fmt.Fprintln(w, "| run | workers | wall s | MB/s | dists/s | CPU s | peak RSS MB | × B | × A |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range cr.Runs {
			fmt.Fprintf(w, "| %s | %d | %.2f | %.1f | %.1f | %.1f | %.0f | %s | %s |\n", r.Label, r.Workers, r.WallSeconds,
				r.MBPerSec, r.DistsPerSec, r.CPUSeconds, r.PeakRSSMB, ratio(r.VsB), ratio(r.VsA))
		}
		for _, r := range cr.Runs {
			if r.Detail != "" {
				fmt.Fprintf(w, "\n%s, %d %s: %s.\n", r.Label, r.Workers, workerNoun(r.Tool, r.Workers), r.Detail)
			}
		}
		fmt.Fprintln(w)
		for _, cmp := range cr.Comparisons {
			printComparison(w, cmp)
		}
	}
	if len(rep.Daemon) > 0 {
		writeDaemonMarkdown(w, rep.Daemon)
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintf(w, "\n### Targets of issue 6\n\n")
		for _, t := range rep.Targets {
			mark := "met"
			switch {
			case t.Skipped != "":
				mark = "not evaluated: " + t.Skipped
			case !t.Met:
				mark = "NOT met"
			}
			fmt.Fprintf(w, "- %s: %s (%s)\n", t.Target, t.Value, mark)
		}
		for _, cr := range rep.Corpora {
			if cr.Name == "releases" {
				fmt.Fprintf(w, "- release-shaped corpus: duplicate bytes %.1f%% of %.1f MB expanded (reported, no target)\n",
					100*cr.DuplicateShare, float64(cr.Expanded)/1e6)
			}
		}
	}
	verdict := "identical findings everywhere"
	if !rep.Identical {
		verdict = "FINDINGS DIFFER (exit 1)"
	}
	fmt.Fprintf(w, "\n%s\n", verdict)
}

func ratio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}
