package apitest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
)

func TestFailNextIsScopedAndCounted(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("p", "1")
	w := newWorker(t, s)
	s.FailNext(apitest.EndpointJobs, 2, http.StatusBadGateway)
	s.FailNextRetryAfter(apitest.EndpointRules, 1, http.StatusServiceUnavailable, "2")

	r := w.do(http.MethodGet, "/rules", nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "2" {
		t.Errorf("rules: %v Retry-After %q", r, r.header.Get("Retry-After"))
	}
	wantStatus(t, "rules after the burst", w.do(http.MethodGet, "/rules", nil), http.StatusOK)
	wantStatus(t, "root is not in scope", w.do(http.MethodGet, "/", nil), http.StatusOK)
	for i := range 2 {
		wantStatus(t, "jobs burst", w.do(http.MethodPost, "/jobs?batch=1", nil), http.StatusBadGateway)
		if len(s.Leases()) != 0 {
			t.Fatalf("failure %d leased a job", i)
		}
	}
	w.leaseOne()

	// Failures come before the application: nothing stored.
	s.FailNext(apitest.EndpointPackage, 1, http.StatusInternalServerError)
	body := success(job{Name: "p", Version: "1"}, 0)
	wantStatus(t, "injected 500", w.put(body), http.StatusInternalServerError)
	if _, ok := s.Stored("p", "1"); ok {
		t.Fatal("stored through an injected failure")
	}
	if n := len(s.Results()); n != 0 {
		t.Errorf("an injected failure reached the endpoint: %d results", n)
	}
	reqs := s.RequestsTo(apitest.EndpointPackage)
	if len(reqs) != 1 || reqs[0].Status != 500 {
		t.Errorf("recorded %+v", reqs)
	}
}

func TestInjectedFailureBeforeCredentials(t *testing.T) {
	// A proxy in front answers before the edge: a 503 burst is seen even
	// without credentials, and 401s resume after it.
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthStatic}})
	s.FailNext("/jobs", 1, http.StatusServiceUnavailable)
	w := newWorker(t, s)
	wantStatus(t, "burst", w.do(http.MethodPost, "/jobs?batch=1", nil), http.StatusServiceUnavailable)
	wantStatus(t, "after", w.do(http.MethodPost, "/jobs?batch=1", nil), http.StatusUnauthorized)
}

func TestDropBeforeStore(t *testing.T) {
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		t.Run(era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: era})
			s.AddJob("p", "1")
			w := newWorker(t, s)
			j := w.leaseOne()
			s.DropNext(apitest.EndpointPackage, 1, true)
			if r := w.put(success(j, 4)); r.err == nil {
				t.Fatalf("dropped request answered %v", r)
			}
			if _, ok := s.Stored("p", "1"); ok {
				t.Fatal("stored before the drop")
			}
			reqs := s.RequestsTo(apitest.EndpointPackage)
			if len(reqs) != 1 || !reqs[0].Dropped || reqs[0].Status != 0 || len(reqs[0].Body) == 0 {
				t.Errorf("recorded %+v", reqs)
			}
			// The retry is the first delivery.
			wantStatus(t, "retry", w.put(success(j, 4)), http.StatusOK)
			s.AssertOneStoredResultPerJob(t)
		})
	}
}

func TestDropAfterStore(t *testing.T) {
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		t.Run(era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: era})
			s.AddJob("p", "1")
			w := newWorker(t, s)
			j := w.leaseOne()
			s.DropNext(apitest.EndpointPackage, 1, false)
			if r := w.put(success(j, 4)); r.err == nil {
				t.Fatalf("dropped request answered %v", r)
			}
			if got, ok := s.Stored("p", "1"); !ok || got.Score != 4 {
				t.Fatalf("not stored before the drop: %+v", got)
			}
			results := s.Results()
			if len(results) != 1 || !results[0].Dropped || results[0].Status != http.StatusOK {
				t.Errorf("Results = %+v", results)
			}
			// The client's retry meets "already": its first attempt was stored.
			r := w.put(success(j, 4))
			if r.status != http.StatusConflict || !strings.Contains(r.detail(), "already") {
				t.Errorf("retry: %v", r)
			}
			s.AssertOneStoredResultPerJob(t)
		})
	}
}

