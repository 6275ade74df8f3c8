package apitest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
)

// download is a GET through a transport with compression on, as Go's
// default, to show the server never compresses.
func download(t *testing.T, url string) (*http.Response, []byte, error) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestAddFile(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthStatic}})
	data := bytes.Repeat([]byte("import os\n"), 1000)
	name := "packages/54/1f/requests 2.19.1+local.tar.gz"
	u := s.AddFile(name, data)
	if !strings.HasPrefix(u, s.URL+"/files/packages/54/1f/") || strings.Contains(u, " ") {
		t.Errorf("URL %q", u)
	}

	resp, got, err := download(t, u+"?token=abc")
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("download: %v %v", resp, err)
	}
	if resp.ContentLength != int64(len(data)) || resp.Header.Get("Content-Encoding") != "" || resp.Uncompressed {
		t.Errorf("ContentLength %d, Content-Encoding %q, Uncompressed %v", resp.ContentLength, resp.Header.Get("Content-Encoding"), resp.Uncompressed)
	}
	// No credentials needed, and none seen.
	r := s.RequestsTo(apitest.EndpointFiles)[0]
	if r.Header.Get("Authorization") != "" || r.Identity != "" || r.Path != "/files/"+name {
		t.Errorf("recorded %+v", r)
	}

	w := newWorker(t, s)
	head := w.do(http.MethodHead, u, nil)
	if head.status != 200 || head.header.Get("Content-Length") != fmt.Sprint(len(data)) || len(head.body) != 0 {
		t.Errorf("HEAD: %v %v", head, head.header)
	}
	wantStatus(t, "unknown file", w.do(http.MethodGet, "/files/nope.tar.gz", nil), http.StatusNotFound)
	wantStatus(t, "POST", w.do(http.MethodPost, u, nil), http.StatusMethodNotAllowed)
}

func TestFileContentLengthOptions(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	data := []byte("0123456789abcdef")

	resp, got, err := download(t, s.AddFileWith("chunked", data, apitest.FileOptions{OmitContentLength: true}))
	if err != nil || !bytes.Equal(got, data) || resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 {
		t.Errorf("chunked: %v %v %q %v", err, resp.ContentLength, got, resp.TransferEncoding)
	}

	_, _, err = download(t, s.AddFileWith("short", data, apitest.FileOptions{DeclaredLength: 1000}))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("declared longer than sent: %v", err)
	}

	resp, got, err = download(t, s.AddFileWith("long", data, apitest.FileOptions{DeclaredLength: 4, ContentType: "application/x-tar"}))
	if err != nil || string(got) != "0123" || resp.ContentLength != 4 || resp.Header.Get("Content-Type") != "application/x-tar" {
		t.Errorf("declared shorter than the data: %v %q %v", err, got, resp)
	}
}

func TestRedirectChain(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	target := s.AddFile("dist.whl", []byte("wheel"))

	// A client allowing at most 5 redirects.
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, CheckRedirect: func(_ *http.Request, via []*http.Request) error {
		if len(via) > 5 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	for hops, ok := range map[int]bool{1: true, 5: true, 6: false} {
		resp, err := hc.Get(s.RedirectChain(target, hops))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "wheel" {
				err = fmt.Errorf("body %q", b)
			}
		}
		if (err == nil) != ok {
			t.Errorf("%d hops: %v", hops, err)
		}
	}
	// Every hop is a 302, recorded like any request.
	w := newWorker(t, s)
	r := w.do(http.MethodGet, s.RedirectChain(target, 2), nil)
	if r.status != http.StatusFound || !strings.HasSuffix(r.header.Get("Location"), "/2") {
		t.Errorf("first hop %v %q", r, r.header.Get("Location"))
	}
}

func TestAddFileFromDisk(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	data := bytes.Repeat([]byte("PK\x03\x04 wheel bytes "), 100_000)
	path := filepath.Join(t.TempDir(), "x.whl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	u := s.AddFileFromDisk("pkg/x-1.0-py3-none-any.whl", path)
	resp, got, err := download(t, u)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, data) || resp.ContentLength != int64(len(data)) {
		t.Fatalf("download: %v %d bytes %v", resp, len(got), err)
	}
	head := newWorker(t, s).do(http.MethodHead, u, nil)
	if head.status != 200 || head.header.Get("Content-Length") != fmt.Sprint(len(data)) || len(head.body) != 0 {
		t.Errorf("HEAD: %v %v", head, head.header)
	}
	// Served from disk at each request: a file gone is an error, not stale bytes.
	os.Remove(path)
	if resp, _, err := download(t, u); err != nil || resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("after removal: %v %v", resp, err)
	}
}
