package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/redact"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpproxy"
)

// Config is what the mainframe client needs from the environment.
type Config struct {
	BaseURL  string `env:"DRAGONFLY_BASE_URL" envDefault:"https://dragonfly.vipyrsec.com" doc:"the mainframe's base URL (a trailing slash is fine)"`
	WorkerID string `env:"DRAGONFLY_WORKER_ID" doc:"names this worker in logs and the User-Agent (default: the host name)"`
	// CallTimeout bounds one HTTP attempt of a mainframe call, body included.
	CallTimeout time.Duration `env:"DRAGONFLY_CALL_TIMEOUT" envDefault:"30s" doc:"time limit of one HTTP attempt to the mainframe"`
}

// Authenticator puts credentials on mainframe calls; auth.Credentials is one.
type Authenticator interface {
	Transport(base http.RoundTripper) http.RoundTripper
}

// Options are the parts of a Client that tests and the daemon choose.
type Options struct {
	Version   string            // the client's version, for the User-Agent
	Logger    *zap.Logger       // nil: no logs
	Transport http.RoundTripper // nil: a transport with the environment's proxies
	Backoff   Backoff           // zero: DefaultBackoff
	// MaxAttempts ends a call after this many attempts even if its context
	// has time left; 0 means until the context ends. A one-off check wants
	// an answer soon; the daemon wants its lease's worth of retries.
	MaxAttempts int
}

// Client makes the worker's calls to the mainframe. It is safe for
// concurrent use.
type Client struct {
	base        *url.URL
	http        *http.Client
	ua          string
	timeout     time.Duration
	backoff     Backoff
	maxAttempts int
	log         *zap.Logger
}

// New checks cfg and builds a client whose calls carry auth's credentials.
func New(cfg Config, auth Authenticator, opts Options) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.RawQuery != "" {
		return nil, fmt.Errorf("DRAGONFLY_BASE_URL must be an http(s) URL such as https://dragonfly.vipyrsec.com, got %q", cfg.BaseURL)
	}
	if base.User != nil {
		return nil, errors.New("DRAGONFLY_BASE_URL must not hold credentials; use the DRAGONFLY_* credential variables")
	}
	if cfg.CallTimeout <= 0 {
		return nil, errors.New("DRAGONFLY_CALL_TIMEOUT must be positive")
	}
	rt := opts.Transport
	if rt == nil {
		rt = NewTransport()
	}
	if auth != nil {
		rt = auth.Transport(rt)
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = DefaultBackoff
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Client{
		base: base,
		http: &http.Client{
			Transport: rt,
			// A redirect from the mainframe is either a trailing-slash
			// mistake or the Cloudflare edge asking for a login: never
			// something to follow with credentials attached.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ua:          UserAgent(opts.Version, cfg.WorkerID),
		timeout:     cfg.CallTimeout,
		backoff:     opts.Backoff,
		maxAttempts: opts.MaxAttempts,
		log:         opts.Logger,
	}, nil
}

// maxIdleConnsPerHost is above any concurrency a worker is configured
// with in practice; idle connections still close after IdleConnTimeout.
const maxIdleConnsPerHost = 64

// NewTransport is the transport of both the mainframe client and the
// downloader: the environment's proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY,
// read now rather than once per process as net/http does), bounded waits
// for a server to answer, and bytes as stored (no transparent
// decompression).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	t.Proxy = func(req *http.Request) (*url.URL, error) { return proxy(req.URL) }
	t.DisableCompression = true
	t.ResponseHeaderTimeout = 60 * time.Second
	// Go keeps 2 idle connections per host by default. A worker talks to
	// one mainframe and one file host with several requests at once
	// (DRAGONFLY_DOWNLOAD_CONCURRENCY, DRAGONFLY_MAX_JOBS), so every other
	// request would close its connection and the next would open a new one,
	// with a TLS handshake in production.
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return t
}

// UserAgent names the client, its version and the worker, so that the
// mainframe's operators can tell workers apart.
func UserAgent(version, workerID string) string {
	if version == "" {
		version = "dev"
	}
	if workerID == "" {
		workerID, _ = os.Hostname()
	}
	clean := strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '(' || r == ')' {
			return '_'
		}
		return r
	}, workerID)
	return "dragonfly-client-go/" + version + " (worker " + clean + ")"
}

// Root calls GET /, the mainframe's liveness check (no credentials needed,
// but sending them does no harm).
func (c *Client) Root(ctx context.Context) (ServerInfo, error) {
	var info ServerInfo
	_, err := c.call(ctx, http.MethodGet, "/", nil, &info)
	return info, err
}

// Rules fetches the mainframe's rule set, retrying transient failures until
// ctx ends.
func (c *Client) Rules(ctx context.Context) (Rules, error) {
	var r Rules
	if _, err := c.call(ctx, http.MethodGet, "/rules", nil, &r); err != nil {
		return Rules{}, err
	}
	if r.Hash == "" || len(r.Rules) == 0 {
		return Rules{}, errors.New("GET /rules: the answer has no hash or no rules")
	}
	return r, nil
}

// Lease asks once for at most n jobs (n ≥ 1). An empty list means nothing
// is queued. Jobs without a name or version cannot be answered and are
// logged and dropped.
//
// Unlike the other calls, Lease makes a single attempt: the daemon's lease
// loop owns the retries, because at a shutdown signal it must send no new
// request while letting one already sent complete (cancelling it could
// strand jobs the server handed out). A transient StatusError carries the
// server's Retry-After.
func (c *Client) Lease(ctx context.Context, n int) ([]Job, error) {
	if n < 1 {
		return nil, fmt.Errorf("lease: batch %d, must be at least 1", n)
	}
	var jobs []Job
	var st callState
	wait, err := c.attempt(ctx, http.MethodPost, "/jobs?batch="+strconv.Itoa(n), nil, &jobs, &st)
	var se *StatusError
	if errors.As(err, &se) {
		se.RetryAfter = wait
	}
	if err != nil {
		return nil, err
	}
	kept := jobs[:0]
	for _, j := range jobs {
		if j.Name == "" || j.Version == "" {
			c.log.Error("mainframe sent a job without name or version; it cannot be answered",
				zap.String("name", j.Name), zap.String("version", j.Version))
			continue
		}
		kept = append(kept, j)
	}
	return kept, nil
}

