package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
)

// hookedMainframe is a Mainframe whose calls run a hook first; a hook that
// panics stands for a bug in the worker's own mainframe client.
type hookedMainframe struct {
	Mainframe
	mu     sync.Mutex
	leases int
	lease  func(call int)     // before the call-th Lease, from 1
	submit func(r api.Result) // before each Submit
}

func (m *hookedMainframe) Lease(ctx context.Context, n int) ([]api.Job, error) {
	m.mu.Lock()
	m.leases++
	call := m.leases
	m.mu.Unlock()
	if m.lease != nil {
		m.lease(call)
	}
	return m.Mainframe.Lease(ctx, n)
}

func (m *hookedMainframe) Submit(ctx context.Context, r api.Result) (api.Delivery, error) {
	if m.submit != nil {
		m.submit(r)
	}
	return m.Mainframe.Submit(ctx, r)
}

// holdingFetcher holds the download of URLs containing "held" until its
// context ends, closing entered when the first one starts; bodies whose URL
// contains "badfree" panic when freed.
type holdingFetcher struct {
	Fetcher
	once    sync.Once
	entered chan struct{}
}

func (f *holdingFetcher) Download(ctx context.Context, u string) (api.Body, error) {
	if strings.Contains(u, "held") {
		f.once.Do(func() { close(f.entered) })
		<-ctx.Done()
		return api.Body{}, ctx.Err()
	}
	b, err := f.Fetcher.Download(ctx, u)
	if err != nil || !strings.Contains(u, "badfree") {
		return b, err
	}
	return api.NewBody(b.Data, func() { b.Free(); panic("a body freed twice by the downloader") }), nil
}

// brokenRun runs a pipeline over mf against s, never stopping it, and
// returns what Run returned; only a broken stage can end it.
func brokenRun(t *testing.T, s *apitest.Server, mf func(Mainframe) *hookedMainframe, f *holdingFetcher) (*Metrics, error) {
	t.Helper()
	client, err := api.New(api.Config{BaseURL: s.URL, WorkerID: "w", CallTimeout: 5 * time.Second}, nil, api.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Fetcher = api.NewDownloader(api.DownloadOptions{MaxBytes: testLimits().MaxScanSize})
	bodies := &countingFetcher{Fetcher: f}
	m := NewMetrics(prometheus.NewRegistry())
	p := New(testConfig(), testLimits(), mf(client), bodies, Options{Metrics: m})
	result := make(chan error, 1)
	go func() { result <- p.Run(context.Background()) }()
	select {
	case err = <-result:
	case <-time.After(60 * time.Second): // a failure, not a wait: Run should end by itself
		t.Fatal("Run did not return after a stage broke")
	}
	bodies.assertAllFreed(t)
	if n := testutil.ToFloat64(m.JobsInFlight); n != 0 {
		t.Errorf("%v jobs still counted in flight", n)
	}
	return m, err
}

func wantBroken(t *testing.T, err error, stage, cause string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "internal error in the "+stage+" stage") || !strings.Contains(err.Error(), cause) {
		t.Fatalf("Run returned %v, want the %s stage named with %q", err, stage, cause)
	}
}

// TestABrokenLeaseStopsThePipeline: a panic in the lease loop is no job's:
// Run returns an error naming the stage without being stopped, and the
// download in flight is cancelled and its job abandoned to the mainframe.
func TestABrokenLeaseStopsThePipeline(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.SetRules(oldHash, oldRules)
	s.AddJob("held", "1.0", s.AddFile("held-1.0.tar.gz", fixture.TarGzMap(t, map[string]string{"held-1.0/a.py": "pass"})))
	f := &holdingFetcher{entered: make(chan struct{})}
	m, err := brokenRun(t, s, func(c Mainframe) *hookedMainframe {
		return &hookedMainframe{Mainframe: c, lease: func(call int) {
			if call == 2 { // the slots are free at once: the first job is in flight
				<-f.entered
				panic("a lease bug")
			}
		}}
	}, f)
	wantBroken(t, err, "lease", "a lease bug")
	if _, ok := s.Stored("held", "1.0"); ok {
		t.Error("a job cancelled by the broken stage was reported")
	}
	if a, l := testutil.ToFloat64(m.JobsAbandoned.WithLabelValues(abandonDrain)), testutil.ToFloat64(m.JobsLeased); a != 1 || l != 1 {
		t.Errorf("leased %v, abandoned %v; want the one job leased and abandoned", l, a)
	}
}

