package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
)

var memberRules = map[string]string{"r": `
rule payload { meta: weight = 10 strings: $a = "EVIL_PAYLOAD" condition: $a }
rule payload_py { meta: weight = 5 filetype = ".py" strings: $a = "EVIL_PAYLOAD" condition: $a }
`}

// Identical zip members in several wheels are inflated once: the second
// wheel's are served from the cache under their own names, a nested archive
// among them is still opened, and every result is what a scanner without
// the cache finds.
func TestIdenticalMembersAreInflatedOnce(t *testing.T) {
	body := "x = 1\n" + strings.Repeat("# padding\n", 30) + "EVIL_PAYLOAD\n"
	inner := fixture.ZipFiles(t, fixture.File("vendored/x.py", body))
	clean := strings.Repeat("nothing here\n", 20)
	first := fixture.Zip(t,
		fixture.ZipEntry{Name: "pkg/a.py", Body: body, Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/clean.py", Body: clean, Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/inner.zip", Body: string(inner), Method: zip.Deflate},
	)
	// The same members under other names and in another order.
	second := fixture.Zip(t,
		fixture.ZipEntry{Name: "other/inner.zip", Body: string(inner), Method: zip.Deflate},
		fixture.ZipEntry{Name: "data/a.txt", Body: body, Method: zip.Deflate},
		fixture.ZipEntry{Name: "other/a.py", Body: body, Method: zip.Deflate},
		fixture.ZipEntry{Name: "other/clean.py", Body: clean, Method: zip.Deflate},
	)
	lim := fxLimits()
	plain := fxScanner(t, lim, memberRules)
	var want []*DistResult
	for _, d := range [][]byte{first, second} {
		want = append(want, plain.Scan(context.Background(), "x.whl", d))
	}
	if m := fxMatchedPaths(want[1]); !reflect.DeepEqual(m["data/a.txt"], []string{"payload"}) ||
		!reflect.DeepEqual(m["other/a.py"], []string{"payload", "payload_py"}) ||
		!reflect.DeepEqual(m["other/inner.zip/vendored/x.py"], []string{"payload", "payload_py"}) {
		t.Fatalf("fixture: %v", m)
	}
	for _, plans := range []bool{false, true} {
		c := NewCache(0)
		s := fxScannerWith(t, memberRules, Options{Limits: lim, Speed: Speed{RulePlans: plans, Prefilter: true}, Cache: c})
		for i, d := range [][]byte{first, second} {
			if got := s.Scan(context.Background(), "x.whl", d); !reflect.DeepEqual(got, want[i]) {
				t.Errorf("plans %v, wheel %d:\n got %+v\nwant %+v", plans, i, got, want[i])
			}
		}
		// Known: the first wheel's inner x.py (a twin of a.py), and of
		// the second wheel a.txt, a.py, clean.py and the inner x.py.
		// inner.zip is an archive, so it is inflated each time.
		if st := c.Stats(); st.MemberHits != 5 || st.MemberMisses != 4 {
			t.Errorf("plans %v: %+v, want 5 members known, 4 not", plans, st)
		}
	}
}

// A member with a data descriptor is only known when the descriptor's bytes
// are the same too: archive/zip checks the CRC it holds, so a copy whose
// descriptor lies still fails.
func TestKnownMemberKeepsDescriptorCheck(t *testing.T) {
	body := strings.Repeat("data ", 100) + "EVIL_PAYLOAD"
	good := fixture.ZipFiles(t, fixture.File("pkg/a.py", body)) // Go's writer streams: flag 0x8
	i := bytes.Index(good, []byte("PK\x07\x08"))
	if i < 0 {
		t.Fatal("fixture: no data descriptor")
	}
	bad := slices.Clone(good)
	bad[i+4] ^= 0xff
	c := NewCache(0)
	s := fxScannerWith(t, memberRules, Options{Limits: fxLimits(), Speed: DefaultSpeed(), Cache: c})
	if r := s.Scan(context.Background(), "good.whl", good); r.Err != nil || r.Score != 15 {
		t.Fatalf("good: %v, score %d", r.Err, r.Score)
	}
	r := s.Scan(context.Background(), "bad.whl", bad)
	fixture.WantClass(t, r.Err, failure.ErrMalformed, "checksum")
	if st := c.Stats(); st.MemberHits != 0 {
		t.Errorf("%+v: the lying copy was served from the cache", st)
	}
	// And the good one still is.
	if r := s.Scan(context.Background(), "good.whl", good); r.Err != nil || r.Score != 15 || c.Stats().MemberHits != 1 {
		t.Errorf("good again: %v, score %d, %+v", r.Err, r.Score, c.Stats())
	}
}
