package scan

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
)

func dist(target string, score int64, err error, files []FileMatch, rules ...string) *DistResult {
	d := &DistResult{Target: target, Score: score, Err: err, Files: files}
	for _, r := range rules {
		d.Rules = append(d.Rules, RuleHit{Name: r})
	}
	return d
}

func TestCompose(t *testing.T) {
	const base = "https://files.example/p/"
	insp := func(file, distFile string) string {
		u, _ := InspectorURL(base+distFile, "pkg", "1.0", file)
		return u
	}
	tests := []struct {
		name  string
		dists []*DistResult
		want  Verdict
	}{
		{"no distributions", nil, Verdict{Reason: "no distributions"}},
		{"clean", []*DistResult{dist(base+"a.whl", 0, nil, nil)},
			Verdict{RulesMatched: []string{}}},
		{"highest distribution, highest file, rules deduplicated and sorted", []*DistResult{
			dist(base+"a.whl", 5, nil, []FileMatch{{Path: "x.py", Score: 5}}, "r2"),
			dist(base+"b.tar.gz", 9, nil, []FileMatch{{Path: "p/one.py", Score: 4}, {Path: "p/two.py", Score: 9}, {Path: "p/three.py", Score: 9}}, "r2", "r1"),
		}, Verdict{Score: 9, RulesMatched: []string{"r1", "r2"}, InspectorURL: insp("p/two.py", "b.tar.gz")}},
		{"ties go to the earliest distribution", []*DistResult{
			dist(base+"a.whl", 3, nil, []FileMatch{{Path: "first.py", Score: 3}}, "r"),
			dist(base+"b.whl", 3, nil, []FileMatch{{Path: "second.py", Score: 3}}, "r"),
		}, Verdict{Score: 3, RulesMatched: []string{"r"}, InspectorURL: insp("first.py", "a.whl")}},
		{"a zero-weight match still points somewhere", []*DistResult{
			dist(base+"a.whl", 0, nil, nil),
			dist(base+"b.whl", 0, nil, []FileMatch{{Path: "z.py", Score: 0}}, "zero"),
		}, Verdict{RulesMatched: []string{"zero"}, InspectorURL: insp("z.py", "b.whl")}},
		{"local files have no inspector URL", []*DistResult{
			dist("dist/a.whl", 5, nil, []FileMatch{{Path: "x.py", Score: 5}}, "r"),
		}, Verdict{Score: 5, RulesMatched: []string{"r"}}},
		{"first failure names its distribution and keeps partial findings", []*DistResult{
			dist(base+"a.whl", 40, nil, []FileMatch{{Path: "x.py", Score: 40}}, "rule_b", "rule_a"),
			dist(base+"b.tar.gz?token=s3cret", 10, fmt.Errorf("%w: tar: unexpected EOF", failure.ErrMalformed), nil, "rule_c"),
			dist(base+"c.zip", 0, failure.Classed(failure.ErrTooLarge, "x"), nil),
		}, Verdict{Score: 40, RulesMatched: []string{"rule_a", "rule_b", "rule_c"},
			Reason: "malformed: b.tar.gz: tar: unexpected EOF; partial score 40: rule_a, rule_b, rule_c"}},
		{"failure without findings", []*DistResult{
			dist(base+"a.whl", 0, failure.Classed(failure.ErrUnsupported, "format not recognised"), nil),
		}, Verdict{RulesMatched: []string{}, Reason: "unsupported: a.whl: format not recognised; partial score 0"}},
	}
	for _, tt := range tests {
		got := Compose("pkg", "1.0", tt.dists)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tt.name, got, tt.want)
		}
	}
}

func TestFailureReasonStaysShortAndKeepsFindings(t *testing.T) {
	var rules []string
	for i := 0; i < 200; i++ {
		rules = append(rules, fmt.Sprintf("a_rather_long_rule_name_%03d", i))
	}
	d := &DistResult{Target: "x.whl", Score: 7, Err: failure.Classed(failure.ErrMalformed, "%s", strings.Repeat("é", 900))}
	for _, r := range rules {
		d.Rules = append(d.Rules, RuleHit{Name: r})
	}
	got := Compose("p", "1", []*DistResult{d})
	if len(got.Reason) > MaxReasonLen {
		t.Fatalf("reason of %d bytes", len(got.Reason))
	}
	for _, want := range []string{"malformed: x.whl: ", "; partial score 7: a_rather_long_rule_name_000", " more"} {
		if !strings.Contains(got.Reason, want) {
			t.Errorf("reason lacks %q: %s", want, got.Reason)
		}
	}
	if !strings.HasSuffix(got.Reason, fmt.Sprintf("and %d more", 200-strings.Count(got.Reason, "a_rather_long_rule_name_"))) {
		t.Errorf("reason does not count the rules left out: %s", got.Reason[len(got.Reason)-80:])
	}
}

func TestClassOfWrappedErrors(t *testing.T) {
	err := fmt.Errorf("outer: %w", failure.Classed(failure.ErrTimeout, "slow"))
	if failure.Class(err) != failure.ErrTimeout || !errors.Is(err, failure.ErrTimeout) || failure.Class(errors.New("plain")) != nil {
		t.Fatal("Class does not see through wrapping")
	}
}
