package report

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/localscan"
	"github.com/vipyrsec/dragonfly-client-go/internal/redact"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// The SARIF 2.1.0 report of "dragonfly scan --format sarif": one run whose
// driver lists every public rule of the rule set, one result per file and
// rule that counted, and the failed distributions and notes as
// notifications of the run's single invocation.
//
// Files live inside distributions, which SARIF calls nested artifacts. A
// result's physical location is the distribution itself (its artifactLocation
// carries the distribution's uri and its index in run.artifacts), because
// that is the one artifact a viewer can open: GitHub code scanning and the
// SARIF viewers resolve physicalLocation.artifactLocation.uri and nothing
// else, and none of them walks artifact.parentIndex. The path inside the
// distribution is the location's logical location (fullyQualifiedName, as
// the JSON report shows it) and is named in the message. run.artifacts
// records the nesting as SARIF defines it (§3.24.2, §3.24.3): each
// distribution is a top-level artifact, and each file a rule counted for is
// an artifact whose parentIndex is its distribution and whose uri is its
// path from the distribution's root, beginning with "/". A file of a nested
// archive keeps its flattened path (outer.zip/inner.py) as one nested
// artifact, since the scan does not record which parts of a path are
// archives.

const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	projectURL   = "https://github.com/vipyrsec/dragonfly-client-go"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Artifacts   []sarifArtifact   `json:"artifacts,omitempty"`
	Results     []sarifResult     `json:"results"`
	Properties  sarifRunProps     `json:"properties"`
}

type sarifRunProps struct {
	RulesHash string `json:"rulesHash"`
	FailScore int64  `json:"failScore"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	ShortDescription     *sarifText      `json:"shortDescription,omitempty"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
	Properties           sarifRuleProps  `json:"properties"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	Weight int64 `json:"weight"`
	// Filetype is the rule's filetype metadata (space-separated path
	// suffixes), absent when the rule counts for every file.
	Filetype string `json:"filetype,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ExitCode                   int                 `json:"exitCode"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifArtifact struct {
	Location    sarifArtifactLocation `json:"location"`
	ParentIndex *int                  `json:"parentIndex,omitempty"`
	Roles       []string              `json:"roles"`
	Properties  *sarifDistProps       `json:"properties,omitempty"`
}

type sarifDistProps struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Format  string `json:"format"`
	Status  string `json:"status"`
	Score   int64  `json:"score"`
}

type sarifArtifactLocation struct {
	URI   string `json:"uri"`
	Index *int   `json:"index,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation  `json:"physicalLocation"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations,omitempty"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
}

type sarifLogicalLocation struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
}

type sarifResult struct {
	RuleID     string           `json:"ruleId"`
	RuleIndex  int              `json:"ruleIndex"`
	Level      string           `json:"level"`
	Message    sarifText        `json:"message"`
	Locations  []sarifLocation  `json:"locations"`
	Properties sarifResultProps `json:"properties"`
}

type sarifResultProps struct {
	Path    string `json:"path"`  // inside the distribution, as the JSON report shows it
	Score   int64  `json:"score"` // of the file: all the rules that counted for it
	Weight  int64  `json:"weight"`
	Package string `json:"package"`
	Version string `json:"version"`
}

// sarifLevel maps a rule's weight to a SARIF level: "error" when the weight
// alone reaches --fail-score (the rule by itself makes the scan exit 1),
// "warning" for any other positive weight, "note" for a weight of 0 or less,
// which never raises a score.
func sarifLevel(weight, failScore int64) string {
	switch {
	case weight > 0 && weight >= failScore:
		return "error"
	case weight > 0:
		return "warning"
	}
	return "note"
}

// SARIFOptions are what a SARIF log records beyond the report.
type SARIFOptions struct {
	// FailScore is the scan's --fail-score, which sets the rules' levels.
	FailScore int64
	// ExitCode is the code the scan exits with, recorded in the invocation.
	ExitCode int
	// ToolVersion is dragonfly's version, the driver's.
	ToolVersion string
}

// WriteSARIF writes the report as a SARIF 2.1.0 log of a scan with the
// rule set rs.
func (r *Report) WriteSARIF(w io.Writer, rs *rules.RuleSet, opt SARIFOptions) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r.sarif(rs, opt))
}

