package apitest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRootIsOpenAndNamesTheRules(t *testing.T) {
	for _, mode := range []apitest.AuthMode{apitest.AuthNone, apitest.AuthStatic, apitest.AuthAuth0, apitest.AuthCloudflare} {
		s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: mode}})
		w := newWorker(t, s) // no credentials
		r := w.do(http.MethodGet, "/", nil)
		wantStatus(t, "GET /", r, http.StatusOK)
		var info map[string]string
		if err := json.Unmarshal(r.body, &info); err != nil {
			t.Fatal(err)
		}
		if info["server_commit"] == "" || info["rules_commit"] != s.RulesHash() {
			t.Errorf("mode %d: GET / = %s", mode, r.body)
		}
		s.SetRules("abc123", map[string]string{"x": "rule x { condition: true }"})
		r = w.do(http.MethodGet, "/", nil)
		if !strings.Contains(string(r.body), `"rules_commit":"abc123"`) {
			t.Errorf("mode %d: after SetRules GET / = %s", mode, r.body)
		}
	}
}

func TestRulesAndHashOfLeasedJobs(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	w := newWorker(t, s)

	r := w.do(http.MethodGet, "/rules", nil)
	wantStatus(t, "GET /rules", r, http.StatusOK)
	var rules struct {
		Hash  string            `json:"hash"`
		Rules map[string]string `json:"rules"`
	}
	if err := json.Unmarshal(r.body, &rules); err != nil || rules.Hash != s.RulesHash() || len(rules.Rules) == 0 {
		t.Fatalf("GET /rules = %s (%v)", r.body, err)
	}

	s.AddJob("a", "1", "https://example.invalid/a-1.tar.gz")
	s.AddJob("b", "1")
	old := w.leaseOne()

	newRules := map[string]string{"one": "rule one { condition: true }", "two": "rule two { condition: false }"}
	s.SetRules("0123456789abcdef0123456789abcdef01234567", newRules)
	cur := w.leaseOne()
	if old.Hash == cur.Hash || cur.Hash != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("hash before SetRules %q, after %q", old.Hash, cur.Hash)
	}
	r = w.do(http.MethodGet, "/rules", nil)
	rules.Rules = nil
	if err := json.Unmarshal(r.body, &rules); err != nil || rules.Hash != cur.Hash || len(rules.Rules) != 2 ||
		rules.Rules["two"] != newRules["two"] {
		t.Errorf("GET /rules after SetRules = %s", r.body)
	}
	// The map given to SetRules is copied.
	newRules["three"] = "rule three { condition: true }"
	if r := w.do(http.MethodGet, "/rules", nil); strings.Contains(string(r.body), "three") {
		t.Errorf("SetRules kept the caller's map")
	}
}

func TestRouting(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthStatic}})
	s.AddToken("tok", "w1")
	w := bearer(t, s, "tok")

	tests := []struct {
		method, path string
		status       int
		location     string
	}{
		{http.MethodPost, "/jobs/?batch=2", http.StatusTemporaryRedirect, s.URL + "/jobs?batch=2"},
		{http.MethodPut, "/package/", http.StatusTemporaryRedirect, s.URL + "/package"},
		{http.MethodGet, "/rules/", http.StatusTemporaryRedirect, s.URL + "/rules"},
		{http.MethodGet, "/jobs?batch=1", http.StatusMethodNotAllowed, ""},
		{http.MethodPost, "/package", http.StatusMethodNotAllowed, ""},
		{http.MethodPost, "/rules", http.StatusMethodNotAllowed, ""},
		{http.MethodGet, "/nope", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		r := w.do(tc.method, tc.path, nil)
		if r.status != tc.status || r.header.Get("Location") != tc.location {
			t.Errorf("%s %s = %v Location %q; want %d %q", tc.method, tc.path, r, r.header.Get("Location"), tc.status, tc.location)
		}
	}
	// Routing answers before the application checks credentials, as in
	// FastAPI: a 405 without credentials is still a 405.
	anon := newWorker(t, s)
	if r := anon.do(http.MethodGet, "/jobs", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /jobs without credentials = %v, want 405", r)
	}
	if r := anon.do(http.MethodPost, "/jobs?batch=1", nil); r.status != http.StatusUnauthorized {
		t.Errorf("POST /jobs without credentials = %v, want 401", r)
	}
}

