package archive

// Helpers of the archive tests; the archives themselves are built by
// package fixture.

import (
	"context"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
)

// fxLimits are the shrunk limits most tests use.
func fxLimits() Limits {
	lim := DefaultLimits()
	lim.MaxFileSize = 1 << 20
	lim.MaxExpandedSize = 8 << 20
	return lim
}

// fxDiff, when set (by inflate_isal_test.go in a build with the tag
// isal), flattens and scans data through both inflate paths and fails tb
// unless the results agree. fxFlatten has it run when the test ends, out
// of the way of the test's own measurements; fuzzCheck runs it directly.
var fxDiff func(tb testing.TB, data []byte, lim Limits)

// fxFlatten flattens data and records every visit, copying the data.
func fxFlatten(tb testing.TB, data []byte, lim Limits) ([]fixture.Visit, Flattened, error) {
	tb.Helper()
	if fxDiff != nil {
		tb.Cleanup(func() { fxDiff(tb, data, lim) })
	}
	var got []fixture.Visit
	fl, err := Flatten(context.Background(), data, lim, func(f *File) error {
		if int64(len(f.Data)) > lim.MaxFileSize {
			tb.Errorf("visited %s with %d bytes > MaxFileSize %d", DisplayName(f.Path), len(f.Data), lim.MaxFileSize)
		}
		got = append(got, fixture.Visit{Path: f.Path, Data: string(f.Data), Depth: f.Depth, Archive: f.Archive, Links: f.LinkTargets})
		return nil
	}, Options{})
	if err != nil && failure.Class(err) == nil {
		tb.Errorf("error without a class: %v", err)
	}
	if fl.BytesExpanded > lim.MaxExpandedSize {
		tb.Errorf("BytesExpanded %d > MaxExpandedSize %d", fl.BytesExpanded, lim.MaxExpandedSize)
	}
	return got, fl, err
}