func (r *Report) sarif(rs *rules.RuleSet, opt SARIFOptions) sarifLog {
	failScore := opt.FailScore
	b := sarifBuilder{rs: rs, failScore: failScore, ruleIndex: map[string]int{},
		artifactIndex: map[string]int{}}
	// Every public rule, in compiled order, so that a log tells which rules
	// were applied even when nothing matched, and a rule keeps its index
	// across scans with the same rule set. Private rules never report a
	// match of their own.
	for _, rule := range rs.Rules() {
		if !rule.Private {
			b.addRule(rule)
		}
	}
	inv := sarifInvocation{ExecutionSuccessful: true, ExitCode: opt.ExitCode}
	for _, p := range r.Packages {
		for _, d := range p.Dists {
			dist := d.res
			di := b.distArtifact(p, d)
			if dist.Err != nil {
				inv.ExecutionSuccessful = false
				inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{
					Level:     "error",
					Message:   sarifText{Text: dist.Err.Error()},
					Locations: []sarifLocation{b.distLocation(di, "", "")},
				})
			}
			for _, f := range dist.Files {
				b.fileArtifact(di, f.Path)
				for _, name := range f.Rules {
					ri := b.ruleFor(name)
					rule := b.rules[ri]
					b.results = append(b.results, sarifResult{
						RuleID:    name,
						RuleIndex: ri,
						Level:     rule.DefaultConfiguration.Level,
						Message: sarifText{Text: fmt.Sprintf("%s (weight %d) matched %s in %s.",
							name, rule.Properties.Weight, archive.DisplayName(f.Path), localscan.ShownTarget(dist.Target))},
						Locations: []sarifLocation{b.distLocation(di, archive.DisplayName(f.Path),
							archive.DisplayName(path.Base(f.Path)))},
						Properties: sarifResultProps{Path: archive.DisplayName(f.Path), Score: f.Score,
							Weight: rule.Properties.Weight, Package: p.Name, Version: p.Version},
					})
				}
			}
			for _, n := range dist.Notes {
				inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{
					Level:     "note",
					Message:   sarifText{Text: fmt.Sprintf("%s: %s: %s", localscan.ShownTarget(dist.Target), n.Path, n.Reason)},
					Locations: []sarifLocation{b.distLocation(di, n.Path, path.Base(n.Path))},
				})
			}
		}
	}
	if b.results == nil {
		b.results = []sarifResult{} // present and empty: the log is of an actual scan
	}
	return sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{Name: "dragonfly", Version: opt.ToolVersion,
				InformationURI: projectURL, Rules: b.rules}},
			Invocations: []sarifInvocation{inv},
			Artifacts:   b.artifacts,
			Results:     b.results,
			Properties:  sarifRunProps{RulesHash: rs.Hash(), FailScore: failScore},
		}},
	}
}

type sarifBuilder struct {
	rs        *rules.RuleSet
	failScore int64

	rules     []sarifRule
	ruleIndex map[string]int
	artifacts []sarifArtifact
	// artifactIndex maps a distribution's uri, or a parent index and a
	// nested uri, to its artifact: run.artifacts must hold distinct items,
	// and a target named twice, or a path repeated in an archive, is one
	// artifact.
	artifactIndex map[string]int
	results       []sarifResult
}

func (b *sarifBuilder) addRule(rule rules.Rule) int {
	r := sarifRule{ID: rule.Name,
		DefaultConfiguration: sarifRuleConfig{Level: sarifLevel(rule.Weight, b.failScore)},
		Properties:           sarifRuleProps{Weight: rule.Weight, Filetype: strings.Join(rule.FileTypes, " ")}}
	if rule.Description != "" {
		r.ShortDescription = &sarifText{Text: rule.Description}
	}
	b.ruleIndex[rule.Name] = len(b.rules)
	b.rules = append(b.rules, r)
	return len(b.rules) - 1
}