func TestBatchValidation(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("a", "1")
	s.AddJob("b", "1")
	w := newWorker(t, s)

	for _, tc := range []struct {
		query  string
		status int
		loc    string
	}{
		{"", http.StatusUnprocessableEntity, "missing"},
		{"?batch=", http.StatusUnprocessableEntity, "int_parsing"},
		{"?batch=abc", http.StatusUnprocessableEntity, "int_parsing"},
		{"?batch=1.5", http.StatusUnprocessableEntity, "int_parsing"},
		{"?batch=-1", http.StatusInternalServerError, ""},
	} {
		r := w.do(http.MethodPost, "/jobs"+tc.query, nil)
		if r.status != tc.status {
			t.Errorf("POST /jobs%s = %v, want %d", tc.query, r, tc.status)
			continue
		}
		if tc.status == http.StatusUnprocessableEntity {
			var body struct {
				Detail []struct {
					Type string `json:"type"`
					Loc  []any  `json:"loc"`
				} `json:"detail"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || len(body.Detail) != 1 ||
				body.Detail[0].Type != tc.loc || body.Detail[0].Loc[1] != "batch" {
				t.Errorf("POST /jobs%s body %s", tc.query, r.body)
			}
		}
	}
	if len(s.Leases()) != 0 {
		t.Fatalf("invalid batches leased jobs: %+v", s.Leases())
	}

	// batch=0 reaches LIMIT 0 on the real server: an empty list.
	if r := w.do(http.MethodPost, "/jobs?batch=0", nil); r.status != http.StatusOK || string(r.body) != "[]" {
		t.Errorf("batch=0: %v", r)
	}
	// More asked than queued: the list is shorter.
	if jobs := w.lease(5); len(jobs) != 2 || jobs[0].Name != "a" || jobs[1].Name != "b" {
		t.Errorf("batch=5 leased %+v", jobs)
	}
	// Nothing queued: [] (not null).
	if r := w.do(http.MethodPost, "/jobs?batch=3", nil); r.status != http.StatusOK || string(r.body) != "[]" {
		t.Errorf("empty queue: %v", r)
	}
}

func TestJobShapeByEra(t *testing.T) {
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		t.Run(era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: era})
			s.AddJob("requests", "2.19.1", "https://files.example/requests-2.19.1.tar.gz", "https://files.example/requests-2.19.1-py2.py3-none-any.whl")
			s.AddJob("empty", "0.1")
			w := newWorker(t, s)
			r := w.do(http.MethodPost, "/jobs?batch=2", nil)
			var raw []map[string]json.RawMessage
			if err := json.Unmarshal(r.body, &raw); err != nil || len(raw) != 2 {
				t.Fatalf("POST /jobs = %v", r)
			}
			if string(raw[1]["distributions"]) != "[]" {
				t.Errorf("distributions of a job without any = %s, want []", raw[1]["distributions"])
			}
			var jobs []job
			json.Unmarshal(r.body, &jobs)
			j := jobs[0]
			if j.Name != "requests" || j.Version != "2.19.1" || len(j.Distributions) != 2 || j.Hash != s.RulesHash() {
				t.Errorf("job = %+v", j)
			}
			switch era {
			case apitest.Today:
				if j.Attempt == nil || *j.Attempt != 1 || j.AssignmentID == nil || !uuidRE.MatchString(*j.AssignmentID) {
					t.Errorf("today's job lacks attempt 1 and a UUID assignment: %s", r.body)
				}
				if *jobs[0].AssignmentID == *jobs[1].AssignmentID {
					t.Errorf("two leases share an assignment_id")
				}
			case apitest.Era2023:
				if _, ok := raw[0]["attempt"]; ok {
					t.Errorf("2023 job carries attempt: %s", r.body)
				}
				if _, ok := raw[0]["assignment_id"]; ok {
					t.Errorf("2023 job carries assignment_id: %s", r.body)
				}
			}
		})
	}
}

func TestConcurrentLeasingHandsEachJobOutOnce(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	const n = 60
	for i := range n {
		s.AddJob("pkg", string(rune('A'+i%26))+string(rune('a'+i/26)))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(t, s)
			for {
				jobs := w.lease(3)
				if len(jobs) == 0 {
					return
				}
				for _, j := range jobs {
					mu.Lock()
					seen[j.Version]++
					mu.Unlock()
					if r := w.put(success(j, 0)); r.status != http.StatusOK {
						t.Errorf("PUT: %v", r)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("leased %d distinct jobs, want %d", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("job %s leased %d times", v, c)
		}
	}
	s.AssertOneStoredResultPerJob(t)
}

func TestWaitUntil(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("a", "1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := newWorker(t, s)
		j := w.leaseOne()
		w.put(success(j, 3))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitUntil(ctx, s.AllFinished); err != nil {
		t.Fatal(err)
	}
	<-done
	if r, ok := s.Stored("a", "1"); !ok || r.Score != 3 {
		t.Errorf("Stored = %+v, %v", r, ok)
	}

	// A condition that never holds ends with the context.
	short, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := s.WaitUntil(short, func() bool { return false }); err != context.Canceled {
		t.Errorf("WaitUntil on a canceled context = %v", err)
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	w := newWorker(t, s, "User-Agent", "dragonfly-test/1")
	w.do(http.MethodPost, "/jobs?batch=4", nil)
	w.do(http.MethodGet, "/nope", nil)
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("recorded %d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/jobs" || r.RawQuery != "batch=4" || r.Status != 200 ||
		r.Identity != "dragonfly-test/1" || r.Server != "api" || r.At.IsZero() {
		t.Errorf("request = %+v", r)
	}
	if reqs[1].Status != http.StatusNotFound {
		t.Errorf("second request = %+v", reqs[1])
	}
	if got := s.RequestsTo(apitest.EndpointJobs); len(got) != 1 {
		t.Errorf("RequestsTo(jobs) = %d", len(got))
	}
}

func TestAdvanceMovesTheClock(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	before := s.Now()
	s.Advance(time.Hour)
	if d := s.Now().Sub(before); d < time.Hour || d > time.Hour+time.Minute {
		t.Errorf("Advance(1h) moved the clock %v", d)
	}
}
