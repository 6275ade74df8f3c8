package apitest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
)

const lease = 120 * time.Second

// twoWorkers is a static-token server with two worker identities.
func twoWorkers(t *testing.T, era apitest.Era) (*apitest.Server, *worker, *worker) {
	s := apitest.New(t, apitest.Options{Era: era, Auth: apitest.AuthOptions{Mode: apitest.AuthStatic}})
	s.AddToken("token-a", "worker-a")
	s.AddToken("token-b", "worker-b")
	return s, bearer(t, s, "token-a"), bearer(t, s, "token-b")
}

func TestTodayLeaseExpiresToTheNextAttempt(t *testing.T) {
	s, a, b := twoWorkers(t, apitest.Today)
	s.AddJob("pkg", "1.0", "https://files.example/pkg-1.0.tar.gz")

	first := a.leaseOne()
	if len(b.lease(5)) != 0 {
		t.Fatal("a pending job was leased twice")
	}
	s.Advance(lease - time.Second)
	if len(b.lease(5)) != 0 {
		t.Fatal("a job was re-leased before its lease ran out")
	}
	s.Advance(2 * time.Second)
	second := b.leaseOne()
	if *second.Attempt != 2 || *second.AssignmentID == *first.AssignmentID {
		t.Fatalf("re-lease: attempt %d assignment %s (first %s)", *second.Attempt, *second.AssignmentID, *first.AssignmentID)
	}

	// The first worker's late result: the lease passed to attempt 2.
	late := a.put(success(first, 5))
	wantStatus(t, "late result", late, http.StatusConflict)
	if strings.Contains(late.detail(), "already") {
		t.Errorf("a lost lease must not read as delivered: %q", late.detail())
	}
	// The first worker cannot use the new assignment either: not its lease.
	wantStatus(t, "foreign identity", a.put(success(second, 5)), http.StatusConflict)

	wantStatus(t, "current holder", b.put(success(second, 7)), http.StatusOK)
	got, ok := s.Stored("pkg", "1.0")
	if !ok || got.Score != 7 || got.Identity != "worker-b" || got.Attempt != 2 || got.AssignmentID != *second.AssignmentID {
		t.Errorf("Stored = %+v", got)
	}

	leases := s.Leases()
	if len(leases) != 2 || leases[0].Identity != "worker-a" || leases[1].Identity != "worker-b" {
		t.Fatalf("Leases = %+v", leases)
	}
	if leases[0].ResultStatus != http.StatusConflict || leases[0].Stored ||
		leases[1].ResultStatus != http.StatusOK || !leases[1].Stored || leases[1].Age() < 0 {
		t.Errorf("lease outcomes = %+v", leases)
	}
	s.AssertOneStoredResultPerJob(t)
}

func TestTodayDeadLetterAfterMaxAttempts(t *testing.T) {
	s, a, _ := twoWorkers(t, apitest.Today)
	s.AddJob("slow", "1")
	var last job
	for attempt := 1; attempt <= 3; attempt++ {
		last = a.leaseOne()
		if *last.Attempt != attempt {
			t.Fatalf("attempt %d, want %d", *last.Attempt, attempt)
		}
		s.Advance(lease + time.Second)
	}
	if jobs := a.lease(5); len(jobs) != 0 {
		t.Fatalf("a dead-lettered job was leased again: %+v", jobs)
	}
	got, ok := s.Stored("slow", "1")
	if !ok || got.State != apitest.StateFailed || !got.DeadLettered ||
		got.Reason != "Worker lease expired after 3 scan attempts" {
		t.Fatalf("Stored = %+v, %v", got, ok)
	}
	if st, _ := s.State("slow", "1"); st != apitest.StateFailed {
		t.Errorf("state %s", st)
	}
	r := a.put(success(last, 1))
	wantStatus(t, "result after dead letter", r, http.StatusConflict)
	if strings.Contains(r.detail(), "already") {
		t.Errorf("dead letter reads as delivered: %q", r.detail())
	}
	s.Advance(time.Hour)
	if jobs := a.lease(5); len(jobs) != 0 {
		t.Fatalf("dead letter leased again: %+v", jobs)
	}

	rec := &recorder{TB: t}
	s.AssertOneStoredResultPerJob(rec)
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "dead-lettered") {
		t.Errorf("AssertOneStoredResultPerJob on a dead letter: %q", rec.errors)
	}
}