// Delivery says how a result reached the mainframe.
type Delivery struct {
	Attempts int
	// AlreadyStored is set when an attempt got no response and a later one
	// was told the job is already finished: the first attempt was stored.
	AlreadyStored bool
}

// Submit puts one result, retrying transient failures until ctx ends (give
// it the lease's deadline). A final rejection (404, 409, 422) is an error
// matching ErrRejected and is never retried; a 422 is a client bug, so its
// body is logged.
func (c *Client) Submit(ctx context.Context, r Result) (Delivery, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return Delivery{}, err
	}
	st, err := c.call(ctx, http.MethodPut, "/package", body, nil)
	d := Delivery{Attempts: st.attempts}
	var se *StatusError
	if errors.As(err, &se) {
		switch {
		case se.Status == http.StatusConflict && st.unanswered && alreadyFinished(se.Detail):
			d.AlreadyStored = true
			return d, nil
		case se.Status == http.StatusUnprocessableEntity:
			c.log.Error("the mainframe refused a result body; this is a client bug",
				zap.ByteString("body", body), zap.String("detail", se.Detail))
		}
	}
	return d, err
}

// alreadyFinished recognises the server's "already in a FINISHED state" (and
// its variants for failed jobs), as opposed to a lost lease.
func alreadyFinished(detail string) bool {
	return strings.Contains(strings.ToLower(detail), "already")
}

// callState is what the retry loop learnt about a call.
type callState struct {
	attempts   int
	unanswered bool // some attempt may have reached the server unanswered
}

// call runs one mainframe call with the status table of docs/contract.md
// § Status handling and retries: success
// decodes into out; a final status returns a StatusError at once; anything
// transient is retried with backoff (or the server's Retry-After) until ctx
// ends, and then the last error is returned.
func (c *Client) call(ctx context.Context, method, path string, body []byte, out any) (callState, error) {
	var st callState
	bo := c.backoff.NewBackOff()
	for {
		st.attempts++
		wait, err := c.attempt(ctx, method, path, body, out, &st)
		if err == nil {
			return st, nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Final {
			return st, err
		}
		if ctx.Err() != nil {
			return st, fmt.Errorf("%w (gave up after %d attempts: %w)", err, st.attempts, ctx.Err())
		}
		if c.maxAttempts > 0 && st.attempts >= c.maxAttempts {
			return st, fmt.Errorf("%w (gave up after %d attempts)", err, st.attempts)
		}
		wait = max(wait, bo.NextBackOff())
		c.log.Warn("mainframe call failed; retrying", zap.String("call", method+" "+redact.Query(path)),
			zap.Int("attempt", st.attempts), zap.Duration("wait", wait), zap.Error(err))
		if serr := Sleep(ctx, wait); serr != nil {
			return st, fmt.Errorf("%w (gave up after %d attempts: %w)", err, st.attempts, serr)
		}
	}
}

// maxBody bounds what is read of a mainframe answer; a rule set is the
// largest and stays well under it.
const maxBody = 64 << 20

// attempt makes one HTTP request. It returns the server's Retry-After with
// a transient error.
func (c *Client) attempt(ctx context.Context, method, path string, body []byte, out any, st *callState) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return 0, &StatusError{Method: method, Path: redact.Query(path), Detail: err.Error(), Final: true}
	}
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The request may have reached the server; only a body-less call
		// that failed before sending is known not to have.
		st.unanswered = true
		return 0, fmt.Errorf("%s %s: %w", method, redact.Query(path), redactURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err == nil && len(data) > maxBody {
		err = fmt.Errorf("answer over %d bytes", maxBody)
	}
	if resp.StatusCode/100 == 2 {
		if err != nil {
			st.unanswered = true
			return 0, fmt.Errorf("%s %s: reading the answer: %w", method, redact.Query(path), err)
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				// A body that does not decode is a proxy's page or a broken
				// answer: transient, like a 5xx.
				return 0, fmt.Errorf("%s %s: HTTP %d with an answer that is not the expected JSON: %w", method, redact.Query(path), resp.StatusCode, err)
			}
		}
		return 0, nil
	}
	se := &StatusError{Method: method, Path: redact.Query(path), Status: resp.StatusCode, Detail: detailOf(data)}
	switch s := resp.StatusCode; {
	case s >= 300 && s < 400:
		// The edge's login redirect (auth renewed once already) is
		// transient; a redirect on the same host is a client mistake.
		loc, _ := resp.Location()
		se.Final = loc == nil || loc.Host == req.URL.Host
		if loc != nil {
			se.Detail = "redirected to " + loc.Host
		}
	case s >= 500:
		// A gateway's 5xx may hide an origin that stored the body.
		st.unanswered = true
	case s == 401, s == 403, s == 408, s == 429:
		// Credentials (renewed once by the auth transport already) or
		// the server: back off and try again.
	default:
		se.Final = true // 400, 404, 405, 409, 422, ...
	}
	return retryAfter(resp.Header, time.Now()), se
}

// redactURLError keeps a url.Error's cause but drops its URL, which for a
// download may carry a signed query string.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