// ruleFor returns the index of the named rule, adding it should a rule the
// public list lacks ever count.
func (b *sarifBuilder) ruleFor(name string) int {
	if i, ok := b.ruleIndex[name]; ok {
		return i
	}
	rule, ok := b.rs.Rule(name)
	if !ok {
		rule = rules.Rule{Name: name}
	}
	return b.addRule(rule)
}

func (b *sarifBuilder) distArtifact(p packageReport, d distReport) int {
	uri := sarifTargetURI(d.Target)
	if i, ok := b.artifactIndex[uri]; ok {
		return i
	}
	b.artifacts = append(b.artifacts, sarifArtifact{
		Location: sarifArtifactLocation{URI: uri},
		Roles:    []string{"analysisTarget"},
		Properties: &sarifDistProps{Package: p.Name, Version: p.Version, Format: d.Format,
			Status: d.Status, Score: d.Score},
	})
	b.artifactIndex[uri] = len(b.artifacts) - 1
	return len(b.artifacts) - 1
}

func (b *sarifBuilder) fileArtifact(parent int, raw string) {
	uri := sarifNestedURI(raw)
	key := fmt.Sprintf("%d\x00%s", parent, uri)
	if _, ok := b.artifactIndex[key]; ok {
		return
	}
	b.artifacts = append(b.artifacts, sarifArtifact{
		Location:    sarifArtifactLocation{URI: uri},
		ParentIndex: &parent,
		Roles:       []string{"resultFile"},
	})
	b.artifactIndex[key] = len(b.artifacts) - 1
}

// distLocation locates the distribution at artifact index i and, when inner
// is not empty, the path inside it (shown as the JSON report shows it) and
// its base name.
func (b *sarifBuilder) distLocation(i int, inner, name string) sarifLocation {
	loc := sarifLocation{PhysicalLocation: sarifPhysicalLocation{
		ArtifactLocation: sarifArtifactLocation{URI: b.artifacts[i].Location.URI, Index: &i}}}
	if inner != "" {
		loc.LogicalLocations = []sarifLogicalLocation{{Name: name, FullyQualifiedName: inner}}
	}
	return loc
}

// sarifTargetURI turns a target as given on the command line into a URI
// reference (RFC 3986): a URL loses its query string and fragment, which may
// hold a signature, and has only what no URI may hold escaped; an absolute
// path becomes a file URI; a relative path stays relative, with every byte
// that is not a path character percent-encoded (space, "#", "?", "%",
// non-ASCII…), and "./" in front when its first segment has a colon, which
// would read as a scheme.
func sarifTargetURI(target string) string {
	if localscan.IsURL(target) {
		return escapeURI(redact.Query(target), isURIChar)
	}
	p := filepath.ToSlash(target)
	if filepath.IsAbs(target) {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // C:/dist/x.whl
		}
		return "file://" + escapeURI(p, isPathChar)
	}
	first, _, _ := strings.Cut(p, "/")
	if strings.Contains(first, ":") {
		p = "./" + p
	}
	return escapeURI(p, isPathChar)
}

// sarifNestedURI is the uri of a file's nested artifact: its path from the
// root of its distribution, beginning with "/" (SARIF §3.24.2). Leading
// slashes of the path are dropped, since "//" would start an authority.
func sarifNestedURI(raw string) string {
	return "/" + escapeURI(strings.TrimLeft(raw, "/"), isPathChar)
}

// escapeURI percent-encodes every byte of s for which keep is false.
func escapeURI(s string, keep func(s string, i int) bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if keep(s, i) {
			b.WriteByte(s[i])
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[s[i]>>4])
		b.WriteByte(hex[s[i]&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

// isPathChar keeps the characters of a path: pchar and "/" (RFC 3986 §3.3).
// "%" is escaped, since a file name's "%" is no escape.
func isPathChar(s string, i int) bool {
	return isUnreserved(s[i]) || strings.IndexByte("!$&'()*+,;=:@/", s[i]) >= 0
}

// isURIChar keeps every character a URI may hold, and "%" when it starts
// an escape: a URL given on the command line keeps its own escapes.
func isURIChar(s string, i int) bool {
	c := s[i]
	if c == '%' {
		return i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])
	}
	return isUnreserved(c) || strings.IndexByte(":/?#[]@!$&'()*+,;=", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