func TestMaxAttemptsOption(t *testing.T) {
	s := apitest.New(t, apitest.Options{MaxAttempts: 1, LeaseTimeout: time.Minute})
	s.AddJob("p", "1")
	w := newWorker(t, s)
	w.leaseOne()
	s.Advance(time.Minute + time.Second)
	if len(w.lease(1)) != 0 {
		t.Fatal("leased after MaxAttempts")
	}
	if got, _ := s.Stored("p", "1"); got.Reason != "Worker lease expired after 1 scan attempts" {
		t.Errorf("reason %q", got.Reason)
	}
}

func TestTodayLeaseFields(t *testing.T) {
	s, a, b := twoWorkers(t, apitest.Today)
	s.AddJob("p", "1")
	s.AddJob("never-leased", "1")
	j := a.leaseOne()

	onlyAttempt := success(j, 0)
	delete(onlyAttempt, "assignment_id")
	onlyAssignment := success(j, 0)
	delete(onlyAssignment, "attempt")
	wrongAttempt := success(j, 0)
	wrongAttempt["attempt"] = 2
	unknownAssignment := success(j, 0)
	unknownAssignment["assignment_id"] = "00000000-0000-4000-8000-000000000000"
	badUUID := success(j, 0)
	badUUID["assignment_id"] = "not-a-uuid"
	badAttempt := success(j, 0)
	badAttempt["attempt"] = "first"
	neither := success(j, 0)
	delete(neither, "attempt")
	delete(neither, "assignment_id")
	unleased := map[string]any{"name": "never-leased", "version": "1", "commit": "c"}

	for _, tc := range []struct {
		name   string
		w      *worker
		body   map[string]any
		status int
	}{
		{"only attempt", a, onlyAttempt, http.StatusConflict},
		{"only assignment_id", a, onlyAssignment, http.StatusConflict},
		{"attempt not matching the assignment", a, wrongAttempt, http.StatusConflict},
		{"unknown assignment", a, unknownAssignment, http.StatusConflict},
		{"malformed assignment_id", a, badUUID, http.StatusUnprocessableEntity},
		{"attempt not an integer", a, badAttempt, http.StatusUnprocessableEntity},
		{"another identity without lease fields", b, neither, http.StatusConflict},
		{"a job never leased", a, unleased, http.StatusConflict},
	} {
		r := tc.w.put(tc.body)
		if r.status != tc.status {
			t.Errorf("%s: %v, want %d", tc.name, r, tc.status)
		}
		if r.status == http.StatusConflict && strings.Contains(r.detail(), "already") {
			t.Errorf("%s: detail %q reads as delivered", tc.name, r.detail())
		}
	}
	if _, ok := s.Stored("p", "1"); ok {
		t.Fatal("a rejected result was stored")
	}
	// The assignment in its 32-digit form, upper case, is the same UUID.
	compact := success(j, 4)
	compact["assignment_id"] = strings.ToUpper(strings.ReplaceAll(*j.AssignmentID, "-", ""))
	wantStatus(t, "compact UUID", a.put(compact), http.StatusOK)
}

func TestTodayResultWithoutLeaseFieldsFromTheHolder(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("p", "1")
	w := newWorker(t, s)
	j := w.leaseOne()
	body := success(j, 1)
	delete(body, "attempt")
	delete(body, "assignment_id")
	wantStatus(t, "holder without lease fields", w.put(body), http.StatusOK)
	if got, _ := s.Stored("p", "1"); got.Attempt != 1 || got.AssignmentID != *j.AssignmentID {
		t.Errorf("stored against lease %d %s", got.Attempt, got.AssignmentID)
	}
}

