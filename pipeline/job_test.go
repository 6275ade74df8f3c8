package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

func testRuleSet(t *testing.T, hash string) *rules.RuleSet {
	t.Helper()
	rs, err := rules.Compile(hash, map[string]string{"r": `rule marker { meta: weight = 5 strings: $a = "EVIL_MARKER" condition: $a }`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	return rs
}

// TestSettle decides between a result and an abandonment as docs/contract.md
// § When a failure is sent, and when the job is abandoned says.
func TestSettle(t *testing.T) {
	rs := testRuleSet(t, "h")
	transient := &api.DownloadError{URL: "u", Status: 503, Transient: true}
	final := &api.DownloadError{URL: "u", Status: 404}
	stopped := fmt.Errorf("%w: scan stopped: %w", failure.ErrTimeout, context.Canceled)
	deadline := fmt.Errorf("%w: scan stopped: %w", failure.ErrTimeout, context.DeadlineExceeded)
	tests := []struct {
		name        string
		attempt     int
		lease       bool
		draining    bool
		errs        []error
		wantAbandon string
		wantReason  string
	}{
		{"clean", 1, true, false, []error{nil}, "", ""},
		{"transient download, attempt 1 of 3: abandon", 1, true, false, []error{nil, transient}, abandonDownload, ""},
		{"transient download, last attempt: fail", 3, true, false, []error{transient}, "", "download failed: p-1.0.tar.gz: HTTP 503 u; partial score 0"},
		{"transient download, 2023 server: fail", 0, false, false, []error{transient}, "", "download failed: p-1.0.tar.gz: HTTP 503 u"},
		{"404 on attempt 1: fail", 1, true, false, []error{final}, "", "download failed: p-1.0.tar.gz: HTTP 404 u"},
		{"stopped by the drain: abandon", 3, true, true, []error{stopped}, abandonDrain, ""},
		{"job deadline while draining: fail", 1, true, true, []error{deadline}, "", "timeout: p-1.0.tar.gz: scan stopped"},
		{"job deadline: fail", 1, true, false, []error{deadline}, "", "timeout: p-1.0.tar.gz: scan stopped"},
		{"no rules in time: abandon", 3, true, false, []error{fmt.Errorf("%w: %w", errNoRules, context.DeadlineExceeded)}, abandonRules, ""},
		{"no distributions: fail", 1, true, false, nil, "", "no distributions"},
	}
	for _, tt := range tests {
		j := &job{Job: api.Job{Name: "p", Version: "1", Hash: "h"}, rs: rs}
		if tt.lease {
			j.Attempt, j.AssignmentID = tt.attempt, "a"
		}
		for i, err := range tt.errs {
			u := fmt.Sprintf("https://files.example/p-1.%d.tar.gz", i)
			j.Distributions = append(j.Distributions, u)
			j.dists = append(j.dists, &scan.DistResult{Target: u, Err: err})
		}
		res, abandon := j.settle(tt.draining)
		if abandon != tt.wantAbandon {
			t.Errorf("%s: abandon %q, want %q", tt.name, abandon, tt.wantAbandon)
			continue
		}
		if abandon != "" {
			continue
		}
		if !strings.HasPrefix(res.Reason, tt.wantReason) || (tt.wantReason == "") == res.Failed() {
			t.Errorf("%s: reason %q, want it to start with %q", tt.name, res.Reason, tt.wantReason)
		}
		if res.Commit != "h" || res.Name != "p" || (tt.lease && res.Attempt != tt.attempt) {
			t.Errorf("%s: result %+v", tt.name, res)
		}
	}
}

func TestConfigResolve(t *testing.T) {
	c := Config{BulkSize: 20, DownloadConcurrency: 4, LoadDuration: time.Minute, LeaseDuration: 120 * time.Second,
		JobTimeout: 90 * time.Second, DrainTimeout: 25 * time.Second, MemoryBudget: 1 << 20}
	if err := c.Resolve(); err != nil || c.Threads < 1 || c.MaxJobs != 2*c.Threads {
		t.Fatalf("%+v %v", c, err)
	}
	c.JobTimeout = 111 * time.Second
	if err := c.Resolve(); err == nil {
		t.Fatal("a job timeout too close to the lease was accepted")
	}
}

func TestFailureClass(t *testing.T) {
	for _, tt := range []struct {
		class error
		want  string
	}{
		{failure.ErrTooLarge, "too large"},
		{failure.ErrDownloadFailed, "download failed"},
		{failure.ErrNoDistribution, "no distributions"},
		{nil, "other"},
	} {
		if got := failureClass(tt.class); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.class, got, tt.want)
		}
	}
}

func TestJitterStaysNearTheWait(t *testing.T) {
	for range 1000 {
		if d := jitter(time.Minute); d < 45*time.Second || d > 75*time.Second {
			t.Fatalf("jitter(1m) = %v", d)
		}
	}
}
