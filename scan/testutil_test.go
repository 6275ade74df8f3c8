package scan

// Helpers of the scanner tests; the archives themselves are built by
// package fixture.

import (
	"context"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// fxLimits are the shrunk limits most tests use.
func fxLimits() archive.Limits {
	lim := archive.DefaultLimits()
	lim.MaxFileSize = 1 << 20
	lim.MaxExpandedSize = 8 << 20
	return lim
}

// fxScanner compiles sources and returns a scanner of them with the
// default speed.
func fxScanner(tb testing.TB, lim archive.Limits, sources map[string]string) *Scanner {
	tb.Helper()
	return fxScannerWith(tb, sources, Options{Limits: lim, Speed: DefaultSpeed()})
}

// fxScannerWith compiles sources and returns a scanner of them made with
// opt.
func fxScannerWith(tb testing.TB, sources map[string]string, opt Options) *Scanner {
	tb.Helper()
	rs, err := rules.Compile("", sources)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rs.Close)
	s, err := New(rs, opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// fxMatchedPaths lists the files of a result with the rules that counted.
func fxMatchedPaths(res *DistResult) map[string][]string {
	m := map[string][]string{}
	for _, f := range res.Files {
		m[f.Path] = f.Rules
	}
	return m
}

// Zip compression methods and the tar block size, as the archive package
// numbers them (its own constants are unexported).
const (
	zipBzip2 = 12
	zipLZMA  = 14
	zipZstd  = 93
	zipXz    = 95
	tarBlock = 512
)

// fxFlatten flattens data and records every visit, copying the data, for
// the tests that check a walk and then its scan.
func fxFlatten(tb testing.TB, data []byte, lim archive.Limits) ([]fixture.Visit, archive.Flattened, error) {
	tb.Helper()
	var got []fixture.Visit
	fl, err := archive.Flatten(context.Background(), data, lim, func(f *archive.File) error {
		if int64(len(f.Data)) > lim.MaxFileSize {
			tb.Errorf("visited %s with %d bytes > MaxFileSize %d", archive.DisplayName(f.Path), len(f.Data), lim.MaxFileSize)
		}
		got = append(got, fixture.Visit{Path: f.Path, Data: string(f.Data), Depth: f.Depth, Archive: f.Archive, Links: f.LinkTargets})
		return nil
	}, archive.Options{})
	if err != nil && failure.Class(err) == nil {
		tb.Errorf("error without a class: %v", err)
	}
	if fl.BytesExpanded > lim.MaxExpandedSize {
		tb.Errorf("BytesExpanded %d > MaxExpandedSize %d", fl.BytesExpanded, lim.MaxExpandedSize)
	}
	return got, fl, err
}

// recordingBudget is an archive.Budget that remembers what it lent.
type recordingBudget struct {
	size, held, peak int64
}

func (b *recordingBudget) TryAcquire(n int64) bool {
	if b.held+n > b.size {
		return false
	}
	b.held += n
	b.peak = max(b.peak, b.held)
	return true
}

func (b *recordingBudget) Release(n int64) { b.held -= n }
