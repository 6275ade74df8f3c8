package scan

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/semaphore"

	"github.com/vipyrsec/dragonfly-client-go/scan/membuf"
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

	// member identifies the compressed zip member Data was inflated from,
	// when the walk has a knownFunc (see memberKey); nil otherwise.
	member *memberKey
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

// Flatten walks the archive in data entirely in memory, calling visit for
// every file at every nesting depth, and enforces lim throughout. The error
// is classed (see [Class]); Flattened is filled in as far as the walk got,
// so that a failure still reports what it saw.
func Flatten(ctx context.Context, data []byte, lim Limits, visit Visitor) (Flattened, error) {
	return flatten(ctx, data, lim, visit, nil, nil)
}

// memberLookup lets a visitor skip zip members it has seen: before a
// deflated member of at least min bytes is inflated, known is asked whether
// the file it expands to is already known (an identical member was visited
// before, see memberKey). When known returns true it has accounted for the
// file as a visit of path, and the member is neither inflated nor visited.
// The admission checks (sizes, counts, ratios) have passed by then. The
// visitor learns the key of a member at its visit (File.member) and must
// answer true only for a member whose file was no archive.
type memberLookup struct {
	min   int64
	known func(path string, size int64, key *memberKey) bool
}

func flatten(ctx context.Context, data []byte, lim Limits, visit Visitor, members *memberLookup, budget Budget) (Flattened, error) {
	w := &walker{ctx: ctx, lim: lim, visit: visit, members: members, total: int64(len(data)), budget: budget}
	defer w.releaseAll()
	err := w.top(data)
	return Flattened{Format: w.format, BytesExpanded: w.expanded, Files: w.files, Notes: w.notes}, err
}

// Budget is memory shared by the stages of a daemon (a weighted semaphore).
// A scanner takes its large file buffers from it without ever waiting: a
// scanner holds a downloaded archive while it expands it, so waiting could
// deadlock against the downloads that hold the rest. What it takes makes
// the downloads wait instead, which is where waiting is safe.
type Budget interface {
	TryAcquire(n int64) bool
	Release(n int64)
}

// BufferBudget bounds the large file buffers of scanners that may wait for
// one another, as dragonfly scan's threads may: they hold nothing another
// stage needs. Without it, two threads that each reach a 100 MiB library
// at the same moment hold both at once, and the process's peak depends on
// that timing. A walk whose next large file does not fit waits for the
// other walks' files, but only while it holds none of the budget itself,
// so that nobody waits on a waiter and one file always proceeds; a walk
// that holds some (a nested archive's file) takes what is free and goes
// on. A file larger than the whole budget takes all of it.
type BufferBudget struct {
	sem     *semaphore.Weighted
	size    int64
	waiting func() // called when a walk is about to wait, for tests
}

// NewBufferBudget is a budget of size bytes.
func NewBufferBudget(size int64) *BufferBudget {
	return &BufferBudget{sem: semaphore.NewWeighted(size), size: size}
}

// TryAcquire takes n bytes (at most the whole budget) if they are free.
func (b *BufferBudget) TryAcquire(n int64) bool { return b.sem.TryAcquire(min(n, b.size)) }

// Release returns n bytes taken by TryAcquire or by a wait.
func (b *BufferBudget) Release(n int64) { b.sem.Release(min(n, b.size)) }

// retainedBuffer is the largest file buffer a walk keeps for reuse; larger
// ones are mapped per file outside the Go heap (membuf) and taken from the
// Budget. Measured on the dfbench corpus with 2 threads: 16 MiB peaked at
// 270-300 MB RSS, 4 MiB at 255-263 MB in the same time, 1 MiB at 251-259
// MB but about 5% slower (a mapping per mid-sized file).
const retainedBuffer = 4 << 20

type walker struct {
	ctx      context.Context
	lim      Limits
	visit    Visitor
	members  *memberLookup // nil: every member is inflated and visited
	total    int64         // bytes of the distribution, for the overall ratio
	format   Format
	expanded int64
	files    int64
	notes    []Note
	bufs     [][]byte // one reusable file buffer per depth

	budget Budget
	large  []largeBuffer // per depth: the buffer of a file over retainedBuffer
}

