package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/membuf"
)

// maxRedirects is how many redirects a download follows (docs/contract.md
// § Downloading distributions).
const maxRedirects = 5

// errBadRedirect is a redirect the downloader refuses to follow.
var errBadRedirect = errors.New("redirect refused")

// DownloadError is a distribution that could not be fetched. Its message
// reads "download failed: HTTP 404 <url without query string>", the reason
// the mainframe stores. Transient says whether another worker might succeed
// (408, 429, 5xx, network), which decides between abandoning a job and
// failing it.
type DownloadError struct {
	URL       string // without userinfo, query or fragment
	Status    int    // 0 for a network error
	Transient bool
	Err       error // the network error, when Status is 0
}

func (e *DownloadError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%v: HTTP %d %s", failure.ErrDownloadFailed, e.Status, e.URL)
	}
	return fmt.Sprintf("%v: %s: %v", failure.ErrDownloadFailed, e.URL, e.Err)
}

// Is makes a DownloadError of failure class failure.ErrDownloadFailed.
func (e *DownloadError) Is(target error) bool { return target == failure.ErrDownloadFailed }

func (e *DownloadError) Unwrap() error { return e.Err }

// Downloader fetches distributions into memory. It carries no credentials:
// distributions live on other hosts than the mainframe.
type Downloader struct {
	http     *http.Client
	ua       string
	maxBytes int64
	backoff  Backoff
	log      *zap.Logger
	// mapping of large bodies: membuf's, or a test's that counts
	alloc   func(n int) ([]byte, error)
	release func([]byte)
}

// DownloadOptions configure a Downloader.
type DownloadOptions struct {
	MaxBytes  int64             // DRAGONFLY_MAX_SCAN_SIZE
	UserAgent string            // see UserAgent
	Transport http.RoundTripper // nil: NewTransport()
	Backoff   Backoff           // zero: DefaultBackoff
	Logger    *zap.Logger
}

// NewDownloader builds a downloader that refuses anything over MaxBytes.
func NewDownloader(o DownloadOptions) *Downloader {
	if o.Transport == nil {
		o.Transport = NewTransport()
	}
	if o.Backoff == (Backoff{}) {
		o.Backoff = DefaultBackoff
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Downloader{
		http: &http.Client{Transport: o.Transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d", errBadRedirect, maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: to a %q URL", errBadRedirect, req.URL.Scheme)
			}
			return nil
		}},
		ua:       o.UserAgent,
		maxBytes: o.MaxBytes,
		backoff:  o.Backoff,
		log:      o.Logger,
		alloc:    membuf.Alloc,
		release:  membuf.Free,
	}
}

// Body is a downloaded file. Its bytes may be mapped outside the Go heap
// (internal/membuf): Free returns them to the kernel at once, and Data must not
// be used afterwards. Free is idempotent.
type Body struct {
	Data []byte
	free func()
}

// NewBody is a body whose memory free releases, for Fetchers that wrap or
// stand in for a Downloader.
func NewBody(data []byte, free func()) Body { return Body{Data: data, free: free} }

// Free releases the body's memory.
func (b *Body) Free() {
	if b.free != nil {
		b.free()
		b.free = nil
	}
	b.Data = nil
}

// Download is Fetch into memory outside the Go heap when the server declares
// the length (PyPI always does) and it is at least membuf.Threshold: the
// daemon holds its downloads for as long as it matches them, and on the
// heap each would be faulted in and zeroed anew after every collection,
// and count twice towards the peak under GOGC. The caller must Free the
// body on every path.
func (d *Downloader) Download(ctx context.Context, rawURL string) (Body, error) {
	var b Body
	data, err := d.fetch(ctx, rawURL, true, &b)
	b.Data = data
	return b, err
}

// Fetch downloads rawURL whole. A 4xx other than 408 and 429 is final at
// once; transient failures are retried with backoff until ctx ends, and the
// last one is returned with Transient set. A body over MaxBytes fails as
// failure.ErrTooLarge, before reading when Content-Length declares it.
func (d *Downloader) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	return d.fetch(ctx, rawURL, false, nil)
}

