package archive

import (
	"archive/tar"
	"errors"
	"io"
	"path"
	"strings"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
)

// walkTar reads a tar stream to its end marker (trailing bytes after it are
// ignored, as pip ignores them) and visits every entry pip would install as
// a file. Links are resolved after the last entry, since a link may name a
// file that comes later.
func (w *walker) walkTar(r io.Reader, prefix string, depth int) error {
	tr := tar.NewReader(r)
	files := map[string][]string{} // cleaned name -> the raw names of the files so named
	var links []*tar.Header
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			if failure.Class(err) != nil {
				return err
			}
			return failure.Classed(failure.ErrMalformed, "tar: %v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			continue
		case tar.TypeXGlobalHeader:
			// Metadata for the whole archive (git archive writes one);
			// tarfile reads it as such and never extracts it.
			continue
		case tar.TypeLink, tar.TypeSymlink:
			links = append(links, hdr)
			continue
		}
		// '0', '7', 'S' and any type tarfile does not know are extracted
		// by pip as regular files, so all of them are scanned.
		name := prefix + hdr.Name
		if err := w.admit(name, hdr.Size, -1); err != nil {
			return err
		}
		data, err := w.buffer(depth, hdr.Size)
		if err != nil {
			return err
		}
		if err := readExact(tr, data); err != nil {
			if failure.Class(err) != nil {
				return err
			}
			return failure.Classed(failure.ErrMalformed, "tar: reading %s: %v", DisplayName(name), err)
		}
		key := cleanName(hdr.Name)
		files[key] = append(files[key], name)
		if err := w.file(name, data, depth, nil); err != nil {
			return err
		}
	}
	return w.tarLinks(links, files, prefix, depth)
}

// tarLinks visits each link that resolves to files of the same archive
// under its own name. Links that point outside the archive are never
// followed (nothing is written to disk, so nothing can escape) and are
// noted; links to directories add no content of their own.
func (w *walker) tarLinks(links []*tar.Header, files map[string][]string, prefix string, depth int) error {
	if len(links) == 0 {
		return nil
	}
	targets := map[string]string{} // cleaned link name -> cleaned target
	for _, l := range links {
		if t, ok := linkTarget(l); ok {
			targets[cleanName(l.Name)] = t
		}
	}
	var dirs map[string]bool
	for _, l := range links {
		name := prefix + l.Name
		if err := w.admit(name, 0, -1); err != nil {
			return err
		}
		t, ok := linkTarget(l)
		for hops := 0; ok && files[t] == nil && hops < 32; hops++ {
			t, ok = targets[t]
		}
		if ok && files[t] != nil {
			if err := w.visit(&File{Path: name, Depth: depth, LinkTargets: files[t]}); err != nil {
				return err
			}
			continue
		}
		if dirs == nil {
			dirs = parentDirs(files)
		}
		if ok && dirs[t] {
			continue
		}
		w.notes = append(w.notes, Note{Path: DisplayName(name), Reason: "link to " + DisplayName(l.Linkname) + " names no file inside the archive; not followed"})
	}
	return nil
}

// linkTarget returns the archive name a link refers to, or false when it
// points outside the archive. Hard links name an archive member; symlinks
// are relative to the link's own folder.
func linkTarget(h *tar.Header) (string, bool) {
	t := h.Linkname
	if h.Typeflag == tar.TypeSymlink {
		if strings.HasPrefix(t, "/") {
			return "", false
		}
		t = path.Join(path.Dir(cleanName(h.Name)), t)
	}
	t = cleanName(t)
	if t == ".." || strings.HasPrefix(t, "../") || strings.HasPrefix(t, "/") || t == "." {
		return "", false
	}
	return t, true
}

// cleanName is the key under which a member is found by links.
func cleanName(name string) string {
	return path.Clean(strings.TrimPrefix(name, "./"))
}

func parentDirs(files map[string][]string) map[string]bool {
	dirs := map[string]bool{}
	for f := range files {
		for d := path.Dir(f); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	return dirs
}