func (w *walker) top(data []byte) error {
	if int64(len(data)) > w.lim.MaxScanSize {
		return ArchiveTooLarge(int64(len(data)), w.lim.MaxScanSize)
	}
	switch {
	case isZip(data):
		w.format = FormatZip
		return w.walkZip(data, "", 0)
	case sniffCompression(data) != compNone:
		c := sniffCompression(data)
		w.format = c.tarFormat()
		stream, isTar, err := w.openTarStream(data, c, "")
		defer releaseStream(stream)
		if err != nil && Class(err) != nil {
			return err
		}
		if err != nil {
			return classed(ErrMalformed, "%s: %v", w.format, err)
		}
		if !isTar {
			return classed(ErrUnsupported, "format not recognised: a %s stream that holds no tar archive", w.format)
		}
		return w.walkTar(stream, "", 0)
	case isUstar(data) || isTarHeader(data, false):
		w.format = FormatTar
		return w.walkTar(bytes.NewReader(data), "", 0)
	}
	if len(data) == 0 {
		return classed(ErrUnsupported, "format not recognised: the file is empty")
	}
	return classed(ErrUnsupported, "format not recognised (starts with %s)", strconv.Quote(string(data[:min(len(data), 8)])))
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

// nestedArchive tells whether a file's content is an archive to open: a
// zip, a tar, or a gzip/bzip2/xz stream whose first block is a tar header.
// A bare compressed file (data.json.gz) is not: its raw bytes are scanned.
// A stream that fails a limit before its first block (an xz dictionary
// over the bound) fails the distribution: limits are never notes.
func (w *walker) nestedArchive(data []byte, path string) (bool, error) {
	switch {
	case isZip(data):
		return true, nil
	case isUstar(data):
		return true, nil
	case sniffCompression(data) != compNone:
		stream, isTar, err := w.openTarStream(data, sniffCompression(data), path)
		releaseStream(stream)
		if Class(err) == ErrTooLarge {
			return false, inFile(err, path)
		}
		return err == nil && isTar, nil
	}
	return false, nil
}

// inFile names the file a classed error is about, for errors of readers
// and of the matcher, which know no names.
func inFile(err error, path string) error {
	c := Class(err)
	if c == nil || strings.Contains(err.Error(), display(path)) {
		return err
	}
	return classed(c, "%s: %s", display(path), strings.TrimPrefix(err.Error(), c.Error()+": "))
}

// walkNested opens a nested archive whose bytes were just visited.
func (w *walker) walkNested(data []byte, prefix string, depth int) error {
	switch {
	case isZip(data):
		return w.walkZip(data, prefix, depth)
	case isUstar(data):
		return w.walkTar(bytes.NewReader(data), prefix, depth)
	}
	c := sniffCompression(data)
	stream, isTar, err := w.openTarStream(data, c, prefix[:len(prefix)-1])
	defer releaseStream(stream)
	switch {
	case err != nil && Class(err) != nil:
		return err
	case err != nil:
		return classed(ErrMalformed, "%s: %v", c.tarFormat(), err)
	case !isTar:
		return classed(ErrUnsupported, "a %s stream that holds no tar archive", c.tarFormat())
	}
	return w.walkTar(stream, prefix, depth)
}

// admit counts a file against the budgets before anything is allocated for
// it. compressed is the member's stored size, or -1 when not known apart.
func (w *walker) admit(path string, size, compressed int64) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.files++
	if w.files > w.lim.MaxFiles {
		return tooLarge("number of files", w.files, w.lim.MaxFiles)
	}
	if size > w.lim.MaxFileSize {
		return tooLarge("file "+display(path)+" of", size, w.lim.MaxFileSize)
	}
	if size < 0 {
		return classed(ErrMalformed, "file %s has negative size %d", display(path), size)
	}
	expanded := w.expanded + size
	if expanded > w.lim.MaxExpandedSize {
		return tooLarge("expanded size", expanded, w.lim.MaxExpandedSize)
	}
	if expanded > RatioFloor && expanded > w.lim.MaxRatio*w.total {
		return ratioError("the distribution", expanded, w.total, w.lim.MaxRatio)
	}
	if compressed >= 0 && size > RatioFloor && size > w.lim.MaxRatio*compressed {
		return ratioError(path, size, compressed, w.lim.MaxRatio)
	}
	w.expanded = expanded
	return nil
}