// fetch is Fetch; with mapped, the bytes of a declared length of at least
// membuf.Threshold are mapped, and body receives their release.
func (d *Downloader) fetch(ctx context.Context, rawURL string, mapped bool, body *Body) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &DownloadError{URL: SafeURL(rawURL), Err: errors.New("not an http(s) URL")}
	}
	bo := d.backoff.NewBackOff()
	for attempt := 1; ; attempt++ {
		data, wait, err := d.once(ctx, u, mapped, body)
		var de *DownloadError
		if err == nil || !errors.As(err, &de) || !de.Transient {
			return data, err
		}
		if ctx.Err() != nil {
			return nil, err
		}
		wait = max(wait, bo.NextBackOff())
		d.log.Warn("download failed; retrying", zap.String("url", de.URL), zap.Int("attempt", attempt),
			zap.Duration("wait", wait), zap.Error(err))
		if Sleep(ctx, wait) != nil {
			return nil, err
		}
	}
}

func (d *Downloader) once(ctx context.Context, u *url.URL, mapped bool, body *Body) ([]byte, time.Duration, error) {
	shown := SafeURL(u.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, &DownloadError{URL: shown, Err: err}
	}
	if d.ua != "" {
		req.Header.Set("User-Agent", d.ua)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		// A refused redirect is the server's doing and would recur.
		return nil, 0, &DownloadError{URL: shown, Transient: !errors.Is(err, errBadRedirect), Err: redactURLError(err)}
	}
	defer resp.Body.Close()
	if s := resp.StatusCode; s/100 != 2 {
		transient := s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused; never parsed
		return nil, retryAfter(resp.Header, time.Now()), &DownloadError{URL: shown, Status: s, Transient: transient}
	}
	if resp.ContentLength > d.maxBytes {
		return nil, 0, failure.ArchiveTooLarge(resp.ContentLength, d.maxBytes)
	}
	if mapped && resp.ContentLength >= membuf.Threshold {
		return d.readMapped(resp, shown, body)
	}
	var buf bytes.Buffer
	if resp.ContentLength >= 0 {
		// One allocation when the length is declared; MinRead spare lets
		// ReadFrom see EOF (or a longer body) without growing.
		buf.Grow(int(resp.ContentLength) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, d.maxBytes+1))
	if err != nil {
		return nil, 0, &DownloadError{URL: shown, Transient: true, Err: redactURLError(err)}
	}
	if n > d.maxBytes {
		return nil, 0, failure.ArchiveTooLarge(n, d.maxBytes)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return nil, 0, &DownloadError{URL: shown, Transient: true,
			Err: fmt.Errorf("got %d bytes of a declared %d", n, resp.ContentLength)}
	}
	return buf.Bytes(), 0, nil
}

// readMapped reads a body of declared length into a mapped buffer, which
// it frees unless the whole body arrived.
func (d *Downloader) readMapped(resp *http.Response, shown string, body *Body) ([]byte, time.Duration, error) {
	buf, err := d.alloc(int(resp.ContentLength))
	if err != nil {
		return nil, 0, &DownloadError{URL: shown, Transient: true, Err: err}
	}
	// net/http ends the body at the declared length, and reports a
	// shorter one as io.ErrUnexpectedEOF.
	if n, err := io.ReadFull(resp.Body, buf); err != nil {
		d.release(buf)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("got %d bytes of a declared %d", n, resp.ContentLength)
		}
		return nil, 0, &DownloadError{URL: shown, Transient: true, Err: redactURLError(err)}
	}
	body.free = func() { d.release(buf) }
	return buf, 0, nil
}

// SafeURL drops userinfo, query and fragment, which may hold a signature
// or a password, before a URL reaches a log or a reason.
func SafeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = nil, "", "", "", false
	return u.String()
}
