package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// The JSON report of "dragonfly scan --format json". Its shape is stable and
// documented in the README; tests read it.
type report struct {
	RulesHash string          `json:"rules_hash"`
	Packages  []packageReport `json:"packages"`
}

type packageReport struct {
	Name         string          `json:"name"`
	Version      string          `json:"version"`
	Score        int64           `json:"score"`
	RulesMatched []string        `json:"rules_matched"`
	Result       json.RawMessage `json:"result"` // the exact body PUT /package would carry
	Dists        []distReport    `json:"distributions"`

	failed bool
}

type distReport struct {
	Target        string       `json:"target"`
	Format        string       `json:"format"`
	Status        string       `json:"status"`
	Reason        string       `json:"reason"`
	Score         int64        `json:"score"`
	BytesExpanded int64        `json:"bytes_expanded"`
	FilesScanned  int64        `json:"files_scanned"`
	Rules         []ruleReport `json:"rules"`
	Files         []fileReport `json:"files"`
	Notes         []noteReport `json:"notes"`

	res *scan.DistResult // for the SARIF report, which needs raw paths
}

type ruleReport struct {
	Name   string `json:"name"`
	Weight int64  `json:"weight"`
}

type fileReport struct {
	Path  string   `json:"path"`
	Score int64    `json:"score"`
	Rules []string `json:"rules"`
}

type noteReport struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// buildReport groups distributions into packages by the name and version of
// their file names, in the order packages first appear; a file name that
// cannot be parsed is a package of its own.
func buildReport(rs *rules.RuleSet, targets []string, dists []*scan.DistResult) *report {
	rep := &report{RulesHash: rs.Hash(), Packages: []packageReport{}}
	type group struct {
		name, version string
		dists         []*scan.DistResult
	}
	var groups []*group
	index := map[string]*group{}
	for i, t := range targets {
		name, version, ok := scan.ParseDistName(stripQuery(t))
		key := name + "\x00" + version
		if !ok {
			name, version, key = filepath.Base(stripQuery(t)), "", "\x01"+t
		}
		g := index[key]
		if g == nil {
			g = &group{name: name, version: version}
			index[key] = g
			groups = append(groups, g)
		}
		g.dists = append(g.dists, dists[i])
	}
	for _, g := range groups {
		v := scan.Compose(g.name, g.version, g.dists)
		body, _ := api.NewResult(g.name, g.version, rs.Hash(), v).MarshalJSON() // cannot fail: strings, ints and a list
		p := packageReport{Name: g.name, Version: g.version, Score: v.Score, RulesMatched: v.RulesMatched,
			Result: body, failed: v.Failed()}
		for _, d := range g.dists {
			p.Dists = append(p.Dists, newDistReport(d))
		}
		rep.Packages = append(rep.Packages, p)
	}
	return rep
}

func newDistReport(d *scan.DistResult) distReport {
	r := distReport{Target: d.Target, Format: string(d.Format), Status: d.Status(), Score: d.Score,
		BytesExpanded: d.BytesExpanded, FilesScanned: d.FilesScanned,
		Rules: []ruleReport{}, Files: []fileReport{}, Notes: []noteReport{}, res: d}
	if d.Err != nil {
		r.Reason = d.Err.Error()
	}
	for _, h := range d.Rules {
		r.Rules = append(r.Rules, ruleReport{Name: h.Name, Weight: h.Weight})
	}
	for _, f := range d.Files {
		r.Files = append(r.Files, fileReport{Path: archive.DisplayName(f.Path), Score: f.Score, Rules: f.Rules})
	}
	for _, n := range d.Notes {
		r.Notes = append(r.Notes, noteReport{Path: n.Path, Reason: n.Reason})
	}
	return r
}

// exitCode is 1 when a package's score (partial findings of failed
// distributions included) reaches failScore, else 2 when anything failed,
// else 0.
func (r *report) exitCode(failScore int64) int {
	failed := false
	for _, p := range r.Packages {
		if p.Score >= failScore {
			return exitFindings
		}
		failed = failed || p.failed
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// writeTable prints a human-readable report.
func (r *report) writeTable(w io.Writer, rulesLabel string) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "rules: %s (hash %s)\n", rulesLabel, shortHash(r.RulesHash))
	for _, p := range r.Packages {
		verdict := "clean"
		switch {
		case p.failed:
			verdict = "FAILED"
		case p.Score > 0:
			verdict = "MATCHED"
		}
		fmt.Fprintf(ew, "\n%s %s: %s, score %d", p.Name, p.Version, verdict, p.Score)
		if len(p.RulesMatched) > 0 {
			fmt.Fprintf(ew, " (%s)", strings.Join(p.RulesMatched, ", "))
		}
		fmt.Fprintln(ew)
		for _, d := range p.Dists {
			fmt.Fprintf(ew, "  %s [%s] %s, score %d, %d files, %s expanded\n", d.Target, orDash(d.Format), d.Status,
				d.Score, d.FilesScanned, humanBytes(d.BytesExpanded))
			if d.Reason != "" {
				fmt.Fprintf(ew, "    reason: %s\n", d.Reason)
			}
			tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
			for _, f := range d.Files {
				fmt.Fprintf(tw, "    %s\t%d\t%s\n", f.Path, f.Score, strings.Join(f.Rules, ", "))
			}
			tw.Flush()
			for _, n := range d.Notes {
				fmt.Fprintf(ew, "    note: %s: %s\n", n.Path, n.Reason)
			}
		}
		fmt.Fprintf(ew, "  mainframe body: %s\n", p.Result)
	}
	return ew.err
}

// errWriter keeps the first write error so that printing code stays flat.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, nil
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
