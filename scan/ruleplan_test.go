package scan

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A link whose name needs rules its target's plan left out makes the scan
// run again with the whole set; an alias that keeps its target's filetype
// does not.
func TestRulePlanLinksRescanOnlyWhenNeeded(t *testing.T) {
	s := fxScanner(t, fxLimits(), fxRules)
	keep := fxGzip(t, fxTar(t,
		fxFile("pkg/mod.py", fxPayload),
		fxEntry{Name: "pkg/alias.py", Type: '2', Link: "mod.py"},
		fxFile("notes.txt", fxPayload),
		fxEntry{Name: "notes2.txt", Type: '1', Link: "notes.txt"},
	))
	res := s.Scan(context.Background(), "keep.tar.gz", keep)
	if res.Err != nil || s.rescans != 0 || res.Score != 15 || len(res.Files) != 4 {
		t.Fatalf("rescans %d, err %v, score %d, files %+v", s.rescans, res.Err, res.Score, res.Files)
	}
	cross := fxGzip(t, fxTar(t,
		fxFile("notes.txt", fxPayload),
		fxEntry{Name: "pkg/__init__.py", Type: '1', Link: "notes.txt"},
	))
	res = s.Scan(context.Background(), "cross.tar.gz", cross)
	if m := fxMatchedPaths(res); res.Err != nil || s.rescans != 1 || !slices.Equal(m["pkg/__init__.py"], []string{"payload", "payload_py"}) {
		t.Fatalf("rescans %d, err %v, files %q", s.rescans, res.Err, m)
	}
}

// A scanner's reduced sets live as long as its rule set's compiled rules:
// closing the set while the scanner works is safe, and the last matcher's
// Close frees them.
func TestRulePlansOutliveClosedSet(t *testing.T) {
	rs, err := Compile("", leverRules)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewScanner(rs, fxLimits())
	if err != nil {
		t.Fatal(err)
	}
	data := fxZipFiles(t, fxFile("a.py", "EVIL_PAYLOAD"), fxFile("b.txt", "TXT_MARK"))
	if res := s.Scan(context.Background(), "x.whl", data); res.Err != nil || res.Score != 10+5+1+5 {
		t.Fatalf("err %v score %d %+v", res.Err, res.Score, res.Files)
	}
	rs.Close()
	data = fxZipFiles(t, fxFile("c.sh", "EVIL_PAYLOAD"), fxFile("d.cfg", "TXT_MARK"))
	if res := s.Scan(context.Background(), "y.whl", data); res.Err != nil || res.Score != 10+1+1+5 {
		t.Fatalf("after Close: err %v score %d %+v", res.Err, res.Score, res.Files)
	}
	s.Close()
	if rs.c != nil || rs.refs != 0 {
		t.Fatalf("rules not freed: refs %d", rs.refs)
	}
	for _, pl := range rs.plans.plans {
		if pl.c != nil && pl.c.p != nil {
			t.Fatal("a reduced set was not freed")
		}
	}
}

func TestRulePlansOffWhenUnsure(t *testing.T) {
	for name, sources := range map[string]map[string]string{
		"no filetype": {"a": `rule a { strings: $a = "x" condition: $a }`},
		"64+ suffixes": func() map[string]string {
			var b strings.Builder
			for i := range 65 {
				fmt.Fprintf(&b, "rule r%d { meta: filetype = \".x%d\" condition: true }\n", i, i)
			}
			return map[string]string{"a": b.String()}
		}(),
	} {
		rs, err := Compile("", sources)
		if err != nil {
			t.Fatal(err)
		}
		if p := rs.plans.init(rs); p.off == "" {
			t.Errorf("%s: plans on", name)
		}
		rs.Close()
	}
}