func TestDropAfterLeasing(t *testing.T) {
	// The lease answer is lost: the jobs are pending for a worker that
	// never saw them, until the lease runs out.
	s := apitest.New(t, apitest.Options{})
	s.AddJob("p", "1")
	s.AddJob("q", "1")
	w := newWorker(t, s)
	s.DropNext(apitest.EndpointJobs, 1, false)
	if r := w.do(http.MethodPost, "/jobs?batch=2", nil); r.err == nil {
		t.Fatalf("answered %v", r)
	}
	if n := len(s.Leases()); n != 2 {
		t.Fatalf("%d leases", n)
	}
	if jobs := w.lease(2); len(jobs) != 0 {
		t.Fatalf("leased again at once: %+v", jobs)
	}
	s.Advance(121 * time.Second)
	if jobs := w.lease(2); len(jobs) != 2 || *jobs[0].Attempt != 2 {
		t.Fatalf("after expiry: %+v", jobs)
	}
}

func TestDelayHonoursTheClient(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("p", "1")
	w := newWorker(t, s)

	// A client that gives up: the request is never handled.
	s.DelayNext(apitest.EndpointJobs, 1, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/jobs?batch=1", nil)
	_, err := w.hc.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed request: %v", err)
	}
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelWait()
	if err := s.WaitUntil(waitCtx, func() bool { return len(s.RequestsTo(apitest.EndpointJobs)) == 1 }); err != nil {
		t.Fatal(err)
	}
	if r := s.RequestsTo(apitest.EndpointJobs)[0]; !r.Canceled || r.Status != 0 {
		t.Errorf("recorded %+v", r)
	}
	if len(s.Leases()) != 0 {
		t.Fatal("a request the client abandoned leased a job")
	}

	// A short delay is served.
	s.Delay(apitest.EndpointJobs, 10*time.Millisecond)
	start := time.Now()
	w.leaseOne()
	if d := time.Since(start); d < 10*time.Millisecond {
		t.Errorf("answered after %v", d)
	}
	s.Delay(apitest.EndpointJobs, 0)
}

func TestCloseReleasesDelayedRequests(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.Delay(apitest.EndpointRules, time.Hour)
	w := newWorker(t, s)
	done := make(chan response)
	go func() { done <- w.do(http.MethodGet, "/rules", nil) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitUntil(ctx, func() bool { return s.InFlight() == 1 }); err != nil {
		t.Fatal(err)
	}
	s.Close() // returns at once, though the request is held for an hour
	if r := <-done; r.err == nil {
		t.Errorf("delayed request answered %v after Close", r)
	}
	if reqs := s.Requests(); len(reqs) != 1 || !reqs[0].Canceled {
		t.Errorf("recorded %+v", reqs)
	}
}

func TestFaultsOnFiles(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	u := s.AddFile("pkg-1.0.tar.gz", []byte("data"))
	other := s.AddFile("other.whl", []byte("x"))
	s.FailNext(apitest.FilePath("pkg-1.0.tar.gz"), 2, http.StatusInternalServerError)
	s.FailNext(apitest.EndpointFiles, 1, http.StatusNotFound)
	w := newWorker(t, s)
	wantStatus(t, "1st", w.do(http.MethodGet, u, nil), http.StatusInternalServerError)
	wantStatus(t, "other file, prefix fault", w.do(http.MethodGet, other, nil), http.StatusNotFound)
	wantStatus(t, "2nd", w.do(http.MethodGet, u, nil), http.StatusInternalServerError)
	wantStatus(t, "3rd", w.do(http.MethodGet, u, nil), http.StatusOK)
	s.DropNext(apitest.EndpointFiles, 1, true)
	if r := w.do(http.MethodGet, u, nil); r.err == nil {
		t.Errorf("dropped download answered %v", r)
	}
	s.FailNext(apitest.EndpointFiles, 5, http.StatusServiceUnavailable)
	s.ClearFaults()
	wantStatus(t, "after ClearFaults", w.do(http.MethodGet, u, nil), http.StatusOK)
}
