package archive

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
)

// format is one archive format the walker opens. The table below is the
// only place that decides what is an archive: the distribution itself and
// every file inside it go through formatOf, so a new format is one entry
// here and one reader file.
type format struct {
	name Format
	// comp is the compression around a tar; compNone for zip and plain tar.
	comp compression
	// match reports whether data is in this format; top is set for the
	// distribution itself.
	match func(data []byte, top bool) bool
	// walk visits the archive's files, naming them prefix+name.
	walk func(w *walker, data []byte, prefix string, depth int) error
}

// formats in the order they are tried. A plain tar is recognised nested
// only by its ustar magic (a bare checksum match on 512 arbitrary bytes is
// too weak a sign for a member of unknown type), and at the top level by
// its checksum too, unless the bytes start like a compressed stream, which
// is then read as one. The table is filled in init because the walkers it
// names use it for nested archives.
var formats []*format

func init() {
	formats = []*format{
		{name: FormatZip, match: func(data []byte, _ bool) bool { return isZip(data) }, walk: (*walker).walkZip},
		{name: FormatTar, match: func(data []byte, top bool) bool {
			if top {
				return sniffCompression(data) == compNone && isTarHeader(data, false)
			}
			return isUstar(data)
		}, walk: func(w *walker, data []byte, prefix string, depth int) error {
			return w.walkTar(bytes.NewReader(data), prefix, depth)
		}},
		tarball(FormatTarGz, compGzip),
		tarball(FormatTarBz2, compBzip2),
		tarball(FormatTarXz, compXz),
	}
}

// formatOf returns the format data is in, nil when none.
func formatOf(data []byte, top bool) *format {
	for _, f := range formats {
		if f.match(data, top) {
			return f
		}
	}
	return nil
}

// tarball is a tar inside a compressed stream. The stream must hold a tar
// (its first block a tar header): a bare compressed file is no archive.
func tarball(name Format, c compression) *format {
	return &format{name: name, comp: c,
		match: func(data []byte, _ bool) bool { return sniffCompression(data) == c },
		walk: func(w *walker, data []byte, prefix string, depth int) error {
			stream, isTar, err := w.openTarStream(data, c, strings.TrimSuffix(prefix, "/"))
			defer releaseStream(stream)
			switch {
			case err != nil && failure.Class(err) != nil:
				return err
			case err != nil:
				return failure.Classed(failure.ErrMalformed, "%s: %v", name, err)
			case !isTar && prefix == "":
				return failure.Classed(failure.ErrUnsupported, "format not recognised: a %s stream that holds no tar archive", name)
			case !isTar:
				return failure.Classed(failure.ErrUnsupported, "a %s stream that holds no tar archive", name)
			}
			return w.walkTar(stream, prefix, depth)
		}}
}

// top walks the distribution itself.
func (w *walker) top(data []byte) error {
	if int64(len(data)) > w.lim.MaxScanSize {
		return failure.ArchiveTooLarge(int64(len(data)), w.lim.MaxScanSize)
	}
	f := formatOf(data, true)
	switch {
	case f != nil:
		w.format = f.name
		return f.walk(w, data, "", 0)
	case len(data) == 0:
		return failure.Classed(failure.ErrUnsupported, "format not recognised: the file is empty")
	}
	return failure.Classed(failure.ErrUnsupported, "format not recognised (starts with %s)", strconv.Quote(string(data[:min(len(data), 8)])))
}

// nestedFormat tells whether a file's content is an archive to open, and
// in which format. A compressed stream is opened to see whether its first
// block is a tar header; a bare compressed file (data.json.gz) is no
// archive, and its raw bytes are scanned. A stream that fails a limit
// before its first block (an xz dictionary over the bound) fails the
// distribution: limits are never notes.
func (w *walker) nestedFormat(data []byte, path string) (*format, error) {
	f := formatOf(data, false)
	if f == nil || f.comp == compNone {
		return f, nil
	}
	stream, isTar, err := w.openTarStream(data, f.comp, path)
	releaseStream(stream)
	if failure.Class(err) == failure.ErrTooLarge {
		return nil, InFile(err, path)
	}
	if err != nil || !isTar {
		return nil, nil
	}
	return f, nil
}

// openTarStream opens the compressed stream of data and tells whether its
// first block is a tar header. The stream is bounded by the ratio and the
// expanded budget. A stream returned must be given to releaseStream once
// read, or abandoned.
func (w *walker) openTarStream(data []byte, c compression, path string) (io.Reader, bool, error) {
	src := bytes.NewReader(data)
	dec, err := openStream(c, data, src, w.lim)
	if err != nil {
		return nil, false, err
	}
	rr := &ratioReader{r: dec, src: src, srcSize: int64(len(data)), maxRatio: w.lim.MaxRatio, maxOut: w.lim.MaxExpandedSize, path: path}
	if path == "" {
		rr.path = "the distribution"
	}
	// Read by hand rather than with io.ReadFull, which turns the clean end
	// of a short stream and a truncated one alike into ErrUnexpectedEOF: a
	// stream cut off before its first block is malformed, not "no tar".
	head := make([]byte, tarBlock)
	n := 0
	for n < tarBlock && err == nil {
		var m int
		m, err = rr.Read(head[n:])
		n += m
	}
	if err != nil && !errors.Is(err, io.EOF) {
		releaseStream(dec)
		return nil, false, err
	}
	if n < tarBlock || !isTarHeader(head, true) {
		releaseStream(dec)
		return nil, false, nil
	}
	return &tarStream{io.MultiReader(bytes.NewReader(head), rr), dec}, true, nil
}

// tarStream is an opened stream and the decoder under it.
type tarStream struct {
	io.Reader
	dec io.Reader
}

// releaser is a decoder that holds what the garbage collector should not
// have to reclaim: ISA-L's C state (inflate_isal.go).
type releaser interface{ release() }

// releaseStream gives back what the decoder of r holds.
func releaseStream(r io.Reader) {
	switch r := r.(type) {
	case *tarStream:
		releaseStream(r.dec)
	case releaser:
		r.release()
	}
}
