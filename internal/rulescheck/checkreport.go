package rulescheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/textout"
)

func (r *Result) WriteText(w io.Writer) error {
	ew := &textout.ErrWriter{W: w}
	for _, sev := range []Severity{SeverityError, SeverityWarning} {
		header := false
		for _, f := range r.Findings {
			if f.Severity != sev {
				continue
			}
			if !header {
				fmt.Fprintf(ew, "%ss:\n", sev)
				header = true
			}
			fmt.Fprintf(ew, "  %s\n", f)
		}
		if header {
			fmt.Fprintln(ew)
		}
	}
	switch {
	case r.Cost != nil:
		fmt.Fprintf(ew, "cost on %s (%s, %s), budget %g%%:\n", r.Samples.Source, plural(r.Cost.Samples, "file"), textout.Bytes(r.Cost.SampleBytes), r.Budget)
		for _, n := range r.Samples.Notes {
			fmt.Fprintf(ew, "  note: %s\n", n)
		}
		var table bytes.Buffer
		tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  #\tRULE\tFILE\tMS/MB\tSHARE\t")
		for i, c := range r.Cost.Rules {
			ms, share := fmt.Sprintf("%.3f", c.MsPerMB), fmt.Sprintf("%.1f%%", c.Share*100)
			switch {
			case c.Method == "":
				ms, share = "-", "-"
			case c.TimedOut:
				ms = "timeout"
			}
			mark := ""
			if c.Share*100 > r.Budget {
				mark = "over budget"
			}
			if c.Method == CostLeaveOneOut {
				mark = strings.TrimSpace(mark + " (leave-one-out)")
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s:%d\t%s\t%s\t%s\n", i+1, c.Rule, c.File, c.Line, ms, share, mark)
		}
		tw.Flush()
		for _, line := range strings.SplitAfter(table.String(), "\n") {
			if line != "" {
				fmt.Fprintln(ew, strings.TrimRight(line, " \n"))
			}
		}
		for _, c := range r.Cost.Rules {
			if c.Method == CostLeaveOneOut {
				fmt.Fprintf(ew, "  note: %s: %s\n", c.Rule, c.Note)
			}
		}
		fmt.Fprintln(ew)
	case r.CostSkipped != "":
		fmt.Fprintf(ew, "cost: not measured: %s\n\n", r.CostSkipped)
	}
	fmt.Fprintln(ew, r.summary())
	return ew.Err
}

// JSONReport is the JSON report of "dragonfly rules check --format json".
type JSONReport struct {
	Dir      string        `json:"dir"`
	Files    int           `json:"files"`
	Rules    int           `json:"rules"`
	Errors   []findingJSON `json:"errors"`
	Warnings []findingJSON `json:"warnings"`
	Cost     *costJSON     `json:"cost"`
	Summary  string        `json:"summary"`
}

type findingJSON struct {
	Check   string `json:"check"`
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
}

type costJSON struct {
	Skipped      string         `json:"skipped,omitempty"`
	Samples      string         `json:"samples,omitempty"`
	SampleFiles  int            `json:"sample_files"`
	SampleBytes  int64          `json:"sample_bytes"`
	SampleNotes  []string       `json:"sample_notes,omitempty"`
	BudgetPct    float64        `json:"budget_pct"`
	BaselineMs   float64        `json:"baseline_ms_per_round"`
	Rules        []costRuleJSON `json:"rules"`
	TotalMsPerMB float64        `json:"total_ms_per_mb"`
}

type costRuleJSON struct {
	Rule       string  `json:"rule"`
	File       string  `json:"file"`
	Line       int     `json:"line"`
	Method     string  `json:"method"` // alone, leave-one-out, or "" when not measured
	MsPerMB    float64 `json:"ms_per_mb"`
	SharePct   float64 `json:"share_pct"`
	OverBudget bool    `json:"over_budget"`
	TimedOut   bool    `json:"timed_out,omitempty"`
	Note       string  `json:"note,omitempty"`
}

func (r *Result) WriteJSON(w io.Writer) error {
	out := JSONReport{Dir: r.Dir, Files: r.Files, Rules: r.Rules, Summary: r.summary(),
		Errors: []findingJSON{}, Warnings: []findingJSON{}}
	for _, f := range r.Findings {
		j := findingJSON{Check: f.Check, File: f.File, Line: f.Line, Rule: f.Rule, Message: f.Message}
		if f.Severity == SeverityError {
			out.Errors = append(out.Errors, j)
		} else {
			out.Warnings = append(out.Warnings, j)
		}
	}
	c := &costJSON{Skipped: r.CostSkipped, BudgetPct: r.Budget, Rules: []costRuleJSON{}}
	if r.Samples != nil {
		c.Samples, c.SampleNotes = r.Samples.Source, r.Samples.Notes
		c.SampleFiles, c.SampleBytes = len(r.Samples.Samples), r.Samples.bytes()
	}
	if r.Cost != nil {
		c.BaselineMs = float64(r.Cost.Baseline) / float64(time.Millisecond)
		for _, rc := range r.Cost.Rules {
			c.Rules = append(c.Rules, costRuleJSON{Rule: rc.Rule, File: rc.File, Line: rc.Line, Method: rc.Method,
				MsPerMB: round3(rc.MsPerMB), SharePct: round3(rc.Share * 100), OverBudget: rc.Share*100 > r.Budget,
				TimedOut: rc.TimedOut, Note: rc.Note})
			if !rc.TimedOut {
				c.TotalMsPerMB += rc.MsPerMB
			}
		}
		c.TotalMsPerMB = round3(c.TotalMsPerMB)
	}
	out.Cost = c
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func round3(f float64) float64 {
	if f != f { // NaN
		return 0
	}
	return float64(int64(f*1000+0.5)) / 1000
}