// TestABrokenSubmitStopsThePipeline: a submit that panics is the worker's
// bug, not the package's: no result can be sent for it, so Run stops the
// other stages and returns an error naming the stage; the job held in the
// download stage is abandoned rather than left behind.
func TestABrokenSubmitStopsThePipeline(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.SetRules(oldHash, oldRules)
	s.AddJob("held", "1.0", s.AddFile("held-1.0.tar.gz", fixture.TarGzMap(t, map[string]string{"held-1.0/a.py": "pass"})))
	s.AddJob("boom", "1.0", s.AddFile("boom-1.0.tar.gz", fixture.TarGzMap(t, map[string]string{"boom-1.0/a.py": "pass"})))
	f := &holdingFetcher{entered: make(chan struct{})}
	m, err := brokenRun(t, s, func(c Mainframe) *hookedMainframe {
		return &hookedMainframe{Mainframe: c, submit: func(r api.Result) {
			if r.Name == "boom" {
				<-f.entered
				panic(errors.New("a submit bug"))
			}
		}}
	}, f)
	wantBroken(t, err, "submit", "a submit bug")
	if got := s.StoredResults(); len(got) != 0 {
		t.Errorf("stored %+v", got)
	}
	// boom's result was lost with the panic (the mainframe leases it
	// again); held was abandoned when the stages were cancelled.
	if a, l := testutil.ToFloat64(m.JobsAbandoned.WithLabelValues(abandonDrain)), testutil.ToFloat64(m.JobsLeased); a != 1 || l != 2 {
		t.Errorf("leased %v, abandoned %v; want 2 and 1", l, a)
	}
}

// TestABrokenMatcherStopsThePipeline: a panic outside a job's recovery in
// the match stage (freeing a body) breaks the pipeline too, and the other
// bodies are still freed.
func TestABrokenMatcherStopsThePipeline(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.SetRules(oldHash, oldRules)
	s.AddJob("held", "1.0", s.AddFile("held-1.0.tar.gz", fixture.TarGzMap(t, map[string]string{"held-1.0/a.py": "pass"})))
	s.AddJob("badfree", "1.0", s.AddFile("badfree-1.0.tar.gz", fixture.TarGzMap(t, map[string]string{"badfree-1.0/a.py": "pass"})))
	addMixedJobs(t, s, 7, 0)
	_, err := brokenRun(t, s, func(c Mainframe) *hookedMainframe { return &hookedMainframe{Mainframe: c} }, &holdingFetcher{entered: make(chan struct{})})
	wantBroken(t, err, "match", "freed twice")
	if _, ok := s.Stored("held", "1.0"); ok {
		t.Error("a job cancelled by the broken stage was reported")
	}
}

// TestARetriedMainframeErrorIsNoBrokenStage: failed leases and submits are
// the mainframe's trouble; Run goes on and, once stopped, returns nil.
func TestARetriedMainframeErrorIsNoBrokenStage(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.SetRules(oldHash, oldRules)
	want := addMixedJobs(t, s, 14, 0)
	s.FailNext(apitest.EndpointJobs, 3, 503)
	s.FailNext(apitest.EndpointPackage, 3, 500)
	d := startDaemon(t, s, testConfig(), map[string]string{"DRAGONFLY_AUTH_MODE": "none"})
	waitAllDone(t, s)
	select {
	case err := <-d.result:
		t.Fatalf("Run returned %v before it was stopped", err)
	default:
	}
	d.shutdown(t) // Run must return nil
	checkStored(t, s, want, oldHash)
}

// TestEverySubmitPanicking: with each submit panicking, the goroutines that
// hit the panics still drain the stage, so Run returns with every job
// answered or abandoned and every body freed.
func TestEverySubmitPanicking(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.SetRules(oldHash, oldRules)
	addMixedJobs(t, s, 28, 0)
	m, err := brokenRun(t, s, func(c Mainframe) *hookedMainframe {
		return &hookedMainframe{Mainframe: c, submit: func(api.Result) { panic("a submit bug") }}
	}, &holdingFetcher{entered: make(chan struct{})})
	wantBroken(t, err, "submit", "a submit bug")
	if got := s.StoredResults(); len(got) != 0 {
		t.Errorf("stored %+v", got)
	}
	if testutil.ToFloat64(m.JobsLeased) == 0 {
		t.Error("nothing leased")
	}
}
