package api_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
	"github.com/vipyrsec/dragonfly-client-go/auth"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/verdict"
)

// These tests run the client and the credentials against the fake
// mainframe, which implements docs/contract.md independently of this package.

var quick = api.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}

// logBuffer collects every log line of a test, to search it for secrets.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) Sync() error    { return nil }
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *logBuffer) logger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, l, zap.DebugLevel))
}

// worker is a client wired as the daemon wires it.
type worker struct {
	client *api.Client
	creds  auth.Credentials
	logs   *logBuffer
}

func newWorker(t *testing.T, s *apitest.Server, environ map[string]string) worker {
	t.Helper()
	logs := &logBuffer{}
	cfg, err := auth.LoadConfig(environ)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := auth.New(cfg, auth.Options{Logger: logs.logger(), BackoffInitial: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.New(api.Config{BaseURL: s.URL + "/", WorkerID: "w1", CallTimeout: 5 * time.Second}, creds,
		api.Options{Version: "test", Logger: logs.logger(), Backoff: quick})
	if err != nil {
		t.Fatal(err)
	}
	return worker{c, creds, logs}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func verdictOf(score int64, rules ...string) verdict.Verdict {
	return verdict.Verdict{Score: score, RulesMatched: rules, InspectorURL: "https://inspector.pypi.io/project/p/1/x"}
}

func TestLeaseAndSubmitInBothEras(t *testing.T) {
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		t.Run(era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: era})
			s.AddJob("Pkg.Name", "1.0rc1", s.AddFile("Pkg.Name-1.0rc1.tar.gz", []byte("x")))
			s.AddJob("broken", "2")
			w := newWorker(t, s, map[string]string{"DRAGONFLY_AUTH_MODE": "none"})
			ctx := ctxFor(t, 10*time.Second)

			rules, err := w.client.Rules(ctx)
			if err != nil || rules.Hash != s.RulesHash() {
				t.Fatalf("rules %v %v", rules.Hash, err)
			}
			jobs, err := w.client.Lease(ctx, 5)
			if err != nil || len(jobs) != 2 {
				t.Fatalf("jobs %+v %v", jobs, err)
			}
			if jobs[0].HasLease() != (era == apitest.Today) {
				t.Fatalf("lease fields %+v in era %v", jobs[0], era)
			}
			for _, j := range jobs {
				v := verdictOf(12, "b_rule", "a_rule", "b_rule")
				if len(j.Distributions) == 0 {
					v = verdict.Verdict{RulesMatched: []string{}, Failure: &verdict.Failure{Class: failure.ErrNoDistribution}}
				}
				if _, err := w.client.Submit(ctx, j.Result(rules.Hash, v)); err != nil {
					t.Fatalf("%s: %v", j.Name, err)
				}
			}
			s.AssertOneStoredResultPerJob(t)
			ok, _ := s.Stored("Pkg.Name", "1.0rc1")
			if ok.State != apitest.StateFinished || ok.Score != 12 || strings.Join(ok.RulesMatched, ",") != "a_rule,b_rule" || ok.Commit != rules.Hash {
				t.Errorf("stored %+v", ok)
			}
			failed, _ := s.Stored("broken", "2")
			if failed.State != apitest.StateFailed || failed.Reason != "no distributions" || failed.Commit != "" {
				t.Errorf("stored %+v", failed)
			}
		})
	}
}

func TestLateResultTodayIsRejectedButAcceptedIn2023(t *testing.T) {
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		t.Run(era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: era})
			s.AddJob("p", "1", s.FileURL("p-1.tar.gz"))
			first := newWorker(t, s, map[string]string{"DRAGONFLY_AUTH_MODE": "none"})
			second := newWorker(t, s, map[string]string{"DRAGONFLY_AUTH_MODE": "none"})
			ctx := ctxFor(t, 10*time.Second)
			j1, _ := first.client.Lease(ctx, 1)
			s.Advance(121 * time.Second) // the first lease expires
			j2, _ := second.client.Lease(ctx, 1)
			if len(j1) != 1 || len(j2) != 1 {
				t.Fatalf("leases %v %v", j1, j2)
			}
			_, lateErr := first.client.Submit(ctx, j1[0].Result("h", verdictOf(1)))
			_, err := second.client.Submit(ctx, j2[0].Result("h", verdictOf(2)))
			stored, _ := s.Stored("p", "1")
			if era == apitest.Today {
				var se *api.StatusError
				if !errors.Is(lateErr, api.ErrRejected) || !errors.As(lateErr, &se) || se.Status != 409 || err != nil || stored.Score != 2 {
					t.Fatalf("late %v, current %v, stored %+v", lateErr, err, stored)
				}
				return
			}
			if lateErr != nil || !errors.Is(err, api.ErrRejected) || stored.Score != 1 {
				t.Fatalf("late %v, second %v, stored %+v", lateErr, err, stored)
			}
		})
	}
}

func TestDroppedConnectionsStoreOnce(t *testing.T) {
	for _, beforeStore := range []bool{true, false} {
		s := apitest.New(t, apitest.Options{})
		s.AddJob("p", "1", s.FileURL("p-1.tar.gz"))
		w := newWorker(t, s, map[string]string{"DRAGONFLY_AUTH_MODE": "none"})
		ctx := ctxFor(t, 10*time.Second)
		jobs, _ := w.client.Lease(ctx, 1)
		s.DropNext(apitest.EndpointPackage, 1, beforeStore)
		s.FailNext(apitest.EndpointPackage, 2, 503)
		d, err := w.client.Submit(ctx, jobs[0].Result("h", verdictOf(3)))
		if err != nil || d.AlreadyStored == beforeStore {
			t.Fatalf("dropped before store %v: delivery %+v, %v", beforeStore, d, err)
		}
		s.AssertOneStoredResultPerJob(t)
	}
}

func TestDownloadsFromTheFake(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	ok := s.AddFile("ok-1.whl", []byte("PK\x03\x04 wheel"))
	big := s.AddFile("big-1.tar.gz", bytes.Repeat([]byte("x"), 2000))
	dl := api.NewDownloader(api.DownloadOptions{MaxBytes: 1000, Backoff: quick})
	ctx := ctxFor(t, 10*time.Second)

	s.FailNext(apitest.EndpointFiles, 2, 500)
	if data, err := dl.Fetch(ctx, ok); err != nil || string(data) != "PK\x03\x04 wheel" {
		t.Fatalf("%q %v", data, err)
	}
	if _, err := dl.Fetch(ctx, s.FileURL("missing-1.whl")); err == nil || err.Error() != "download failed: HTTP 404 "+s.FileURL("missing-1.whl") {
		t.Fatalf("missing: %v", err)
	}
	if _, err := dl.Fetch(ctx, big); !errors.Is(err, failure.ErrTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	if data, err := dl.Fetch(ctx, s.RedirectChain(ok, 5)); err != nil || len(data) == 0 {
		t.Fatalf("5 redirects: %v", err)
	}
	if _, err := dl.Fetch(ctx, s.RedirectChain(ok, 6)); err == nil {
		t.Fatal("6 redirects followed")
	}
}
