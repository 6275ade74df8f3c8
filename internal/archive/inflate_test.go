package archive

// Hostile deflate data, in zip members and gzip streams, for either
// inflate path: these run in the plain build (Go) and with the tag isal
// (ISA-L), where fxFlatten also compares the two paths on every input.

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
)

// gzip header flags (RFC 1952 § 2.3.1), for hand-written members.
const (
	fxGzHCRC    = 1 << 1
	fxGzExtra   = 1 << 2
	fxGzName    = 1 << 3
	fxGzComment = 1 << 4
)

// fxGzipMember hand-writes a gzip member with the given flags and fields,
// deflating body at level (0 stores it).
func fxGzipMember(tb testing.TB, body []byte, level int, flags byte, extra, name, comment []byte) []byte {
	tb.Helper()
	h := []byte{0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255}
	if flags&fxGzExtra != 0 {
		h = binary.LittleEndian.AppendUint16(h, uint16(len(extra)))
		h = append(h, extra...)
	}
	if flags&fxGzName != 0 {
		h = append(append(h, name...), 0)
	}
	if flags&fxGzComment != 0 {
		h = append(append(h, comment...), 0)
	}
	if flags&fxGzHCRC != 0 {
		h = binary.LittleEndian.AppendUint16(h, uint16(crc32.ChecksumIEEE(h)))
	}
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, level)
	if err != nil {
		tb.Fatal(err)
	}
	fw.Write(body)
	if err := fw.Close(); err != nil {
		tb.Fatal(err)
	}
	h = append(h, buf.Bytes()...)
	h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(body))
	return binary.LittleEndian.AppendUint32(h, uint32(len(body)))
}

// fxFlip returns a copy of b with the byte at i changed.
func fxFlip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x5a
	return b
}

func TestInflateGzipMembers(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	big := string(fixture.Pythonish(rng, 1500<<10)) // read straight into its buffer, across members
	raw := fixture.Tar(t, fixture.File("pkg/a.py", strings.Repeat("a = 1\n", 3000)), fixture.File("pkg/big.py", big), fixture.File("pkg/evil.py", fixture.Payload))
	// Members that end inside the first file, inside the big one, and in
	// the middle of a tar header.
	cuts := []int{0, 7000, 600 << 10, 1200<<10 + 3, len(raw) - 1500, len(raw)}
	var plain, fancy, stored []byte
	for i := 1; i < len(cuts); i++ {
		part := raw[cuts[i-1]:cuts[i]]
		plain = append(plain, fixture.Gzip(t, part)...)
		fancy = append(fancy, fxGzipMember(t, part, 9, fxGzHCRC|fxGzExtra|fxGzName|fxGzComment, []byte("xy"), []byte("pkg.tar"), []byte("comment"))...)
		stored = append(stored, fxGzipMember(t, part, 0, 0, nil, nil, nil)...)
	}
	withEmpty := append(fixture.Gzip(t, nil), append(plain, fixture.Gzip(t, nil)...)...)
	lim := fxLimits()
	lim.MaxFileSize = 4 << 20
	for name, data := range map[string][]byte{
		"members":             plain,
		"header fields":       fancy,
		"stored blocks":       stored,
		"empty members":       withEmpty,
		"one member":          fixture.Gzip(t, raw),
		"one member, level 1": fxGzipMember(t, raw, 1, 0, nil, nil, nil),
	} {
		t.Run(name, func(t *testing.T) {
			got, _, err := fxFlatten(t, data, lim)
			fixture.WantClass(t, err, nil)
			if len(got) != 3 || got[1].Data != big || got[2].Data != fixture.Payload {
				t.Fatalf("visited %q", fixture.Paths(got))
			}
		})
	}
}

