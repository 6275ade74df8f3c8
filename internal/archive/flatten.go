// Package archive flattens Python distributions in memory: zip, wheel and
// egg, tar and gzip/bzip2/xz tarballs, nested archives included, nothing
// written to disk. Every file an installer would write is handed to a
// [Visitor]; every limit (limits.go) is checked while reading, so hostile
// input ends in a classified error (package failure) and never in a panic,
// a hang, or a partial walk that reads as complete.
//
// The formats are one file each (zip.go, tar.go, compress.go, the inflate
// implementations) behind one dispatch table (formats.go), used alike for
// the distribution itself and for archives nested in it. The threats each
// reader guards against are listed in docs/archive-threats.md, with the
// tests that cover them.
package archive

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
)

// File is one file of a flattened distribution, as handed to a [Visitor].
type File struct {
	// Path is the file's name inside the distribution. Files of a nested
	// archive are named "outer/inner.zip/path". Bytes are kept as the
	// archive gave them, valid UTF-8 or not.
	Path string
	// Data is the file's content. It is only valid during the visit: the
	// buffer is reused for the next file.
	Data []byte
	// Depth is 0 for the distribution's own files, 1 inside a nested archive…
	Depth int
	// Archive is set when Data is itself an archive whose files are visited
	// right after this one.
	Archive bool
	// LinkTargets is set for a tar link that resolves to files of the same
	// archive: the Paths of those files (several when a name repeats). Data
	// is nil; the targets' matches count under the link's own name, because
	// pip installs the link under that name.
	LinkTargets []string
	// Member identifies the compressed zip member Data was inflated from,
	// when the walk has a MemberLookup; nil otherwise.
	Member *MemberKey
}

// Note records something odd that did not fail the distribution, such as a
// nested archive that would not open (real sdists ship broken test data).
type Note struct {
	Path   string // already passed through DisplayName
	Reason string
}

// Visitor receives every file of a distribution in archive order, a nested
// archive's own bytes before its files. An error stops the walk and fails
// the distribution.
type Visitor func(f *File) error

// Flattened sums up a walk.
type Flattened struct {
	Format        Format
	BytesExpanded int64
	Files         int64
	Notes         []Note
}

// Options are the optional parts of a walk.
type Options struct {
	// Members, when set, lets the visitor skip zip members it has seen.
	Members *MemberLookup
	// Budget, when set, lends the walk its large file buffers (buffers.go).
	Budget Budget
}

// MemberLookup lets a visitor skip zip members it has seen: before a
// deflated member of at least Min bytes is inflated, Known is asked whether
// the file it expands to is already known (an identical member was visited
// before, see MemberKey). When Known returns true it has accounted for the
// file as a visit of path, and the member is neither inflated nor visited.
// The admission checks (sizes, counts, ratios) have passed by then. The
// visitor learns the key of a member at its visit (File.Member) and must
// answer true only for a member whose file was no archive.
type MemberLookup struct {
	Min   int64
	Known func(path string, size int64, key *MemberKey) bool
}

// Flatten walks the archive in data entirely in memory, calling visit for
// every file at every nesting depth, and enforces lim throughout. The error
// is classed (see failure.Class); Flattened is filled in as far as the walk
// got, so that a failure still reports what it saw.
func Flatten(ctx context.Context, data []byte, lim Limits, visit Visitor, opt Options) (Flattened, error) {
	w := &walker{ctx: ctx, lim: lim, visit: visit, members: opt.Members, budget: opt.Budget,
		count: counter{lim: lim, total: int64(len(data))}}
	defer w.releaseAll()
	err := w.top(data)
	return Flattened{Format: w.format, BytesExpanded: w.count.expanded, Files: w.count.files, Notes: w.notes}, err
}

type walker struct {
	ctx     context.Context
	lim     Limits
	visit   Visitor
	members *MemberLookup // nil: every member is inflated and visited
	count   counter
	format  Format
	notes   []Note
	bufs    [][]byte // one reusable file buffer per depth

	budget Budget
	large  []largeBuffer // per depth: the buffer of a file over retainedBuffer
}

// admit counts a file against the limits (see counter.admit) once the
// walk has not been cancelled.
func (w *walker) admit(path string, size, compressed int64) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	return w.count.admit(path, size, compressed)
}

// file visits one file's content and, when it is a nested archive, walks
// into it. A nested archive that fails to open is a note; budgets, depth
// and failures of the visitor fail the distribution.
func (w *walker) file(path string, data []byte, depth int, member *MemberKey) error {
	f := &File{Path: path, Data: data, Depth: depth, Member: member}
	nested, err := w.nestedFormat(data, path)
	if err != nil {
		return err
	}
	f.Archive = nested != nil
	if f.Archive && depth+1 > w.lim.MaxDepth {
		return failure.TooLarge("nesting depth of "+DisplayName(path)+":", int64(depth+1), int64(w.lim.MaxDepth))
	}
	if err := w.visit(f); err != nil {
		return err
	}
	if !f.Archive {
		return nil
	}
	err = nested.walk(w, data, path+"/", depth+1)
	if c := failure.Class(err); c == failure.ErrMalformed || c == failure.ErrUnsupported {
		w.notes = append(w.notes, Note{Path: DisplayName(path), Reason: err.Error()})
		return nil
	}
	return err
}

// readExact reads exactly len(buf) bytes and then expects the end of the
// member, so that checks a reader makes at its end (zip CRCs, sizes) run.
func readExact(r io.Reader, buf []byte) error {
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	var probe [1]byte
	n, err := r.Read(probe[:])
	for n == 0 && err == nil {
		n, err = r.Read(probe[:])
	}
	switch {
	case n > 0:
		return errors.New("member is longer than its declared size")
	case errors.Is(err, io.EOF):
		return nil
	}
	return err
}

// InFile names the file a classed error is about, for errors of readers
// and of the matcher, which know no names.
func InFile(err error, path string) error {
	c := failure.Class(err)
	if c == nil || strings.Contains(err.Error(), DisplayName(path)) {
		return err
	}
	return failure.Classed(c, "%s: %s", DisplayName(path), strings.TrimPrefix(err.Error(), c.Error()+": "))
}
