package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

func TestArchive02_DuplicateNamesAllScanned(t *testing.T) {
	zipData := fixture.ZipFiles(t,
		fixture.File("pkg/__init__.py", "clean"),
		fixture.File("pkg/__init__.py", fixture.Payload),
	)
	tarData := fixture.Gzip(t, fixture.Tar(t,
		fixture.File("pkg/__init__.py", fixture.Payload),
		fixture.File("pkg/__init__.py", "clean"),
	))
	for name, data := range map[string][]byte{"zip": zipData, "tar.gz": tarData} {
		t.Run(name, func(t *testing.T) {
			got, fl, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, nil)
			if len(got) != 2 || fl.Files != 2 {
				t.Fatalf("visited %d files (%d counted), want 2", len(got), fl.Files)
			}
			bodies := []string{got[0].Data, got[1].Data}
			slices.Sort(bodies)
			if !slices.Equal(bodies, []string{fixture.Payload, "clean"}) || got[0].Path != got[1].Path {
				t.Fatalf("visits %+v", got)
			}
			// Whichever copy Go or Python would pick, the payload counts.
			res := fxScanner(t, fxLimits(), fixture.Rules).Scan(context.Background(), "x", data)
			if res.Err != nil || res.Score != 15 || len(res.Files) != 1 || res.Files[0].Path != "pkg/__init__.py" {
				t.Fatalf("scan: err %v score %d files %+v", res.Err, res.Score, res.Files)
			}
		})
	}
}

// --- Row 3: tar entry types ---------------------------------------------------

func TestArchive06_ZipMethodsAreRead(t *testing.T) {
	body := func(m string) string { return "method " + m + ": " + fixture.Payload + "\n" }
	data := fixture.Zip(t,
		fixture.ZipEntry{Name: "m/store.py", Body: body("store"), Method: zip.Store},
		fixture.ZipEntry{Name: "m/deflate.py", Body: body("deflate"), Method: zip.Deflate},
		fixture.ZipEntry{Name: "m/bzip2.py", Body: fixture.Bzip2MemberText, Method: zipBzip2, Compressed: fixture.Hex(fixture.Bzip2MemberHex)},
		fixture.ZipEntry{Name: "m/lzma_eos.py", Body: body("lzma eos"), Method: zipLZMA, Compressed: fixture.ZipLZMA(t, []byte(body("lzma eos")), true), Flags: 0x2},
		fixture.ZipEntry{Name: "m/lzma_sized.py", Body: body("lzma sized"), Method: zipLZMA, Compressed: fixture.ZipLZMA(t, []byte(body("lzma sized")), false)},
		fixture.ZipEntry{Name: "m/zstd.py", Body: body("zstd"), Method: zipZstd, Compressed: fixture.Zstd(t, []byte(body("zstd")))},
		fixture.ZipEntry{Name: "m/xz.py", Body: body("xz"), Method: zipXz, Compressed: fixture.Xz(t, []byte(body("xz")))},
	)
	got, _, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, nil)
	want := map[string]string{
		"m/store.py": body("store"), "m/deflate.py": body("deflate"), "m/bzip2.py": fixture.Bzip2MemberText,
		"m/lzma_eos.py": body("lzma eos"), "m/lzma_sized.py": body("lzma sized"), "m/zstd.py": body("zstd"), "m/xz.py": body("xz"),
	}
	if len(got) != len(want) {
		t.Fatalf("visited %q", fixture.Paths(got))
	}
	for _, v := range got {
		if want[v.Path] != v.Data {
			t.Errorf("%s = %q, want %q", v.Path, v.Data, want[v.Path])
		}
	}
	res := fxScanner(t, fxLimits(), fixture.Rules).Scan(context.Background(), "x.whl", data)
	if res.Err != nil || len(res.Files) != len(want) {
		t.Fatalf("scan: %v, files %+v", res.Err, res.Files)
	}
}

func TestArchive08_EmptyTarGzIsComplete(t *testing.T) {
	for name, data := range map[string][]byte{
		"go":     fixture.Gzip(t, fixture.Tar(t)),
		"python": fixture.Gzip(t, make([]byte, 10240)),
		"xz":     fixture.Xz(t, fixture.Tar(t)),
	} {
		t.Run(name, func(t *testing.T) {
			got, fl, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, nil)
			if len(got) != 0 || fl.Files != 0 {
				t.Fatalf("got %v %+v", got, fl)
			}
			res := fxScanner(t, fxLimits(), fixture.Rules).Scan(context.Background(), "x.tar.gz", data)
			if res.Status() != StatusComplete {
				t.Fatalf("status %s: %v", res.Status(), res.Err)
			}
		})
	}
}

