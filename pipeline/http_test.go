package pipeline

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestOperatorEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.JobsLeased.Add(3)
	var ready atomic.Bool
	srv := httptest.NewServer(Handler(reg, func() error {
		if !ready.Load() {
			return errors.New("rules not loaded yet")
		}
		return nil
	}))
	defer srv.Close()

	if code, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "rules not loaded yet") {
		t.Errorf("/readyz before ready: %d %q", code, body)
	}
	ready.Store(true)
	if code, _ := get(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz when ready: %d", code)
	}
	code, body := get(t, srv.URL+"/metrics")
	if code != 200 || !strings.Contains(body, "dragonfly_jobs_leased_total 3") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
}

func TestNotReadyUntilTheRulesLoad(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.SetRules(oldHash, oldRules)
	s.FailNext(apitest.EndpointRules, 1000, 503)
	s.AddJob("clean1", "1.0", kinds[0].dist(t, s, "clean1")...)
	d := startDaemon(t, s, testConfig(), map[string]string{"DRAGONFLY_AUTH_MODE": "none"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitUntil(ctx, func() bool { return len(s.RequestsTo(apitest.EndpointRules)) >= 3 }); err != nil {
		t.Fatal(err)
	}
	if d.p.Ready() || len(s.RequestsTo(apitest.EndpointJobs)) != 0 {
		t.Fatal("ready, or leasing, without rules")
	}
	s.ClearFaults()
	waitAllDone(t, s)
	if !d.p.Ready() {
		t.Fatal("not ready after the rules loaded")
	}
}

// panicky is a Fetcher that panics on URLs holding "panic".
type panicky struct{ Fetcher }

func (p panicky) Download(ctx context.Context, u string) (api.Body, error) {
	if strings.Contains(u, "panic") {
		panic("a reader bug")
	}
	return p.Fetcher.Download(ctx, u)
}

func TestAPanicFailsTheJobNotTheWorker(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.SetRules(oldHash, oldRules)
	s.AddJob("panic1", "1.0", s.AddFile("panic1-1.0.tar.gz", []byte("x")))
	want := addMixedJobs(t, s, 14, 0)
	client, err := api.New(api.Config{BaseURL: s.URL, CallTimeout: 5 * time.Second}, nil, api.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dl := api.NewDownloader(api.DownloadOptions{MaxBytes: testLimits().MaxScanSize})
	bodies := &countingFetcher{Fetcher: panicky{dl}}
	p := New(testConfig(), testLimits(), client, bodies, Options{})
	ctx, stop := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- p.Run(ctx) }()
	waitAllDone(t, s)
	stop()
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	checkStored(t, s, want, oldHash)
	bodies.assertAllFreed(t)
	got, _ := s.Stored("panic1", "1.0")
	if got.State != apitest.StateFailed || !strings.HasPrefix(got.Reason, "malformed: panic1-1.0.tar.gz: internal error in the download stage") {
		t.Fatalf("stored %+v", got)
	}
}
