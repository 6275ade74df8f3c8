package builtin_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"path"
	"reflect"
	"sort"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// TestLeversKeepResults: every sample of the rule cases and the benign
// corpus, under its own name and renamed to each filetype the rules know
// (and linked under those names in a tarball), scores the same with rule
// plans, the content cache and the prefilter on as with all off.
func TestLeversKeepResults(t *testing.T) {
	rs := compileBuiltin(t)
	var samples []sample
	names := make([]string, 0, len(ruleCases))
	for name := range ruleCases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		samples = append(samples, ruleCases[name].bad...)
		samples = append(samples, ruleCases[name].good...)
	}
	samples = append(samples, benignCorpus...)

	type member struct{ name, body, link string }
	var members []member
	suffixes := []string{".py", ".pth", "/setup.py", ".txt", ".sh", ".bat", ".ps1", ".json"}
	for i, s := range samples {
		members = append(members, member{name: fmt.Sprintf("s%03d/%s", i, s.path), body: s.src})
		for _, suf := range suffixes {
			members = append(members, member{name: fmt.Sprintf("r%03d/x%s", i, suf), body: s.src})
		}
		// Links named like code to the sample stored as data.
		data := fmt.Sprintf("d%03d/blob.dat", i)
		members = append(members, member{name: data, body: s.src})
		for _, suf := range suffixes {
			members = append(members, member{name: fmt.Sprintf("l%03d/y%s", i, suf), link: data})
		}
	}
	var tbuf bytes.Buffer
	gz := gzip.NewWriter(&tbuf)
	tw := tar.NewWriter(gz)
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.body)), Typeflag: tar.TypeReg}
		if m.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, m.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.body)); err != nil {
			t.Fatal(err)
		}
		if m.link == "" {
			w, err := zw.Create(m.name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []interface{ Close() error }{tw, gz, zw} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	dists := map[string][]byte{"cases-1.0.tar.gz": tbuf.Bytes(), "cases-1.0-py3-none-any.whl": zbuf.Bytes()}

	scanAll := func(plans bool, cache *scan.Cache, prefilter bool) map[string]*scan.DistResult {
		s, err := scan.New(rs, scan.Options{Limits: archive.DefaultLimits(), Speed: scan.Speed{RulePlans: plans, Prefilter: prefilter}, Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out := map[string]*scan.DistResult{}
		for name, data := range dists {
			out[name] = s.Scan(context.Background(), name, data)
		}
		return out
	}
	want := scanAll(false, nil, false)
	for name, r := range want {
		if r.Err != nil || r.Score == 0 {
			t.Fatalf("%s: err %v score %d", name, r.Err, r.Score)
		}
		t.Logf("%s: score %d, %d rules, %d files matched", name, r.Score, len(r.Rules), len(r.Files))
	}
	cache := scan.NewCache(0)
	for _, v := range []struct {
		label     string
		plans     bool
		cache     *scan.Cache
		prefilter bool
	}{
		{"plans", true, nil, false},
		{"prefilter", false, nil, true},
		{"cache cold", false, cache, false},
		{"cache warm", false, cache, false},
		{"all cold", true, scan.NewCache(0), true},
		{"all warm", true, cache, true},
	} {
		got := scanAll(v.plans, v.cache, v.prefilter)
		for name := range dists {
			if !reflect.DeepEqual(got[name], want[name]) {
				t.Errorf("%s: %s differs", v.label, name)
				for i := range max(len(got[name].Files), len(want[name].Files)) {
					var g, w scan.FileMatch
					if i < len(got[name].Files) {
						g = got[name].Files[i]
					}
					if i < len(want[name].Files) {
						w = want[name].Files[i]
					}
					if !reflect.DeepEqual(g, w) {
						t.Errorf("  %s: got %+v, want %+v", path.Base(w.Path), g, w)
						break
					}
				}
			}
		}
	}
	if st := cache.Stats(); st.Hits == 0 {
		t.Errorf("cache stats %+v", st)
	}
}