func Test2023LeasesForeverAndFirstResultWins(t *testing.T) {
	s, a, b := twoWorkers(t, apitest.Era2023)
	s.AddJob("pkg", "1.0")

	first := a.leaseOne()
	if len(b.lease(1)) != 0 {
		t.Fatal("pending job leased twice")
	}
	// Expired leases are handed out again, forever.
	for i := range 10 {
		s.Advance(lease + time.Second)
		j := b.leaseOne()
		if j.Attempt != nil || j.AssignmentID != nil {
			t.Fatalf("2023 job with lease fields: %+v", j)
		}
		if i == 0 && len(b.lease(1)) != 0 {
			t.Fatal("re-leased job leased twice")
		}
	}
	if n := len(s.Leases()); n != 11 {
		t.Errorf("%d leases", n)
	}

	// A's late result is accepted even though B holds the lease now; the
	// 2023 server ignores lease fields, even a lone attempt.
	late := success(first, 9)
	late["attempt"] = 1
	wantStatus(t, "late result", a.put(late), http.StatusOK)
	r := b.put(success(first, 3))
	wantStatus(t, "second result", r, http.StatusConflict)
	if r.detail() != "Package `pkg@1.0` is already in a FINISHED state." {
		t.Errorf("detail %q", r.detail())
	}
	got, _ := s.Stored("pkg", "1.0")
	if got.Score != 9 || got.Identity != "worker-a" || got.AssignmentID != "" {
		t.Errorf("Stored = %+v", got)
	}
	s.Advance(time.Hour)
	if len(a.lease(1)) != 0 {
		t.Error("finished job leased again")
	}
}

func Test2023AcceptsAResultForANeverLeasedJob(t *testing.T) {
	s := apitest.New(t, apitest.Options{Era: apitest.Era2023})
	s.AddJob("p", "1")
	w := newWorker(t, s)
	wantStatus(t, "unleased", w.put(map[string]any{"name": "p", "version": "1", "commit": "c"}), http.StatusOK)
}

func TestFailureIsFinalInBothEras(t *testing.T) {
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		t.Run(era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: era})
			s.AddJob("p", "1")
			w := newWorker(t, s)
			j := w.leaseOne()
			wantStatus(t, "failure", w.put(failure(j, "too large: 200000000 bytes > 128000000")), http.StatusOK)
			s.Advance(10 * lease)
			if len(w.lease(1)) != 0 {
				t.Fatal("a failed job was leased again")
			}
			r := w.put(success(j, 1))
			wantStatus(t, "success after failure", r, http.StatusConflict)
			if r.detail() != "Package `p@1` is already in a FAILED state." {
				t.Errorf("detail %q", r.detail())
			}
			got, _ := s.Stored("p", "1")
			if got.State != apitest.StateFailed || got.Reason != "too large: 200000000 bytes > 128000000" || got.DeadLettered {
				t.Errorf("Stored = %+v", got)
			}
			s.AssertOneStoredResultPerJob(t)
		})
	}
}

func TestLeaseAges(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("p", "1")
	s.AddJob("q", "1")
	w := newWorker(t, s)
	jobs := w.lease(2)
	s.Advance(30 * time.Second)
	w.put(success(jobs[0], 0))
	s.Advance(60 * time.Second)
	w.put(failure(jobs[1], "malformed: bad tar header"))

	leases := s.Leases()
	if a := leases[0].Age(); a < 30*time.Second || a > 31*time.Second {
		t.Errorf("first lease age %v", a)
	}
	if a := leases[1].Age(); a < 90*time.Second || a > 91*time.Second {
		t.Errorf("second lease age %v", a)
	}
	for _, l := range leases {
		if l.Age() >= s.Options().LeaseTimeout {
			t.Errorf("%s@%s: result after %v, beyond the lease", l.Name, l.Version, l.Age())
		}
	}
}

