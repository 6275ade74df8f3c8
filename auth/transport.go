package auth

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// unverifiable is what the 2023 mainframe answers, with a 500, to a token
// signed by a key it does not know (Auth0 rotated its keys): a rejection.
const unverifiable = "Unable to verify credentials"

// sniffLimit bounds how much of a 500's body is read to look for
// unverifiable; the body is handed back whole.
const sniffLimit = 4 << 10

// discardLimit bounds how much of a discarded body is drained so that its
// connection can be reused.
const discardLimit = 64 << 10

// transport is Credentials.Transport's RoundTripper. It never modifies the
// caller's request: each attempt is a clone.
type transport struct {
	c    *creds
	base http.RoundTripper
}

// CloseIdleConnections passes through to the base transport, so that
// http.Client.CloseIdleConnections still reaches it through the wrapper.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// outcome is what a call taught about the credentials.
type outcome int

const (
	unknown  outcome = iota // no answer, or a rejection no renewal was tried for
	accepted                // any answer that is not a rejection
	rejected                // rejected, and renewing (where possible) did not help
)

// RoundTrip waits at the gate, sends the call with the credential, and on a
// rejection of a renewable credential invalidates it and resends once.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	tk, err := t.c.gate.enter(req.Context())
	if err != nil {
		closeBody(req.Body)
		return nil, fmt.Errorf("auth: waiting after the mainframe rejected the credentials: %w", err)
	}
	resp, out, err := t.roundTrip(req)
	switch out {
	case unknown:
		t.c.gate.release(tk)
	case rejected:
		if wait, first := t.c.gate.reject(tk); first {
			t.c.ready.Store(false)
			t.c.warnRejected(resp.StatusCode, wait)
		}
	case accepted:
		if t.c.gate.accept(tk) {
			t.c.ready.Store(true)
		}
	}
	return resp, err
}

func (t *transport) roundTrip(req *http.Request) (*http.Response, outcome, error) {
	resp, used, out, err := t.send(req, req.Body)
	if err != nil || out != rejected || !t.c.scheme.renewable() {
		return resp, out, err
	}
	t.c.scheme.invalidate(used)
	body, ok := replayBody(req)
	if !ok {
		// The body is spent and cannot be had again: hand the rejection
		// back. The credential is renewed for the caller's own retry, so
		// this says nothing yet about whether renewing helps.
		return resp, unknown, nil
	}
	discard(resp)
	resp, _, out, err = t.send(req, body)
	if out == rejected && t.c.kind == Cloudflare {
		// Dropping the cookie is Cloudflare's renewal; the service token
		// itself is what was rejected now.
		t.c.renewed(false)
	}
	return resp, out, err
}

// send makes one attempt with body and classifies the answer.
func (t *transport) send(req *http.Request, body io.ReadCloser) (*http.Response, any, outcome, error) {
	out := req.Clone(req.Context())
	out.Body = body
	used, err := t.c.scheme.authorize(req.Context(), out)
	if err != nil {
		closeBody(body)
		return nil, nil, unknown, err
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		return nil, nil, unknown, err
	}
	t.c.scheme.observe(resp)
	if isRejection(out, resp) {
		return resp, used, rejected, nil
	}
	return resp, used, accepted, nil
}

// replayBody returns a fresh copy of req's body for a resend; ok is false
// when the body cannot be had again.
func replayBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	return b, true
}

// isRejection reports whether resp says the credentials were not accepted:
// 401, 403, a redirect to another host (the Cloudflare edge sends its login
// page), or the 2023 server's 500 "Unable to verify credentials". A 500's
// body is read (bounded) and put back for the caller.
func isRejection(req *http.Request, resp *http.Response) bool {
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return true
	case code >= 300 && code < 400:
		loc := resp.Header.Get("Location")
		if loc == "" {
			return false
		}
		u, err := req.URL.Parse(loc)
		if err != nil {
			return false
		}
		return hostPort(u) != hostPort(req.URL)
	case code == http.StatusInternalServerError:
		return sniff(resp, unverifiable)
	}
	return false
}

// hostPort is u's host, lowercased, with the scheme's default port made
// explicit, so that example.com and example.com:443 compare equal.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// sniff reports whether the first sniffLimit bytes of resp's body contain
// s, and restores the body so the caller reads it whole.
func sniff(resp *http.Response, s string) bool {
	if resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, sniffLimit))
	var rest io.Reader = resp.Body
	if err != nil {
		rest = errReader{err}
	}
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), rest), resp.Body}
	return bytes.Contains(head, []byte(s))
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// discard drains (bounded) and closes a response nobody will read.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, discardLimit))
	_ = resp.Body.Close()
}

func closeBody(b io.ReadCloser) {
	if b != nil {
		_ = b.Close()
	}
}
