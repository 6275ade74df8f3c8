//go:build isal

package scan

import (
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// TestInflatePathsAgreeOnLeverCorpus runs the lever tests' distributions
// (gzip and zip, links, nesting, duplicates, a match flood) through the
// ISA-L inflate path and the Go path and wants identical results, errors
// by message. (The archive package's own differential tests compare the
// walks of its fixtures and fuzz inputs.)
func TestInflatePathsAgreeOnLeverCorpus(t *testing.T) {
	rs, err := rules.Compile("", leverRules)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	dists := leverCorpus(t)
	isal := leverScan(t, rs, leverLimits(), true, nil, dists)
	var goPath []DistResult
	func() {
		defer archive.UseGoInflate()()
		goPath = leverScan(t, rs, leverLimits(), true, nil, dists)
	}()
	sameResults(t, "go inflate", isal, goPath)
}