func TestPutStatusTable(t *testing.T) {
	const inspector = "https://inspector.pypi.io/project/p/1/packages/x/p-1.tar.gz/p-1/setup.py"
	type row struct {
		name   string
		body   any    // the body; lease fields are added to maps
		status int    // answered
		detail string // a substring of the answer
		// stored checks what the server holds after a 200.
		stored func(t *testing.T, r apitest.StoredResult)
	}
	rows := []row{
		{name: "success", status: 200,
			body: map[string]any{"score": 10, "inspector_url": inspector, "rules_matched": []string{"abc", "def"}, "commit": "commit hash"},
			stored: func(t *testing.T, r apitest.StoredResult) {
				if r.State != apitest.StateFinished || r.Score != 10 || r.InspectorURL == nil || *r.InspectorURL != inspector ||
					strings.Join(r.RulesMatched, ",") != "abc,def" || r.Commit != "commit hash" {
					t.Errorf("stored %+v", r)
				}
			}},
		{name: "success with null inspector_url and no rules", status: 200,
			body: map[string]any{"score": 0, "inspector_url": nil, "rules_matched": []string{}, "commit": "c"},
			stored: func(t *testing.T, r apitest.StoredResult) {
				if r.InspectorURL != nil || len(r.RulesMatched) != 0 {
					t.Errorf("stored %+v", r)
				}
			}},
		{name: "success with defaults", status: 200, body: map[string]any{"commit": "c"},
			stored: func(t *testing.T, r apitest.StoredResult) {
				if r.State != apitest.StateFinished || r.Score != 0 {
					t.Errorf("stored %+v", r)
				}
			}},
		{name: "failure", status: 200, body: map[string]any{"reason": "Package too large"},
			stored: func(t *testing.T, r apitest.StoredResult) {
				if r.State != apitest.StateFailed || r.Reason != "Package too large" {
					t.Errorf("stored %+v", r)
				}
			}},
		{name: "commit and reason make a success scoring 0", status: 200,
			body: map[string]any{"reason": "download failed: HTTP 404", "commit": "c"},
			stored: func(t *testing.T, r apitest.StoredResult) {
				if r.State != apitest.StateFinished || r.Score != 0 || r.Reason != "" {
					t.Errorf("stored %+v", r)
				}
			}},
		{name: "score at int4 bounds", status: 200, body: map[string]any{"score": -2147483648, "commit": "c"}},
		{name: "score 2147483647", status: 200, body: map[string]any{"score": 2147483647, "commit": "c"}},
		{name: "score as an integral float", status: 200, body: `{"name":"p","version":"1","score":10.0,"commit":"c"}`},
		{name: "score as a numeric string", status: 200, body: map[string]any{"score": "10", "commit": "c"}},
		{name: "unknown fields ignored", status: 200, body: map[string]any{"commit": "c", "extra": true}},

		{name: "score above int4", status: 500, body: map[string]any{"score": 2147483648, "commit": "c"}},
		{name: "score far above int64", status: 500, body: `{"name":"p","version":"1","score":123456789012345678901234567890,"commit":"c"}`},
		{name: "duplicate rules", status: 500, body: map[string]any{"rules_matched": []string{"a", "b", "a"}, "commit": "c"}},

		{name: "normalised name", status: 404, detail: "Package `P@1` not found in database.",
			body: `{"name":"P","version":"1","commit":"c"}`},
		{name: "normalised version", status: 404, body: `{"name":"p","version":"1.0","commit":"c"}`},

		{name: "empty body", status: 422, body: ""},
		{name: "invalid JSON", status: 422, body: `{"name":`},
		{name: "a list", status: 422, body: `[{"name":"p","version":"1","commit":"c"}]`},
		{name: "neither commit nor reason", status: 422, body: map[string]any{"score": 1}},
		{name: "missing name", status: 422, body: `{"version":"1","commit":"c"}`},
		{name: "name not a string", status: 422, body: `{"name":5,"version":"1","commit":"c"}`},
		{name: "score a word", status: 422, body: map[string]any{"score": "ten", "commit": "c"}},
		{name: "score with a fraction", status: 422, body: map[string]any{"score": 1.5, "commit": "c"}},
		{name: "score a boolean", status: 422, body: map[string]any{"score": true, "commit": "c"}},
		{name: "rules_matched not a list", status: 422, body: map[string]any{"rules_matched": "a", "commit": "c"}},
		{name: "rules_matched null", status: 422, body: map[string]any{"rules_matched": nil, "commit": "c"}},
		{name: "rules_matched of numbers", status: 422, body: map[string]any{"rules_matched": []int{1}, "commit": "c"}},
		{name: "inspector_url a number", status: 422, body: map[string]any{"inspector_url": 5, "commit": "c"}},
		{name: "reason null", status: 422, body: map[string]any{"reason": nil}},
	}
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		for _, tc := range rows {
			t.Run(era.String()+"/"+tc.name, func(t *testing.T) {
				s := apitest.New(t, apitest.Options{Era: era})
				s.AddJob("p", "1")
				w := newWorker(t, s)
				j := w.leaseOne()
				body := tc.body
				if m, ok := body.(map[string]any); ok {
					m = map[string]any{"name": "p", "version": "1"}
					for k, v := range tc.body.(map[string]any) {
						m[k] = v
					}
					addLease(m, j)
					body = m
				} else if raw := body.(string); strings.HasPrefix(raw, `{"name":"p"`) && j.AssignmentID != nil {
					body = strings.Replace(raw, `{"name":"p"`, `{"attempt":1,"assignment_id":"`+*j.AssignmentID+`","name":"p"`, 1)
				}
				r := w.put(body)
				if r.status != tc.status {
					t.Fatalf("got %v, want %d", r, tc.status)
				}
				if tc.detail != "" && r.detail() != tc.detail {
					t.Errorf("detail %q, want %q", r.detail(), tc.detail)
				}
				stored, ok := s.Stored("p", "1")
				switch tc.status {
				case 200:
					if string(r.body) != "null" {
						t.Errorf("body %q, want null", r.body)
					}
					if !ok {
						t.Fatal("not stored")
					}
					if tc.stored != nil {
						tc.stored(t, stored)
					}
				case 422:
					if !strings.HasPrefix(string(r.body), `{"detail":[{`) {
						t.Errorf("422 body %s: want a detail list", r.body)
					}
					fallthrough
				default:
					if ok {
						t.Errorf("stored %+v after %d", stored, tc.status)
					}
				}
				results := s.Results()
				if len(results) != 1 || results[0].Status != tc.status {
					t.Errorf("Results = %+v", results)
				}
				if tc.status == 200 {
					// Already finished or failed: 409, in both eras.
					again := w.put(body)
					if again.status != http.StatusConflict || !strings.Contains(again.detail(), "already") {
						t.Errorf("second submission: %v", again)
					}
				}
			})
		}
	}
}

