package scan

import (
	"context"
	"slices"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// A link whose name needs rules its target's plan left out makes the scan
// run again with the whole set; an alias that keeps its target's filetype
// does not.
func TestRulePlanLinksRescanOnlyWhenNeeded(t *testing.T) {
	s := fxScanner(t, fxLimits(), fixture.Rules)
	keep := fixture.Gzip(t, fixture.Tar(t,
		fixture.File("pkg/mod.py", fixture.Payload),
		fixture.Entry{Name: "pkg/alias.py", Type: '2', Link: "mod.py"},
		fixture.File("notes.txt", fixture.Payload),
		fixture.Entry{Name: "notes2.txt", Type: '1', Link: "notes.txt"},
	))
	res := s.Scan(context.Background(), "keep.tar.gz", keep)
	if res.Err != nil || s.rescans != 0 || res.Score != 15 || len(res.Files) != 4 {
		t.Fatalf("rescans %d, err %v, score %d, files %+v", s.rescans, res.Err, res.Score, res.Files)
	}
	cross := fixture.Gzip(t, fixture.Tar(t,
		fixture.File("notes.txt", fixture.Payload),
		fixture.Entry{Name: "pkg/__init__.py", Type: '1', Link: "notes.txt"},
	))
	res = s.Scan(context.Background(), "cross.tar.gz", cross)
	if m := fxMatchedPaths(res); res.Err != nil || s.rescans != 1 || !slices.Equal(m["pkg/__init__.py"], []string{"payload", "payload_py"}) {
		t.Fatalf("rescans %d, err %v, files %q", s.rescans, res.Err, m)
	}
}

// A scanner's reduced sets live as long as its rule set's compiled rules:
// closing the set while the scanner works is safe, and the scanner's Close
// frees them.
func TestRulePlansOutliveClosedSet(t *testing.T) {
	rs, err := rules.Compile("", leverRules)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(rs, Options{Limits: fxLimits(), Speed: DefaultSpeed()})
	if err != nil {
		t.Fatal(err)
	}
	data := fixture.ZipFiles(t, fixture.File("a.py", "EVIL_PAYLOAD"), fixture.File("b.txt", "TXT_MARK"))
	if res := s.Scan(context.Background(), "x.whl", data); res.Err != nil || res.Score != 10+5+1+5 {
		t.Fatalf("err %v score %d %+v", res.Err, res.Score, res.Files)
	}
	rs.Close()
	data = fixture.ZipFiles(t, fixture.File("c.sh", "EVIL_PAYLOAD"), fixture.File("d.cfg", "TXT_MARK"))
	if res := s.Scan(context.Background(), "y.whl", data); res.Err != nil || res.Score != 10+1+1+5 {
		t.Fatalf("after Close: err %v score %d %+v", res.Err, res.Score, res.Files)
	}
	s.Close()
	// A freed set cannot be retained; that its reduced sets are freed with
	// it is TestRulePlansFreedWithTheirSet of package rules.
	if release, err := rs.Retain(); err == nil {
		release()
		t.Fatal("rules not freed")
	}
}
