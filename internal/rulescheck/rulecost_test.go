package rulescheck

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// costSamples is plain text with no 0xFF byte, so that the slow rule's
// loop runs over every byte.
func costSamples() []Sample {
	line := "def helper(x):\n    return x * 2  # ordinary code\n"
	return []Sample{
		{Path: "pkg/a.py", Data: []byte(strings.Repeat(line, 4000))},
		{Path: "pkg/b.py", Data: []byte(strings.Repeat(line, 2000))},
	}
}

const costRules = `
import "math"

private rule helper_marker { strings: $m = "EVIL_MARKER" condition: $m }

rule cheap { meta: weight = 1 strings: $a = "SOMETHING_RARE" condition: $a or helper_marker }

rule slow {
  meta: weight = 1
  condition: for all i in (0..filesize - 1) : (uint8(i) != 0xFF)
}

rule uses_math { meta: weight = 1 condition: math.entropy(0, filesize) > 7.9 }
`

func TestRuleGraphSubsets(t *testing.T) {
	files := ruleFiles("a", costRules, "b", "rule later { condition: cheap and slow }\n")
	g := newRuleGraph(files)
	byName := map[string]int{}
	for _, n := range g.nodes {
		byName[n.def.Name] = n.id
	}
	for name, want := range map[string][]string{
		"cheap":     {"helper_marker", "cheap"},
		"uses_math": {"uses_math"},
		"later":     {"helper_marker", "cheap", "slow", "later"},
	} {
		var got []string
		for _, id := range g.closure(byName[name]) {
			got = append(got, g.nodes[id].def.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("closure(%s) = %v, want %v", name, got, want)
		}
		src := g.subsetSource(byName[name], false)
		if strings.Contains(src, "import") != (name == "uses_math") {
			t.Errorf("%s: imports only what the condition uses:\n%s", name, src)
		}
		rs, err := rules.Compile("", map[string]string{"x": src})
		if err != nil {
			t.Errorf("%s: %v\n%s", name, err, src)
			continue
		}
		rs.Close()
	}
	dep := g.dependents(byName["cheap"])
	if len(dep) != 2 || !dep[byName["later"]] || !dep[byName["cheap"]] {
		t.Errorf("dependents(cheap) = %v", dep)
	}
	// The set without slow and what uses it still compiles.
	rs, err := rules.Compile("", g.sources(g.dependents(byName["slow"])))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs.Rules() {
		names = append(names, r.Name)
	}
	rs.Close()
	if !slices.Equal(names, []string{"helper_marker", "cheap", "uses_math"}) {
		t.Errorf("without slow: %v", names)
	}
}

// The slow rule (a loop over every byte) ranks above the cheap one (one
// literal) by a wide margin; the private helper is not ranked on its own.
// Only the ranking is asserted, never a time.
func TestMeasureCostRanksSlowRuleFirst(t *testing.T) {
	files := ruleFiles("a", costRules)
	rep, err := MeasureCost(files, costSamples(), CostOptions{MinTime: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rc := range rep.Rules {
		names = append(names, rc.Rule)
		if rc.Method != CostAlone {
			t.Errorf("%s measured %q: %s", rc.Rule, rc.Method, rc.Note)
		}
	}
	if len(names) != 3 || names[0] != "slow" || slices.Contains(names, "helper_marker") {
		t.Fatalf("ranking %v", names)
	}
	slow, cheap := rep.Rules[0], rep.Rules[slices.Index(names, "cheap")]
	if slow.PerRound < 10*cheap.PerRound || slow.Share < 0.5 {
		t.Errorf("slow %v (%.0f%%), cheap %v: the margin is too small to trust", slow.PerRound, slow.Share*100, cheap.PerRound)
	}
	fs := rep.Findings(50)
	if len(fs) != 1 || fs[0].Rule != "slow" || fs[0].Line != 8 || !strings.Contains(fs[0].Message, "budget 50%") {
		t.Errorf("findings over a 50%% budget: %s", findingsText(fs))
	}
	if fs := rep.Findings(100); len(fs) != 0 {
		t.Errorf("a 100%% budget flags nothing: %s", findingsText(fs))
	}
}

// A rule that does not compile with only the rules its condition names
// (here because the reader is made to miss a reference) is timed by
// leave-one-out, and says so.
func TestMeasureCostFallsBackToLeaveOneOut(t *testing.T) {
	files := ruleFiles("a", costRules)
	for i := range files[0].Defs.Rules {
		if r := &files[0].Defs.Rules[i]; r.Name == "cheap" {
			r.Refs = nil
		}
	}
	rep, err := MeasureCost(files, costSamples(), CostOptions{MinTime: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rep.Rules {
		want := CostAlone
		if rc.Rule == "cheap" {
			want = CostLeaveOneOut
			if !strings.Contains(rc.Note, "leave-one-out") || !strings.Contains(rc.Note, `undefined identifier "helper_marker"`) {
				t.Errorf("note %q", rc.Note)
			}
		}
		if rc.Method != want {
			t.Errorf("%s: method %q, want %q", rc.Rule, rc.Method, want)
		}
	}
}

func TestSyntheticSamples(t *testing.T) {
	a, b := SyntheticSamples(), SyntheticSamples()
	var total int
	for i := range a {
		if a[i].Path != b[i].Path || string(a[i].Data) != string(b[i].Data) {
			t.Fatalf("not deterministic at %s", a[i].Path)
		}
		total += len(a[i].Data)
	}
	if len(a) < 20 || total < 200_000 || total > 1_000_000 {
		t.Errorf("%d samples, %d bytes", len(a), total)
	}
}
