package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// The findings comparison: dragonfly and refscan.py must agree on every
// distribution, or the speed of one says nothing about the other. Both
// write distributions in the shape of dragonfly's JSON report, so one
// reader serves both.

// jsonDist is one distribution of dragonfly's --format json report (see
// README § JSON report) or of refscan.py's output.
type jsonDist struct {
	Target string `json:"target"`
	Status string `json:"status"`
	Reason string `json:"reason"`
	Score  int64  `json:"score"`
	Rules  []struct {
		Name   string `json:"name"`
		Weight int64  `json:"weight"`
	} `json:"rules"`
	Files []struct {
		Path  string   `json:"path"`
		Score int64    `json:"score"`
		Rules []string `json:"rules"`
	} `json:"files"`
	FilesScanned  int64 `json:"files_scanned"`
	BytesExpanded int64 `json:"bytes_expanded"`
}

// findings is what the comparison looks at in one distribution.
type findings struct {
	Status string
	Reason string
	Score  int64
	Rules  []string // distinct counted rules, sorted
	// Files maps each file for which a rule counted to "score: rules",
	// rules sorted: which file carried a finding matters as much as that
	// it was found.
	Files         map[string]string
	FilesScanned  int64
	BytesExpanded int64
}

// findingsOf indexes distributions by target, cleaned, so that "dir/x" and
// "dir//x" agree.
func findingsOf(dists []jsonDist) map[string]findings {
	out := make(map[string]findings, len(dists))
	for _, d := range dists {
		f := findings{Status: d.Status, Reason: d.Reason, Score: d.Score, Files: map[string]string{},
			FilesScanned: d.FilesScanned, BytesExpanded: d.BytesExpanded}
		for _, r := range d.Rules {
			f.Rules = append(f.Rules, r.Name)
		}
		sort.Strings(f.Rules)
		for _, file := range d.Files {
			rules := slices.Clone(file.Rules)
			sort.Strings(rules)
			f.Files[file.Path] = fmt.Sprintf("%d: %s", file.Score, strings.Join(rules, " "))
		}
		out[filepath.Clean(d.Target)] = f
	}
	return out
}

// readDragonflyReport reads dragonfly scan --format json output.
func readDragonflyReport(r io.Reader) ([]jsonDist, error) {
	var rep struct {
		Packages []struct {
			Distributions []jsonDist `json:"distributions"`
		} `json:"packages"`
	}
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("dragonfly report: %w", err)
	}
	var out []jsonDist
	for _, p := range rep.Packages {
		out = append(out, p.Distributions...)
	}
	return out, nil
}

// refscanOutput is refscan.py's output.
type refscanOutput struct {
	Tool          string     `json:"tool"`
	Yara          string     `json:"yara"`
	Procs         int        `json:"procs"`
	Distributions []jsonDist `json:"distributions"`
}

func readRefscan(r io.Reader) (*refscanOutput, error) {
	var out refscanOutput
	if err := json.NewDecoder(r).Decode(&out); err != nil {
		return nil, fmt.Errorf("refscan output: %w", err)
	}
	return &out, nil
}

// difference is one disagreement about one distribution.
type difference struct {
	Target string `json:"target"`
	What   string `json:"what"`
	Got    string `json:"dragonfly"`
	Want   string `json:"reference"`
}

func (d difference) String() string {
	return fmt.Sprintf("%s: %s: dragonfly %s, reference %s", d.Target, d.What, d.Got, d.Want)
}

// comparison sums up one comparison.
type comparison struct {
	Left, Right  string // what was compared, for the report
	Compared     int    `json:"compared"`
	Identical    int    `json:"identical"`
	WithFindings int    `json:"with_findings"` // distributions where any rule counted (by the reference)
	Differences  []difference
}

// compareFindings compares got (dragonfly) with want (the reference),
// distribution by distribution: status, score, the set of counted rules,
// the files that carried them, and the files and bytes seen (which tell
// whether both walked the same nested archives and links).
func compareFindings(got, want map[string]findings) comparison {
	var c comparison
	targets := make([]string, 0, len(want))
	for t := range want {
		targets = append(targets, t)
	}
	for t := range got {
		if _, ok := want[t]; !ok {
			targets = append(targets, t)
		}
	}
	sort.Strings(targets)
	for _, t := range targets {
		g, inGot := got[t]
		w, inWant := want[t]
		c.Compared++
		switch {
		case !inGot:
			c.Differences = append(c.Differences, difference{t, "distribution", "missing", "present"})
			continue
		case !inWant:
			c.Differences = append(c.Differences, difference{t, "distribution", "present", "missing"})
			continue
		}
		if len(w.Rules) > 0 {
			c.WithFindings++
		}
		n := len(c.Differences)
		add := func(what, gv, wv string) {
			if gv != wv {
				c.Differences = append(c.Differences, difference{t, what, gv, wv})
			}
		}
		add("status", g.Status+reasonSuffix(g.Reason), w.Status+reasonSuffix(w.Reason))
		add("score", fmt.Sprint(g.Score), fmt.Sprint(w.Score))
		add("rules", "["+strings.Join(g.Rules, " ")+"]", "["+strings.Join(w.Rules, " ")+"]")
		add("files scanned", fmt.Sprint(g.FilesScanned), fmt.Sprint(w.FilesScanned))
		add("bytes expanded", fmt.Sprint(g.BytesExpanded), fmt.Sprint(w.BytesExpanded))
		paths := map[string]bool{}
		for p := range g.Files {
			paths[p] = true
		}
		for p := range w.Files {
			paths[p] = true
		}
		for _, p := range slices.Sorted(maps.Keys(paths)) {
			gv, wv := g.Files[p], w.Files[p]
			if gv == "" {
				gv = "nothing"
			}
			if wv == "" {
				wv = "nothing"
			}
			add("file "+p, gv, wv)
		}
		if len(c.Differences) == n {
			c.Identical++
		}
	}
	return c
}

// reasonSuffix shows a failure's class, not its wording, which differs
// between the two implementations.
func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	class, _, _ := strings.Cut(reason, ":")
	return " (" + class + ")"
}

// printComparison writes the outcome, and every difference.
func printComparison(w io.Writer, c comparison) {
	verdict := "identical"
	if len(c.Differences) > 0 {
		verdict = fmt.Sprintf("%d DIFFERENCES", len(c.Differences))
	}
	fmt.Fprintf(w, "findings, %s vs %s: %d/%d distributions identical (%d with findings): %s\n",
		c.Left, c.Right, c.Identical, c.Compared, c.WithFindings, verdict)
	for _, d := range c.Differences {
		fmt.Fprintf(w, "  %s\n", d)
	}
}

func compareCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: dfbench compare DRAGONFLY.json REFSCAN.json")
		return 2
	}
	got, want, err := loadBoth(args[0], args[1])
	if err != nil {
		fmt.Fprintf(stderr, "dfbench compare: %v\n", err)
		return 2
	}
	c := compareFindings(got, want)
	c.Left, c.Right = args[0], args[1]
	printComparison(stdout, c)
	if len(c.Differences) > 0 {
		return 1
	}
	return 0
}

func loadBoth(dragonflyPath, refscanPath string) (got, want map[string]findings, err error) {
	f, err := os.Open(dragonflyPath)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	dd, err := readDragonflyReport(f)
	if err != nil {
		return nil, nil, err
	}
	g, err := os.Open(refscanPath)
	if err != nil {
		return nil, nil, err
	}
	defer g.Close()
	ref, err := readRefscan(g)
	if err != nil {
		return nil, nil, err
	}
	return findingsOf(dd), findingsOf(ref.Distributions), nil
}