func TestArchive09_CorruptArchivesAreMalformed(t *testing.T) {
	body := strings.Repeat("some python code "+fixture.Payload+"\n", 200)
	raw := fixture.Tar(t, fixture.File("pkg/a.py", body), fixture.File("pkg/b.py", body), fixture.File("pkg/c.py", "c"))
	gz, xzData, bz := fixture.Gzip(t, raw), fixture.Xz(t, raw), fixture.Hex(fixture.TarBz2Hex)

	badHeader := append([]byte(nil), raw...)
	second := fixture.Pad(make([]byte, tarBlock+len(body))) // offset of pkg/b.py's header
	if bytes.Contains(raw[len(second):len(second)+tarBlock], []byte("pkg/b.py")) {
		badHeader[len(second)+10] ^= 0x55 // its name changes, its checksum no longer agrees
	} else {
		t.Fatal("fixture: pkg/b.py header not where expected")
	}

	bad := uint32(1)
	zipCRC := fixture.Zip(t, fixture.ZipEntry{Name: "ok.py", Body: "ok", Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Deflate, CRC: &bad})
	storedCRC := fixture.Zip(t, fixture.ZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Store, CRC: &bad})
	w := fixture.Wheel(t)
	zipCutDeflate := fixture.Zip(t, fixture.ZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Deflate, Compressed: fixture.Deflate(t, []byte(body))[:20]})

	tests := []struct {
		name  string
		data  []byte
		class error
		frags []string
	}{
		{"tar.gz cut in deflate data", gz[:len(gz)/2], failure.ErrMalformed, []string{"unexpected EOF"}},
		{"tar.gz cut in header", gz[:12], failure.ErrMalformed, nil},
		{"tar.gz corrupt deflate", func() []byte { b := append([]byte(nil), gz...); b[len(b)/3] ^= 0xff; b[len(b)/3+1] ^= 0xff; return b }(), failure.ErrMalformed, nil},
		{"tar.xz cut", xzData[:len(xzData)/2], failure.ErrMalformed, nil},
		{"tar.bz2 cut", bz[:len(bz)/2], failure.ErrMalformed, nil},
		{"tar cut in member", raw[:tarBlock+100], failure.ErrMalformed, []string{"pkg/a.py", "unexpected EOF"}},
		{"tar bad second header", badHeader, failure.ErrMalformed, []string{"tar", "invalid tar header"}},
		{"tar.gz bad second header", fixture.Gzip(t, badHeader), failure.ErrMalformed, []string{"tar", "invalid tar header"}},
		{"zip crc mismatch", zipCRC, failure.ErrMalformed, []string{"pkg/evil.py", "checksum"}},
		{"zip stored crc mismatch", storedCRC, failure.ErrMalformed, []string{"pkg/evil.py", "checksum"}},
		{"zip cut deflate", zipCutDeflate, failure.ErrMalformed, []string{"pkg/evil.py"}},
		{"zip cut directory", w[:len(w)-30], failure.ErrMalformed, []string{"zip"}},
		{"zip cut in data", w[:60], failure.ErrMalformed, []string{"zip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := fxFlatten(t, tt.data, fxLimits())
			fixture.WantClass(t, err, tt.class, tt.frags...)
			// Through the scanner the result is a failure, never clean.
			res := fxScanner(t, fxLimits(), fixture.Rules).Scan(context.Background(), "x", tt.data)
			if res.Status() != StatusFailed || failure.Class(res.Err) != tt.class {
				t.Fatalf("scan: %s %v", res.Status(), res.Err)
			}
		})
	}
}

// --- Row 10: nested archives ------------------------------------------------------

