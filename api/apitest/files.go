package apitest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Distribution files are served by the mainframe's own test server so that
// a whole worker runs on one loopback host. They need no credentials (a
// worker must never send its mainframe credentials to a file host; tests
// can check that in Requests), and they are never compressed in transfer.

const (
	filesPrefix    = "/files/"
	redirectPrefix = "/redirect/"
)

// FileOptions shape how a file is served, to test a downloader's limits.
// Bursts of errors on a file are injected with FailNext(FilePath(name), n,
// status), and dropped connections with DropNext.
type FileOptions struct {
	// OmitContentLength sends the body chunked, without Content-Length, so
	// the size is only known by reading.
	OmitContentLength bool
	// DeclaredLength, when non-zero, is sent as Content-Length instead of
	// the true length. A larger figure ends the body early (the client sees
	// an unexpected EOF); a smaller one cuts the body at that length.
	DeclaredLength int64
	// ContentType defaults to application/octet-stream.
	ContentType string
}

type file struct {
	data []byte
	path string // served from disk instead of data
	opts FileOptions
}

type redirectChain struct {
	target string
	hops   int
}

// AddFile serves data at /files/<name> and returns its URL. name may hold
// slashes, to mimic PyPI's paths (packages/54/1f/.../pkg-1.0.tar.gz).
func (s *Server) AddFile(name string, data []byte) string {
	return s.AddFileWith(name, data, FileOptions{})
}

// AddFileWith is AddFile with serving options.
func (s *Server) AddFileWith(name string, data []byte, opts FileOptions) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = &file{data: append([]byte(nil), data...), opts: opts}
	return s.FileURL(name)
}

// AddFileFromDisk serves the file at path as /files/<name>, read from disk
// at each request, and returns its URL. The kernel then sends the bytes
// (sendfile), so that a benchmark's server costs its worker little CPU,
// as PyPI's does.
func (s *Server) AddFileFromDisk(name, path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = &file{path: path}
	return s.FileURL(name)
}

// FilePath is the path of a file added as name, the endpoint for faults.
func FilePath(name string) string { return filesPrefix + name }

// FileURL is the URL of a file added as name (each path segment escaped).
func (s *Server) FileURL(name string) string {
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return s.URL + filesPrefix + strings.Join(segs, "/")
}

// RedirectChain returns a URL that answers hops redirects (302) in a row,
// the last one to target: RedirectChain(u, 5) must be followed, 6 must not
// ("at most 5 redirects").
func (s *Server) RedirectChain(target string, hops int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strconv.Itoa(len(s.redirects) + 1)
	s.redirects[id] = redirectChain{target: target, hops: hops}
	return fmt.Sprintf("%s%s%s/1", s.URL, redirectPrefix, id)
}

func (s *Server) serveRedirect(w http.ResponseWriter, r *http.Request) {
	id, hopStr, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, redirectPrefix), "/")
	hop, err := strconv.Atoi(hopStr)
	s.mu.Lock()
	chain, ok := s.redirects[id]
	s.mu.Unlock()
	if !ok || err != nil || hop < 1 || hop > chain.hops {
		http.NotFound(w, r)
		return
	}
	next := chain.target
	if hop < chain.hops {
		next = fmt.Sprintf("%s%s%s/%d", s.URL, redirectPrefix, id, hop+1)
	}
	http.Redirect(w, r, next, http.StatusFound)
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	f, ok := s.files[strings.TrimPrefix(r.URL.Path, filesPrefix)]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := f.opts.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if f.path != "" {
		serveFromDisk(w, r, f.path)
		return
	}
	body := f.data
	switch {
	case f.opts.OmitContentLength:
		w.WriteHeader(http.StatusOK)
		// Flushing the header before any byte makes the answer chunked.
		http.NewResponseController(w).Flush()
	case f.opts.DeclaredLength != 0:
		w.Header().Set("Content-Length", strconv.FormatInt(f.opts.DeclaredLength, 10))
		w.WriteHeader(http.StatusOK)
		body = body[:min(int64(len(body)), f.opts.DeclaredLength)]
	default:
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
	}
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// serveFromDisk answers with the file at path, through sendfile.
func serveFromDisk(w http.ResponseWriter, r *http.Request, path string) {
	fh, err := os.Open(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		io.Copy(w, fh) // *os.File to a TCP connection: sendfile
	}
}
