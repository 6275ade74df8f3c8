package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/membuf"
)

func newTestDownloader(max int64) *Downloader {
	return NewDownloader(DownloadOptions{MaxBytes: max, UserAgent: "ua/1", Backoff: fastBackoff})
}

func TestDownloadStatuses(t *testing.T) {
	ok := reply{status: 200, body: "PK\x03\x04data"}
	tests := []struct {
		name          string
		replies       []reply
		wantRequests  int
		wantErr       string
		wantTransient bool
	}{
		{"200", []reply{ok}, 1, "", false},
		{"404 final", []reply{{status: 404, body: "<html>not found</html>"}}, 1, "download failed: HTTP 404 ", false},
		{"403 final", []reply{{status: 403}}, 1, "download failed: HTTP 403 ", false},
		{"410 final", []reply{{status: 410}}, 1, "download failed: HTTP 410 ", false},
		{"5xx retried", []reply{{status: 500}, {status: 503}, ok}, 3, "", false},
		{"408 and 429 retried", []reply{{status: 408}, {status: 429}, ok}, 3, "", false},
		{"dropped connection retried", []reply{{drop: true}, ok}, 2, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{replies: tt.replies}
			srv := httptest.NewServer(s)
			defer srv.Close()
			data, err := newTestDownloader(1000).Fetch(context.Background(), srv.URL+"/packages/x-1.0.tar.gz?sig=s3cret#frag")
			if s.count() != tt.wantRequests {
				t.Fatalf("%d requests, want %d", s.count(), tt.wantRequests)
			}
			if tt.wantErr == "" {
				if err != nil || string(data) != "PK\x03\x04data" {
					t.Fatalf("data %q, err %v", data, err)
				}
				return
			}
			var de *DownloadError
			if !errors.As(err, &de) || de.Transient != tt.wantTransient || !errors.Is(err, failure.ErrDownloadFailed) || failure.Class(err) != failure.ErrDownloadFailed {
				t.Fatalf("err %#v", err)
			}
			if want := tt.wantErr + srv.URL + "/packages/x-1.0.tar.gz"; err.Error() != want {
				t.Fatalf("err %q, want %q", err, want)
			}
		})
	}
}

func TestDownloadTransientUntilTheDeadline(t *testing.T) {
	s := &scripted{replies: []reply{{status: 503}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	d := newTestDownloader(1000)
	var n atomic.Int32
	d.log = hookLogger(func() {
		if n.Add(1) == 2 {
			cancel()
		}
	})
	_, err := d.Fetch(ctx, srv.URL+"/x.whl")
	var de *DownloadError
	if !errors.As(err, &de) || !de.Transient || de.Status != 503 || s.count() < 2 {
		t.Fatalf("err %v after %d requests", err, s.count())
	}
}

func TestDownloadSizeLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/declared":
			w.Header().Set("Content-Length", "1000000")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the body never comes: the client must not wait for it
		case "/chunked":
			for range 20 {
				w.Write(bytes.Repeat([]byte("x"), 100))
				w.(http.Flusher).Flush()
			}
		case "/exact":
			w.Write(bytes.Repeat([]byte("x"), 1000))
		}
	}))
	defer srv.Close()
	d := newTestDownloader(1000)
	for _, path := range []string{"/declared", "/chunked"} {
		_, err := d.Fetch(context.Background(), srv.URL+path)
		if !errors.Is(err, failure.ErrTooLarge) || !strings.Contains(err.Error(), "> limit 1000") {
			t.Errorf("%s: err %v", path, err)
		}
	}
	if data, err := d.Fetch(context.Background(), srv.URL+"/exact"); err != nil || len(data) != 1000 {
		t.Errorf("exactly the limit: %d bytes, %v", len(data), err)
	}
}

func TestDownloadTruncatedBodyIsTransient(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, buf, _ := w.(http.Hijacker).Hijack()
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part")
			buf.Flush()
			conn.Close()
			return
		}
		io.WriteString(w, "whole")
	}))
	defer srv.Close()
	data, err := newTestDownloader(1000).Fetch(context.Background(), srv.URL+"/x.whl")
	if err != nil || string(data) != "whole" || n.Load() != 2 {
		t.Fatalf("%q %v after %d", data, err, n.Load())
	}
}

func TestDownloadTakesBytesAsStored(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("tar bytes"))
	zw.Close()
	var acceptEncoding atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acceptEncoding.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(gz.Len()))
		w.Write(gz.Bytes())
	}))
	defer srv.Close()
	data, err := newTestDownloader(1000).Fetch(context.Background(), srv.URL+"/x.tar.gz")
	if err != nil || !bytes.Equal(data, gz.Bytes()) || acceptEncoding.Load() != "" {
		t.Fatalf("data %q err %v Accept-Encoding %q", data, err, acceptEncoding.Load())
	}
}

func TestDownloadRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from another host")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
		switch {
		case r.URL.Path == "/ftp":
			http.Redirect(w, r, "ftp://example.invalid/x.whl", http.StatusFound)
		case n > 0:
			http.Redirect(w, r, "/hop/"+strconv.Itoa(n-1), http.StatusFound)
		default:
			http.Redirect(w, r, other.URL+"/x.whl", http.StatusMovedPermanently)
		}
	}))
	defer srv.Close()
	d := newTestDownloader(1000)
	if data, err := d.Fetch(context.Background(), srv.URL+"/hop/4"); err != nil || string(data) != "from another host" {
		t.Fatalf("5 redirects: %q %v", data, err)
	}
	for _, path := range []string{"/hop/5", "/ftp"} {
		_, err := d.Fetch(context.Background(), srv.URL+path)
		var de *DownloadError
		if !errors.As(err, &de) || de.Transient || !strings.Contains(err.Error(), "redirect") {
			t.Fatalf("%s: %v", path, err)
		}
	}
}

func TestDownloadRefusesOtherSchemes(t *testing.T) {
	for _, u := range []string{"ftp://x/y.whl", "file:///etc/passwd", "::", "https://"} {
		_, err := newTestDownloader(10).Fetch(context.Background(), u)
		var de *DownloadError
		if !errors.As(err, &de) || de.Transient {
			t.Errorf("%q: %v", u, err)
		}
	}
}

func TestProxyFromTheEnvironment(t *testing.T) {
	var proxied atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Store(r.URL.String()) // a forward proxy sees the absolute URL
		io.WriteString(w, "via proxy")
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	data, err := newTestDownloader(100).Fetch(context.Background(), "http://files.example.invalid/p/x.whl")
	if err != nil || string(data) != "via proxy" || proxied.Load() != "http://files.example.invalid/p/x.whl" {
		t.Fatalf("%q %v via %v", data, err, proxied.Load())
	}
}

// A body of a declared length from membuf.Threshold on is mapped outside
// the heap and freed by Body.Free; one that does not arrive whole, in any
// attempt, is freed at once.
func TestDownloadMapsLargeBodies(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), membuf.Threshold/16+1)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/small":
			io.WriteString(w, "PK\x03\x04 small")
		case r.URL.Path == "/chunked":
			w.Write(big[:100])
			w.(http.Flusher).Flush() // no Content-Length: read on the heap
			w.Write(big[100:])
		case n.Add(1) <= 2:
			// Two attempts cut short, then the whole body.
			conn, buf, _ := w.(http.Hijacker).Hijack()
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(big))
			buf.Write(big[:len(big)/2])
			buf.Flush()
			conn.Close()
		default:
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		}
	}))
	defer srv.Close()
	d := newTestDownloader(int64(2 * len(big)))
	var live, allocs atomic.Int64
	d.alloc = func(size int) ([]byte, error) {
		live.Add(1)
		allocs.Add(1)
		return membuf.Alloc(size)
	}
	d.release = func(b []byte) {
		live.Add(-1)
		membuf.Free(b)
	}
	body, err := d.Download(context.Background(), srv.URL+"/big.whl")
	if err != nil || !bytes.Equal(body.Data, big) || n.Load() != 3 {
		t.Fatalf("%d bytes, %v, after %d attempts", len(body.Data), err, n.Load())
	}
	if allocs.Load() != 3 || live.Load() != 1 {
		t.Errorf("%d mapped, %d live with the body held: the cut attempts' buffers leaked", allocs.Load(), live.Load())
	}
	body.Free()
	body.Free()
	if live.Load() != 0 || body.Data != nil {
		t.Errorf("%d live after Free", live.Load())
	}
	for _, path := range []string{"/small", "/chunked"} {
		body, err := d.Download(context.Background(), srv.URL+path)
		if err != nil || len(body.Data) == 0 {
			t.Fatalf("%s: %v", path, err)
		}
		body.Free()
	}
	if allocs.Load() != 3 || live.Load() != 0 {
		t.Errorf("small or chunked bodies were mapped: %d mapped, %d live", allocs.Load(), live.Load())
	}
}

// Downloads running side by side keep their connections for the next
// ones: Go's default of two idle connections per host would close the
// others after every round and open new ones (each a TLS handshake in
// production).
func TestConcurrentDownloadsReuseConnections(t *testing.T) {
	const parallel, rounds = 6, 3
	var conns atomic.Int32
	var mu sync.Mutex
	arrived, gate := 0, make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hold every request until the whole round is in flight, so that
		// the round needs parallel connections at once.
		mu.Lock()
		g := gate
		if arrived++; arrived%parallel == 0 {
			close(gate)
			gate = make(chan struct{})
		}
		mu.Unlock()
		<-g
		io.WriteString(w, "PK\x03\x04")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	d := newTestDownloader(100)
	for range rounds {
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(func() {
				if _, err := d.Fetch(context.Background(), srv.URL+"/p.whl"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := conns.Load(); n != parallel {
		t.Errorf("%d rounds of %d downloads opened %d connections, want %d", rounds, parallel, n, parallel)
	}
}