func TestInflateGzipHostile(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	body := string(fixture.Pythonish(rng, 200<<10))
	raw := fixture.Tar(t, fixture.File("pkg/a.py", body), fixture.File("pkg/b.py", body), fixture.File("pkg/evil.py", fixture.Payload))
	split := len(raw) / 2 // inside pkg/b.py
	first, second := fixture.Gzip(t, raw[:split]), fixture.Gzip(t, raw[split:])
	join := func(a, b []byte) []byte { return append(bytes.Clone(a), b...) }
	reserved := fxGzipMember(t, raw[split:], 6, 0, nil, nil, nil)
	reserved[3] = 0x20

	noEnd := fixture.Gzip(t, raw[:len(raw)-2*tarBlock])
	tests := []struct {
		name  string
		data  []byte
		frags []string
	}{
		{"CRC of the first member", join(fxFlip(first, len(first)-8), second), []string{"pkg/b.py", "gzip: invalid checksum"}},
		{"ISIZE lie of the first member", join(fxFlip(first, len(first)-4), second), []string{"pkg/b.py", "gzip: invalid checksum"}},
		{"ISIZE lie of the last member, before the end marker", fxFlip(noEnd, len(noEnd)-1), []string{"gzip: invalid checksum"}},
		{"first member cut in its deflate data", join(first[:len(first)/2], second), nil},
		{"first member cut in its trailer", join(first[:len(first)-3], second), nil},
		{"first member without trailer", join(first[:len(first)-8], second), nil},
		{"corrupt deflate data", join(fxFlip(first, len(first)/3), second), nil},
		{"stream cut in the big file", join(first, second[:len(second)/3]), []string{"pkg/b.py", "unexpected EOF"}},
		{"second header CRC", join(first, fxFlip(fxGzipMember(t, raw[split:], 6, fxGzHCRC, nil, nil, nil), 10)), []string{"gzip: invalid header"}},
		{"second header reserved flags", join(first, reserved), []string{"gzip: invalid header"}},
		{"second header not gzip", join(first, []byte("PK\x03\x04 not gzip")), []string{"gzip: invalid header"}},
		{"second header cut short", join(first, second[:6]), []string{"pkg/b.py", "unexpected EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := fxFlatten(t, tt.data, fxLimits())
			fixture.WantClass(t, err, failure.ErrMalformed, tt.frags...)
			if _, ok := fixture.Find(got, "pkg/evil.py"); ok && !strings.Contains(tt.name, "last member") {
				t.Errorf("visited the file after the failure")
			}
		})
	}
}

func TestInflateZipHostile(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	body := string(fixture.Pythonish(rng, 20<<10))
	deflated := fixture.Deflate(t, []byte(body))
	bad := uint32(1)
	ok := fixture.ZipEntry{Name: "pkg/ok.py", Body: body, Method: zip.Deflate}
	// The Go writer follows deflated members with a data descriptor; its
	// CRC must agree with the directory's.
	described := fixture.Zip(t, ok)
	zr, err := zip.NewReader(bytes.NewReader(described), int64(len(described)))
	if err != nil || zr.File[0].Flags&0x8 == 0 {
		t.Fatalf("fixture: %v, flags %#x", err, zr.File[0].Flags)
	}
	off, _ := zr.File[0].DataOffset()
	badDescriptor := fxFlip(described, int(off)+int(zr.File[0].CompressedSize64)+4)

	tests := []struct {
		name  string
		data  []byte
		frags []string
	}{
		{"CRC", fixture.Zip(t, ok, fixture.ZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Deflate, CRC: &bad}), []string{"pkg/evil.py", "checksum"}},
		{"data descriptor CRC", badDescriptor, []string{"pkg/ok.py", "checksum"}},
		{"cut in the deflate data", fixture.Zip(t, ok, fixture.ZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Deflate, Compressed: deflated[:len(deflated)/2]}), []string{"pkg/evil.py", "unexpected EOF"}},
		{"cut by a byte", fixture.Zip(t, ok, fixture.ZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Deflate, Compressed: deflated[:len(deflated)-1]}), []string{"pkg/evil.py"}},
		{"corrupt deflate data", fixture.Zip(t, ok, fixture.ZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Deflate, Compressed: fxFlip(deflated, len(deflated)/3)}), []string{"pkg/evil.py"}},
		{"larger than declared", fixture.Zip(t, ok, fixture.ZipEntry{Name: "pkg/evil.py", Body: body[:len(body)-100], Method: zip.Deflate, Compressed: deflated}), []string{"pkg/evil.py"}},
		{"larger than declared by a byte", fixture.Zip(t, ok, fixture.ZipEntry{Name: "pkg/evil.py", Body: body[:len(body)-1], Method: zip.Deflate, Compressed: deflated}), []string{"pkg/evil.py"}},
		{"smaller than declared", fixture.Zip(t, ok, fixture.ZipEntry{Name: "pkg/evil.py", Body: body + "more", Method: zip.Deflate, Compressed: deflated}), []string{"pkg/evil.py", "unexpected EOF"}},
		{"larger than declared and cut", fixture.Zip(t, ok, fixture.ZipEntry{Name: "pkg/evil.py", Body: body[:len(body)-1], Method: zip.Deflate, Compressed: deflated[:len(deflated)-1]}), []string{"pkg/evil.py"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := fxFlatten(t, tt.data, fxLimits())
			fixture.WantClass(t, err, failure.ErrMalformed, tt.frags...)
		})
	}
	// Trailing bytes after the end of a member's deflate stream, inside its
	// compressed size, are ignored, as archive/zip and Python ignore them.
	padded := fixture.Zip(t, fixture.ZipEntry{Name: "pkg/evil.py", Body: body, Method: zip.Deflate, Compressed: append(bytes.Clone(deflated), "junk"...)})
	got, _, err := fxFlatten(t, padded, fxLimits())
	fixture.WantClass(t, err, nil)
	if len(got) != 1 || got[0].Data != body {
		t.Fatalf("visited %q", fixture.Paths(got))
	}
}