func TestRejectedSubmissionLeavesTheJobLeased(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("p", "1")
	w := newWorker(t, s)
	j := w.leaseOne()
	dup := success(j, 1)
	dup["rules_matched"] = []string{"x", "x"}
	wantStatus(t, "duplicate rules", w.put(dup), http.StatusInternalServerError)
	if st, _ := s.State("p", "1"); st != apitest.StatePending {
		t.Fatalf("state after a 500: %s", st)
	}
	fixed := success(j, 1)
	fixed["rules_matched"] = []string{"x"}
	wantStatus(t, "retry without duplicates", w.put(fixed), http.StatusOK)
}

func TestContentTypeOtherThanJSONIs422(t *testing.T) {
	s := apitest.New(t, apitest.Options{Era: apitest.Era2023})
	s.AddJob("p", "1")
	w := newWorker(t, s)
	r := w.do(http.MethodPut, "/package", `{"name":"p","version":"1","commit":"c"}`, "Content-Type", "text/plain")
	wantStatus(t, "text/plain", r, http.StatusUnprocessableEntity)
}

func TestAssertOneStoredResultPerJobReportsUnfinished(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("done", "1")
	s.AddJob("queued", "1")
	s.AddJob("pending", "1")
	w := newWorker(t, s)
	j := w.leaseOne()
	w.put(success(j, 0))
	w.leaseOne()

	if u := s.Unfinished(); len(u) != 2 || u[0] != (apitest.Key{Name: "queued", Version: "1"}) || u[1].Name != "pending" {
		t.Errorf("Unfinished = %v", u)
	}
	if s.AllFinished() {
		t.Error("AllFinished with two jobs unfinished")
	}
	rec := &recorder{TB: t}
	s.AssertOneStoredResultPerJob(rec)
	if len(rec.errors) != 2 {
		t.Errorf("errors %q", rec.errors)
	}
	if n := len(s.StoredResults()); n != 1 {
		t.Errorf("StoredResults: %d", n)
	}
}
