package scan

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/verdict"
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
		want  verdict.Verdict
	}{
		{"no distributions", nil, verdict.Verdict{Failure: &verdict.Failure{Class: failure.ErrNoDistribution}}},
		{"clean", []*DistResult{dist(base+"a.whl", 0, nil, nil)},
			verdict.Verdict{RulesMatched: []string{}}},
		{"highest distribution, highest file, rules deduplicated and sorted", []*DistResult{
			dist(base+"a.whl", 5, nil, []FileMatch{{Path: "x.py", Score: 5}}, "r2"),
			dist(base+"b.tar.gz", 9, nil, []FileMatch{{Path: "p/one.py", Score: 4}, {Path: "p/two.py", Score: 9}, {Path: "p/three.py", Score: 9}}, "r2", "r1"),
		}, verdict.Verdict{Score: 9, RulesMatched: []string{"r1", "r2"}, InspectorURL: insp("p/two.py", "b.tar.gz")}},
		{"ties go to the earliest distribution", []*DistResult{
			dist(base+"a.whl", 3, nil, []FileMatch{{Path: "first.py", Score: 3}}, "r"),
			dist(base+"b.whl", 3, nil, []FileMatch{{Path: "second.py", Score: 3}}, "r"),
		}, verdict.Verdict{Score: 3, RulesMatched: []string{"r"}, InspectorURL: insp("first.py", "a.whl")}},
		{"a zero-weight match still points somewhere", []*DistResult{
			dist(base+"a.whl", 0, nil, nil),
			dist(base+"b.whl", 0, nil, []FileMatch{{Path: "z.py", Score: 0}}, "zero"),
		}, verdict.Verdict{RulesMatched: []string{"zero"}, InspectorURL: insp("z.py", "b.whl")}},
		{"local files have no inspector URL", []*DistResult{
			dist("dist/a.whl", 5, nil, []FileMatch{{Path: "x.py", Score: 5}}, "r"),
		}, verdict.Verdict{Score: 5, RulesMatched: []string{"r"}}},
		{"first failure names its distribution and keeps partial findings", []*DistResult{
			dist(base+"a.whl", 40, nil, []FileMatch{{Path: "x.py", Score: 40}}, "rule_b", "rule_a"),
			dist(base+"b.tar.gz?token=s3cret", 10, fmt.Errorf("%w: tar: unexpected EOF", failure.ErrMalformed), nil, "rule_c"),
			dist(base+"c.zip", 0, failure.Classed(failure.ErrTooLarge, "x"), nil),
		}, verdict.Verdict{Score: 40, RulesMatched: []string{"rule_a", "rule_b", "rule_c"},
			Failure: &verdict.Failure{Class: failure.ErrMalformed, Dist: "b.tar.gz", Detail: "tar: unexpected EOF"}}},
		{"failure without findings", []*DistResult{
			dist(base+"a.whl", 0, failure.Classed(failure.ErrUnsupported, "format not recognised"), nil),
		}, verdict.Verdict{RulesMatched: []string{},
			Failure: &verdict.Failure{Class: failure.ErrUnsupported, Dist: "a.whl", Detail: "format not recognised"}}},
	}
	for _, tt := range tests {
		got := Compose("pkg", "1.0", tt.dists)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tt.name, got, tt.want)
		}
	}
}
