package api

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/verdict"
)

func TestResultBodiesUpstreamVectors(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{"success", Result{Name: "test", Version: "1.0.0", Score: 10, InspectorURL: "inspector url", RulesMatched: []string{"abc", "def"}, Commit: "commit hash"},
			`{"name":"test","version":"1.0.0","score":10,"inspector_url":"inspector url","rules_matched":["abc","def"],"commit":"commit hash"}`},
		{"failure", Result{Name: "test", Version: "1.0.0", Reason: "Package too large"},
			`{"name":"test","version":"1.0.0","reason":"Package too large"}`},
		{"null inspector, empty rules", Result{Name: "a", Version: "1", Commit: "c"},
			`{"name":"a","version":"1","score":0,"inspector_url":null,"rules_matched":[],"commit":"c"}`},
		{"lease fields on success", Result{Name: "a", Version: "1", Commit: "c", Attempt: 2, AssignmentID: "u-1"},
			`{"name":"a","version":"1","score":0,"inspector_url":null,"rules_matched":[],"commit":"c","attempt":2,"assignment_id":"u-1"}`},
		{"lease fields on failure, never commit", Result{Name: "a", Version: "1", Commit: "c", Reason: "timeout: x", Attempt: 3, AssignmentID: "u-1", Score: 5},
			`{"name":"a","version":"1","reason":"timeout: x","attempt":3,"assignment_id":"u-1"}`},
		{"only one lease field: neither sent", Result{Name: "a", Version: "1", Commit: "c", Attempt: 2},
			`{"name":"a","version":"1","score":0,"inspector_url":null,"rules_matched":[],"commit":"c"}`},
		{"score clamped to int4", Result{Name: "a", Version: "1", Score: math.MaxInt64, Commit: "c"},
			`{"name":"a","version":"1","score":2147483647,"inspector_url":null,"rules_matched":[],"commit":"c"}`},
		{"negative score clamped", Result{Name: "a", Version: "1", Score: math.MinInt64, Commit: "c"},
			`{"name":"a","version":"1","score":-2147483647,"inspector_url":null,"rules_matched":[],"commit":"c"}`},
		{"no HTML escaping", Result{Name: "a", Version: "1", InspectorURL: "https://x/?a=1&b=<2>", Commit: "c"},
			`{"name":"a","version":"1","score":0,"inspector_url":"https://x/?a=1&b=<2>","rules_matched":[],"commit":"c"}`},
	}
	for _, tt := range tests {
		got, err := tt.r.MarshalJSON()
		if err != nil || string(got) != tt.want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", tt.name, got, err, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: invalid JSON", tt.name)
		}
	}
}

func TestResultRulesDeduplicatedAndSorted(t *testing.T) {
	r := Result{Name: "a", Version: "1", Commit: "c", RulesMatched: []string{"b", "a", "b", "c", "a"}}
	got, _ := r.MarshalJSON()
	want := `{"name":"a","version":"1","score":0,"inspector_url":null,"rules_matched":["a","b","c"],"commit":"c"}`
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if r.RulesMatched[0] != "b" {
		t.Fatal("MarshalJSON reordered the caller's slice")
	}
}

func TestJobResultCarriesLeaseOnlyWhenTheJobHadOne(t *testing.T) {
	v := verdict.Verdict{Score: 7, RulesMatched: []string{"r"}, InspectorURL: "https://inspector.pypi.io/x"}
	tests := []struct {
		name string
		job  Job
		want string
	}{
		{"today", Job{Name: "Pkg_Name", Version: "1.0.post1", Attempt: 2, AssignmentID: "6f1c"},
			`{"name":"Pkg_Name","version":"1.0.post1","score":7,"inspector_url":"https://inspector.pypi.io/x","rules_matched":["r"],"commit":"h","attempt":2,"assignment_id":"6f1c"}`},
		{"2023", Job{Name: "Pkg_Name", Version: "1.0.post1"},
			`{"name":"Pkg_Name","version":"1.0.post1","score":7,"inspector_url":"https://inspector.pypi.io/x","rules_matched":["r"],"commit":"h"}`},
		{"attempt without assignment", Job{Name: "p", Version: "1", Attempt: 2},
			`{"name":"p","version":"1","score":7,"inspector_url":"https://inspector.pypi.io/x","rules_matched":["r"],"commit":"h"}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.job.Result("h", v))
		if err != nil || string(got) != tt.want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", tt.name, got, err, tt.want)
		}
	}
	failed, _ := json.Marshal(Job{Name: "p", Version: "1", Attempt: 3, AssignmentID: "u"}.Result("h", verdict.Verdict{Score: 9, Failure: &verdict.Failure{Class: failure.ErrTimeout, Dist: "x.whl", Detail: "slow"}}))
	if want := `{"name":"p","version":"1","reason":"timeout: x.whl: slow; partial score 9","attempt":3,"assignment_id":"u"}`; string(failed) != want {
		t.Errorf("failure: got %s, want %s", failed, want)
	}
}

func TestJobDecodesBothEras(t *testing.T) {
	var jobs []Job
	body := `[{"name":"a","version":"1","distributions":["u"],"hash":"h","attempt":1,"assignment_id":"x"},{"name":"b","version":"2","distributions":[],"hash":"h"}]`
	if err := json.Unmarshal([]byte(body), &jobs); err != nil {
		t.Fatal(err)
	}
	if !jobs[0].HasLease() || jobs[1].HasLease() || len(jobs[1].Distributions) != 0 {
		t.Fatalf("decoded %+v", jobs)
	}
}
