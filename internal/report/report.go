// Package report writes the reports of "dragonfly scan": a table for
// people, JSON (a stable shape that tests and scripts read) and SARIF
// 2.1.0, from the distributions' results grouped into packages.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/localscan"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/internal/textout"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// Report is the JSON report of "dragonfly scan --format json". Its shape is
// stable and documented; tests read it.
type Report struct {
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

// Build groups the distributions (dists[i] the result of targets[i]) into
// packages as [localscan.GroupPackages] does, and composes each package's
// verdict.
func Build(rs *rules.RuleSet, targets []string, dists []*scan.DistResult) *Report {
	rep := &Report{RulesHash: rs.Hash(), Packages: []packageReport{}}
	for _, g := range localscan.GroupPackages(targets, dists) {
		v := scan.Compose(g.Name, g.Version, g.Dists)
		body, _ := api.NewResult(g.Name, g.Version, rs.Hash(), v).MarshalJSON() // cannot fail: strings, ints and a list
		p := packageReport{Name: g.Name, Version: g.Version, Score: v.Score, RulesMatched: v.RulesMatched,
			Result: body, failed: v.Failed()}
		for _, d := range g.Dists {
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

// Reached reports whether a package's score (partial findings of failed
// distributions included) reaches failScore.
func (r *Report) Reached(failScore int64) bool {
	for _, p := range r.Packages {
		if p.Score >= failScore {
			return true
		}
	}
	return false
}

// Failed reports whether a distribution failed.
func (r *Report) Failed() bool {
	for _, p := range r.Packages {
		if p.failed {
			return true
		}
	}
	return false
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteTable prints a human-readable report; rulesLabel names the rules
// used ("built-in" or their folder).
func (r *Report) WriteTable(w io.Writer, rulesLabel string) error {
	ew := &textout.ErrWriter{W: w}
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
				d.Score, d.FilesScanned, textout.Bytes(d.BytesExpanded))
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
	return ew.Err
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