// buffer returns the reusable buffer of depth, sized n. Buffers of a
// shallower depth stay alive while a nested archive is walked.
func (w *walker) buffer(depth int, n int64) ([]byte, error) {
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, nil)
		w.large = append(w.large, largeBuffer{})
	}
	w.releaseLarge(depth) // the previous file of this depth is done
	b := w.bufs[depth]
	if int64(cap(b)) >= n {
		return b[:n], nil
	}
	if n <= retainedBuffer {
		b = make([]byte, n)
		w.bufs[depth] = b
		return b, nil
	}
	// One huge file should not pin its size for the rest of the walk, nor
	// linger on the heap until a collection: it is mapped outside the heap
	// and unmapped when the next file of its depth starts or the walk ends.
	lb := &w.large[depth]
	if err := w.take(lb, n); err != nil {
		return nil, err
	}
	var err error
	if lb.buf, err = membuf.Alloc(int(n)); err == nil {
		lb.mapped = true
	} else {
		lb.buf = make([]byte, n) // the heap may still have room
	}
	return lb.buf, nil
}

// take counts a large buffer of n bytes against the budget, waiting on a
// BufferBudget when the walk holds none of it (see there).
func (w *walker) take(lb *largeBuffer, n int64) error {
	if w.budget == nil {
		return nil
	}
	if bb, ok := w.budget.(*BufferBudget); ok && !w.holdsBudget() {
		take := min(n, bb.size)
		if !bb.sem.TryAcquire(take) {
			if bb.waiting != nil {
				bb.waiting()
			}
			if err := bb.sem.Acquire(w.ctx, take); err != nil {
				return err
			}
		}
		lb.held = n
		return nil
	}
	if w.budget.TryAcquire(n) {
		lb.held = n
	}
	return nil
}

// holdsBudget reports whether a file of this walk holds budget.
func (w *walker) holdsBudget() bool {
	for _, lb := range w.large {
		if lb.held > 0 {
			return true
		}
	}
	return false
}

// largeBuffer is a file buffer of more than retainedBuffer bytes.
type largeBuffer struct {
	buf    []byte
	mapped bool  // buf is from membuf.Alloc, not the heap (mapping failed)
	held   int64 // bytes taken from the budget for it
}

// releaseLarge frees the large buffer of depth and returns it to the
// budget. Nothing may use the buffer afterwards: the visitor is done with
// the file (Visitor's contract) and nested walks of it have ended.
func (w *walker) releaseLarge(depth int) {
	if depth >= len(w.large) {
		return
	}
	lb := &w.large[depth]
	if lb.held > 0 {
		w.budget.Release(lb.held)
	}
	if lb.mapped {
		membuf.Free(lb.buf)
	}
	*lb = largeBuffer{}
}

func (w *walker) releaseAll() {
	for d := range w.large {
		w.releaseLarge(d)
	}
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

// file visits one file's content and, when it is a nested archive, walks
// into it. A nested archive that fails to open is a note; budgets, depth
// and failures of the visitor fail the distribution.
func (w *walker) file(path string, data []byte, depth int, member *memberKey) error {
	f := &File{Path: path, Data: data, Depth: depth, member: member}
	var err error
	if f.Archive, err = w.nestedArchive(data, path); err != nil {
		return err
	}
	if f.Archive && depth+1 > w.lim.MaxDepth {
		return tooLarge("nesting depth of "+display(path)+":", int64(depth+1), int64(w.lim.MaxDepth))
	}
	if err := w.visit(f); err != nil {
		return err
	}
	if !f.Archive {
		return nil
	}
	err = w.walkNested(data, path+"/", depth+1)
	if c := Class(err); c == ErrMalformed || c == ErrUnsupported {
		w.notes = append(w.notes, Note{Path: display(path), Reason: err.Error()})
		return nil
	}
	return err
}

// DisplayName returns name as it is when it is printable UTF-8, and quoted
// with Go escapes otherwise, so that hostile bytes in a file name can
// neither vanish in a report nor forge one.
func DisplayName(name string) string {
	if utf8.ValidString(name) && !strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return name
	}
	return strconv.Quote(name)
}

func display(name string) string { return DisplayName(name) }
