package api

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/verdict"
)

func TestReasonNamesClassAndDistributionWithFindings(t *testing.T) {
	tests := []struct {
		v    verdict.Verdict
		want string
	}{
		{verdict.Verdict{Score: 40, RulesMatched: []string{"rule_a", "rule_b", "rule_c"},
			Failure: &verdict.Failure{Class: failure.ErrMalformed, Dist: "b.tar.gz", Detail: "tar: unexpected EOF"}},
			"malformed: b.tar.gz: tar: unexpected EOF; partial score 40: rule_a, rule_b, rule_c"},
		{verdict.Verdict{RulesMatched: []string{}, Failure: &verdict.Failure{Class: failure.ErrUnsupported, Dist: "a.whl", Detail: "format not recognised"}},
			"unsupported: a.whl: format not recognised; partial score 0"},
		{verdict.Verdict{RulesMatched: []string{}, Failure: &verdict.Failure{Class: failure.ErrNoDistribution}}, "no distributions"},
		{verdict.Verdict{Score: 1 << 40, RulesMatched: []string{"r"}, Failure: &verdict.Failure{Detail: "an error without a class"}},
			"an error without a class; partial score 2147483647: r"},
	}
	for _, tt := range tests {
		if got := Reason(tt.v); got != tt.want {
			t.Errorf("Reason(%+v) = %q, want %q", tt.v.Failure, got, tt.want)
		}
	}
}

func TestReasonStaysShortAndKeepsFindings(t *testing.T) {
	var rules []string
	for i := 0; i < 200; i++ {
		rules = append(rules, fmt.Sprintf("a_rather_long_rule_name_%03d", i))
	}
	got := Reason(verdict.Verdict{Score: 7, RulesMatched: rules,
		Failure: &verdict.Failure{Class: failure.ErrMalformed, Dist: "x.whl", Detail: strings.Repeat("é", 900)}})
	if len(got) > MaxReasonLen {
		t.Fatalf("reason of %d bytes", len(got))
	}
	for _, want := range []string{"malformed: x.whl: ", "; partial score 7: a_rather_long_rule_name_000", " more"} {
		if !strings.Contains(got, want) {
			t.Errorf("reason lacks %q: %s", want, got)
		}
	}
	if !strings.HasSuffix(got, fmt.Sprintf("and %d more", 200-strings.Count(got, "a_rather_long_rule_name_"))) {
		t.Errorf("reason does not count the rules left out: %s", got[len(got)-80:])
	}
}