func TestArchive10_NestedArchivesAreOpened(t *testing.T) {
	got, fl, err := fxFlatten(t, fixture.NestedWheel(t), fxLimits())
	fixture.WantClass(t, err, nil)
	want := []fixture.Visit{
		{Path: "pkg/__init__.py"},
		{Path: "pkg/data.tar.gz", Depth: 0, Archive: true},
		{Path: "pkg/data.tar.gz/data/notes.txt", Depth: 1},
		{Path: "pkg/data.tar.gz/data/inner.zip", Depth: 1, Archive: true},
		{Path: "pkg/data.tar.gz/data/inner.zip/evil.py", Depth: 2},
		{Path: "pkg/data.tar.gz/data/inner.zip/README", Depth: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("visited %q", fixture.Paths(got))
	}
	for i := range want {
		if got[i].Path != want[i].Path || got[i].Depth != want[i].Depth || got[i].Archive != want[i].Archive {
			t.Errorf("visit %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if fl.Files != int64(len(want)) {
		t.Errorf("counted %d files, want %d (nested included)", fl.Files, len(want))
	}
	// filetype is tested on the innermost path.
	res := fxScanner(t, fxLimits(), fixture.Rules).Scan(context.Background(), "x.whl", fixture.NestedWheel(t))
	m := fxMatchedPaths(res)
	if res.Err != nil || !slices.Equal(m["pkg/data.tar.gz/data/inner.zip/evil.py"], []string{"payload", "payload_py"}) {
		t.Fatalf("scan: %v %v", res.Err, m)
	}
}

func TestArchive13_NonUTF8NamesKeptAsBytes(t *testing.T) {
	name := "pkg/\xff\xfe\x80evil.py"
	other := "pkg/caf\xe9.txt"
	entries := []fixture.Entry{fixture.File(name, fixture.Payload), fixture.File(other, fixture.Payload)}
	for kind, data := range map[string][]byte{"zip": fixture.ZipFiles(t, entries...), "tar.gz": fixture.Gzip(t, fixture.Tar(t, entries...))} {
		t.Run(kind, func(t *testing.T) {
			got, _, err := fxFlatten(t, data, fxLimits())
			fixture.WantClass(t, err, nil)
			if !slices.Equal(fixture.Paths(got), []string{name, other}) {
				t.Fatalf("paths %q", fixture.Paths(got))
			}
			res := fxScanner(t, fxLimits(), fixture.Rules).Scan(context.Background(), "x", data)
			m := fxMatchedPaths(res)
			if res.Err != nil || !slices.Equal(m[name], []string{"payload", "payload_py"}) || !slices.Equal(m[other], []string{"payload"}) {
				t.Fatalf("scan %v: %q", res.Err, m)
			}
		})
	}
	if d := archive.DisplayName(name); d != strconv.Quote(name) {
		t.Errorf("archive.DisplayName = %s", d)
	}
}

// --- Row 14: YARA time-outs and match limits -------------------------------------

func TestArchive14_TooManyMatchesFailsWithPartialFindings(t *testing.T) {
	data := fixture.Zip(t,
		fixture.ZipEntry{Name: "pkg/evil.py", Body: fixture.Payload, Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/flood.txt", Body: strings.Repeat("Q", rules.MatchLimit+10), Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/late.py", Body: fixture.Payload, Method: zip.Deflate},
	)
	rules := map[string]string{
		"payload": fixture.Rules["payload"],
		"flood":   `rule flood { meta: weight = 1 strings: $a = "Q" condition: $a }`,
	}
	lim := fxLimits()
	lim.MaxFileSize = 2 << 20
	res := fxScanner(t, lim, rules).Scan(context.Background(), "x.whl", data)
	if failure.Class(res.Err) != failure.ErrTimeout || !strings.Contains(res.Err.Error(), "pkg/flood.txt") || !strings.Contains(res.Err.Error(), "flood") {
		t.Fatalf("err = %v, want a timeout naming the file and rule", res.Err)
	}
	m := fxMatchedPaths(res)
	if !slices.Equal(m["pkg/evil.py"], []string{"payload"}) || res.Score == 0 || res.Status() != StatusFailed {
		t.Fatalf("partial findings lost: %+v score %d", m, res.Score)
	}
	if _, ok := m["pkg/late.py"]; ok {
		t.Error("scanning went on after the failed file")
	}
}

func TestArchive14_TimeoutFailsWithPartialFindings(t *testing.T) {
	// The condition is quadratic in the file size: far beyond one second on
	// 200 KB, nothing on a small file.
	rules := map[string]string{
		"payload": fixture.Rules["payload"],
		"slow":    `rule slow { condition: filesize > 1000 and for all i in (0..filesize) : ( for all j in (0..filesize) : ( uint8(i) == uint8(j) or true ) ) }`,
	}
	data := fixture.Zip(t,
		fixture.ZipEntry{Name: "pkg/evil.py", Body: fixture.Payload, Method: zip.Deflate},
		fixture.ZipEntry{Name: "pkg/slow.bin", Body: string(make([]byte, 200_000)), Method: zip.Store},
	)
	lim := fxLimits()
	lim.YaraTimeout = time.Second
	res := fxScanner(t, lim, rules).Scan(context.Background(), "x.whl", data)
	if failure.Class(res.Err) != failure.ErrTimeout || !strings.Contains(res.Err.Error(), "pkg/slow.bin") {
		t.Fatalf("err = %v, want a timeout naming the file", res.Err)
	}
	if m := fxMatchedPaths(res); !slices.Equal(m["pkg/evil.py"], []string{"payload"}) || res.Score != 10 {
		t.Fatalf("partial findings lost: %+v score %d", m, res.Score)
	}
}

// --- Row 15: the name lies about the format ----------------------------------------

func TestArchive15_FormatBySniffingNotByName(t *testing.T) {
	tgz := fixture.Gzip(t, fixture.Tar(t, fixture.File("pkg-1.0/pkg/evil.py", fixture.Payload)))
	tests := []struct {
		target string
		data   []byte
		format archive.Format
		class  error
	}{
		{"https://files.example/pkg-1.0.tar.gz", fixture.Wheel(t), archive.FormatZip, nil},
		{"https://files.example/pkg-1.0-py3-none-any.whl", tgz, archive.FormatTarGz, nil},
		{"https://files.example/pkg-1.0.zip", fixture.Xz(t, fixture.Tar(t, fixture.File("pkg/evil.py", fixture.Payload))), archive.FormatTarXz, nil},
		{"https://files.example/pkg-1.0.tar.gz", []byte("<!DOCTYPE html><html><body>404 Not Found</body></html>"), archive.FormatUnknown, failure.ErrUnsupported},
		{"https://files.example/pkg-1.0.tar.gz", []byte("<html>" + strings.Repeat(" ", 600) + "</html>"), archive.FormatUnknown, failure.ErrUnsupported},
		{"https://files.example/pkg-1.0.whl", []byte{}, archive.FormatUnknown, failure.ErrUnsupported},
		{"https://files.example/pkg-1.0.whl", []byte("PK"), archive.FormatUnknown, failure.ErrUnsupported},
		{"https://files.example/pkg-1.0.whl", append([]byte("MZ-sfx-stub"), fixture.Wheel(t)...), archive.FormatUnknown, failure.ErrUnsupported},
	}
	s := fxScanner(t, fxLimits(), fixture.Rules)
	for _, tt := range tests {
		res := s.Scan(context.Background(), tt.target, tt.data)
		if failure.Class(res.Err) != tt.class || res.Format != tt.format {
			t.Errorf("%s (%.10q): format %q err %v, want %q %v", tt.target, tt.data, res.Format, res.Err, tt.format, tt.class)
			continue
		}
		if tt.class == nil && res.Score == 0 {
			t.Errorf("%s: payload not found", tt.target)
		}
		if tt.class != nil && !strings.Contains(res.Err.Error(), "format") {
			t.Errorf("%s: reason %q does not say the format is not recognised", tt.target, res.Err)
		}
	}
}

// --- Row 16: HTML error pages ----------------------------------------------------

func TestArchive17_LinkTargetsCountUnderTheLinkName(t *testing.T) {
	data := fixture.Gzip(t, fixture.Tar(t, fixture.Row17Links()...))
	got, _, err := fxFlatten(t, data, fxLimits())
	fixture.WantClass(t, err, nil)
	for _, link := range []string{"pkg-1.0/pkg/early.py", "pkg-1.0/pkg/__init__.py", "pkg-1.0/pkg/sym.py", "pkg-1.0/pkg/chain.py"} {
		v, ok := fixture.Find(got, link)
		if !ok || !slices.Equal(v.Links, []string{"pkg-1.0/notes.txt"}) || v.Data != "" {
			t.Errorf("%s: visit %+v", link, v)
		}
	}
	res := fxScanner(t, fxLimits(), fixture.Rules).Scan(context.Background(), "pkg-1.0.tar.gz", data)
	m := fxMatchedPaths(res)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := map[string][]string{
		"pkg-1.0/notes.txt":       {"payload"},
		"pkg-1.0/pkg/early.py":    {"payload", "payload_py"},
		"pkg-1.0/pkg/__init__.py": {"payload", "payload_py"},
		"pkg-1.0/pkg/sym.py":      {"payload", "payload_py"},
		"pkg-1.0/pkg/chain.py":    {"payload", "payload_py"},
	}
	if len(m) != len(want) {
		t.Errorf("matched files %q, want %d", m, len(want))
	}
	for p, rules := range want {
		if !slices.Equal(m[p], rules) {
			t.Errorf("%s: rules %q, want %q", p, m[p], rules)
		}
	}
	if !slices.ContainsFunc(res.Rules, func(r RuleHit) bool { return r.Name == "payload_py" }) || res.Score != 15 {
		t.Errorf("rules %+v score %d", res.Rules, res.Score)
	}

	// In a nested tarball, link targets carry the nested prefix.
	outer := fixture.Zip(t, fixture.ZipEntry{Name: "vendored/pkg-1.0.tar.gz", Body: string(data), Method: zip.Store})
	res = fxScanner(t, fxLimits(), fixture.Rules).Scan(context.Background(), "x.whl", outer)
	if m := fxMatchedPaths(res); res.Err != nil || !slices.Equal(m["vendored/pkg-1.0.tar.gz/pkg-1.0/pkg/__init__.py"], []string{"payload", "payload_py"}) {
		t.Fatalf("nested: %v %q", res.Err, m)
	}
}
