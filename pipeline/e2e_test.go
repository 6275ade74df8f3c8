package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
	"github.com/vipyrsec/dragonfly-client-go/auth"
	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/fixture"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	oldHash = "1111111111111111111111111111111111111111"
	newHash = "2222222222222222222222222222222222222222"
)

var (
	oldRules = map[string]string{"markers": `rule evil_marker { meta: weight = 5 filetype = ".py" strings: $a = "EVIL_MARKER" condition: $a }`}
	newRules = map[string]string{"markers": `rule evil_marker_v2 { meta: weight = 7 strings: $a = "EVIL_MARKER" condition: $a }`}
)

// kinds of job in the mixed corpus, with what the mainframe must store.
type kind struct {
	name       string
	dist       func(t testing.TB, s *apitest.Server, pkg string) []string
	wantState  apitest.JobState
	wantScore  int64
	wantReason string // prefix
}

var kinds = []kind{
	{"clean", func(t testing.TB, s *apitest.Server, pkg string) []string {
		return []string{s.AddFile(pkg+"-1.0.tar.gz", fixture.TarGzMap(t, map[string]string{pkg + "-1.0/setup.py": "print('hi')"}))}
	}, apitest.StateFinished, 0, ""},
	{"evil", func(t testing.TB, s *apitest.Server, pkg string) []string {
		return []string{
			s.AddFile(pkg+"-1.0.tar.gz", fixture.TarGzMap(t, map[string]string{pkg + "-1.0/setup.py": "x = 'EVIL_MARKER'"})),
			s.AddFile(pkg+"-1.0-py3-none-any.whl", []byte("PK\x05\x06"+strings.Repeat("\x00", 18))),
		}
	}, apitest.StateFinished, 5, ""},
	{"broken", func(t testing.TB, s *apitest.Server, pkg string) []string {
		whole := fixture.TarGzMap(t, map[string]string{pkg + "-1.0/a.py": strings.Repeat("a", 5000)})
		return []string{s.AddFile(pkg+"-1.0.tar.gz", whole[:len(whole)/2])}
	}, apitest.StateFailed, 0, "malformed: "},
	{"oversize", func(t testing.TB, s *apitest.Server, pkg string) []string {
		return []string{s.AddFile(pkg+"-1.0.tar.gz", bytes.Repeat([]byte{0x1f}, 70_000))}
	}, apitest.StateFailed, 0, "too large: "},
	{"empty", func(t testing.TB, s *apitest.Server, pkg string) []string {
		return []string{s.AddFile(pkg+"-1.0.tar.gz", nil)}
	}, apitest.StateFailed, 0, "unsupported: "},
	{"missing", func(t testing.TB, s *apitest.Server, pkg string) []string {
		return []string{s.FileURL(pkg + "-1.0.tar.gz")}
	}, apitest.StateFailed, 0, "download failed: "},
	{"nodist", func(testing.TB, *apitest.Server, string) []string { return nil }, apitest.StateFailed, 0, "no distributions"},
}

func testConfig() Config {
	c := Config{Threads: 2, MaxJobs: 4, BulkSize: 20, DownloadConcurrency: 2, LoadDuration: 20 * time.Millisecond,
		LeaseDuration: 120 * time.Second, JobTimeout: 60 * time.Second, DrainTimeout: 10 * time.Second, MemoryBudget: 64 << 20}
	if err := c.Resolve(); err != nil {
		panic(err)
	}
	return c
}

func testLimits() archive.Limits {
	l := archive.DefaultLimits()
	l.MaxScanSize = 64_000
	return l
}

// daemon runs a pipeline against s until stopped.
type daemon struct {
	p      *Pipeline
	bodies *countingFetcher
	m      *Metrics
	reg    *prometheus.Registry
	stop   context.CancelFunc
	result chan error
}

// startDaemon starts a daemon with the default optimisations, as "dragonfly
// run" has them.
func startDaemon(t *testing.T, s *apitest.Server, cfg Config, environ map[string]string) *daemon {
	t.Helper()
	return startDaemonWith(t, s, cfg, environ, scan.DefaultSpeed())
}

func startDaemonWith(t *testing.T, s *apitest.Server, cfg Config, environ map[string]string, speed scan.Speed) *daemon {
	t.Helper()
	log := zap.NewNop()
	acfg, err := auth.LoadConfig(environ)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := auth.New(acfg, auth.Options{BackoffInitial: time.Millisecond, BackoffMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	quick := api.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond}
	client, err := api.New(api.Config{BaseURL: s.URL, WorkerID: "w", CallTimeout: 5 * time.Second}, creds, api.Options{Logger: log, Backoff: quick})
	if err != nil {
		t.Fatal(err)
	}
	dl := api.NewDownloader(api.DownloadOptions{MaxBytes: testLimits().MaxScanSize, Backoff: quick})
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	cache := speed.NewCache()
	if cache != nil {
		reg.MustRegister(NewCacheCollector(cache))
	}
	bodies := &countingFetcher{Fetcher: dl}
	p := New(cfg, testLimits(), client, bodies, Options{Logger: log, Backoff: quick, Metrics: m, Speed: speed, Cache: cache})
	d := &daemon{p: p, bodies: bodies, m: m, reg: reg, result: make(chan error, 1)}
	ctx, stop := context.WithCancel(context.Background())
	d.stop = stop
	go func() { d.result <- d.p.Run(ctx) }()
	t.Cleanup(func() { d.shutdown(t) })
	return d
}

func (d *daemon) shutdown(t *testing.T) {
	d.stop()
	if err := <-d.result; err != nil {
		t.Errorf("Run: %v", err)
	}
	d.result <- nil // idempotent
	d.bodies.assertAllFreed(t)
}

// countingFetcher checks the pipeline's side of the Fetcher contract: every
// downloaded body is freed (a mapped one would otherwise leak for good),
// once, by the time Run returns.
type countingFetcher struct {
	Fetcher
	live, freedTwice atomic.Int64
}

func (c *countingFetcher) Download(ctx context.Context, u string) (api.Body, error) {
	b, err := c.Fetcher.Download(ctx, u)
	if err != nil {
		return b, err
	}
	c.live.Add(1)
	var freed atomic.Bool
	return api.NewBody(b.Data, func() {
		if freed.Swap(true) {
			c.freedTwice.Add(1)
			return
		}
		c.live.Add(-1)
		b.Free()
	}), nil
}

func (c *countingFetcher) assertAllFreed(t *testing.T) {
	t.Helper()
	if n, twice := c.live.Load(), c.freedTwice.Load(); n != 0 || twice != 0 {
		t.Errorf("%d downloaded bodies never freed, %d freed twice", n, twice)
	}
}

func waitAllDone(t *testing.T, s *apitest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.WaitUntil(ctx, s.AllFinished); err != nil {
		t.Fatalf("jobs left unfinished: %v", s.Unfinished())
	}
}

func addMixedJobs(t *testing.T, s *apitest.Server, n, offset int) map[string]kind {
	want := map[string]kind{}
	for i := range n {
		k := kinds[i%len(kinds)]
		pkg := fmt.Sprintf("%s%03d", k.name, i+offset)
		s.AddJob(pkg, "1.0", k.dist(t, s, pkg)...)
		want[pkg] = k
	}
	return want
}

func checkStored(t *testing.T, s *apitest.Server, want map[string]kind, hash string) {
	t.Helper()
	s.AssertOneStoredResultPerJob(t)
	for pkg, k := range want {
		got, ok := s.Stored(pkg, "1.0")
		switch {
		case !ok:
			t.Errorf("%s: nothing stored", pkg)
		case got.State != k.wantState || !strings.HasPrefix(got.Reason, k.wantReason):
			t.Errorf("%s: stored %s %q, want %s %q", pkg, got.State, got.Reason, k.wantState, k.wantReason)
		case got.State == apitest.StateFinished && (got.Score != k.wantScore || got.Commit != hash):
			t.Errorf("%s: score %d commit %s, want %d %s", pkg, got.Score, got.Commit, k.wantScore, hash)
		case k.wantScore > 0 && (got.InspectorURL == nil || !strings.HasSuffix(*got.InspectorURL, "/"+pkg+"-1.0/setup.py")):
			t.Errorf("%s: inspector URL %v", pkg, got.InspectorURL)
		}
	}
}

func TestTwoHundredMixedJobsInBothEras(t *testing.T) {
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		t.Run(era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: era})
			s.SetRules(oldHash, oldRules)
			want := addMixedJobs(t, s, 200, 0)
			d := startDaemon(t, s, testConfig(), map[string]string{"DRAGONFLY_AUTH_MODE": "none"})
			waitAllDone(t, s)
			d.shutdown(t)
			checkStored(t, s, want, oldHash)

			// 200 jobs of 7 kinds in turn: clean and evil (29 each) succeed;
			// broken (29), oversize (29), empty, missing and nodist (28 each) fail.
			n := func(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }
			if n(d.m.JobsLeased) != 200 || n(d.m.Results.WithLabelValues("success")) != 58 || n(d.m.Results.WithLabelValues("failure")) != 142 ||
				n(d.m.JobFailures.WithLabelValues("malformed")) != 29 || n(d.m.JobFailures.WithLabelValues("no distributions")) != 28 ||
				n(d.m.JobsInFlight) != 0 || n(d.m.RulesInfo.WithLabelValues(oldHash)) != 1 || n(d.m.BytesScanned) == 0 {
				t.Errorf("metrics: leased %v, success %v, failure %v, malformed %v, in flight %v",
					n(d.m.JobsLeased), n(d.m.Results.WithLabelValues("success")), n(d.m.Results.WithLabelValues("failure")),
					n(d.m.JobFailures.WithLabelValues("malformed")), n(d.m.JobsInFlight))
			}
		})
	}
}

func TestRulesChangeHashMidRun(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.SetRules(oldHash, oldRules)
	first := addMixedJobs(t, s, 14, 0)
	d := startDaemon(t, s, testConfig(), map[string]string{"DRAGONFLY_AUTH_MODE": "none"})
	waitAllDone(t, s)
	checkStored(t, s, first, oldHash)

	s.SetRules(newHash, newRules)
	second := map[string]kind{}
	for pkg, k := range addMixedJobs(t, s, 14, 100) {
		if k.wantScore > 0 {
			k.wantScore = 7 // the new rule weighs 7 and has no filetype
		}
		second[pkg] = k
	}
	waitAllDone(t, s)
	d.shutdown(t)
	checkStored(t, s, second, newHash)
	for pkg := range first {
		if got, _ := s.Stored(pkg, "1.0"); got.State == apitest.StateFinished && got.Commit != oldHash {
			t.Errorf("%s: an earlier result carries %s", pkg, got.Commit)
		}
	}
	evil, _ := s.Stored("evil101", "1.0")
	if strings.Join(evil.RulesMatched, ",") != "evil_marker_v2" {
		t.Errorf("the new rule set was not used: %+v", evil)
	}
	if n := len(s.RequestsTo(apitest.EndpointRules)); n != 2 {
		t.Errorf("%d rule loads, want 2 (start, one reload shared by the waiting jobs)", n)
	}
}

func TestNothingLostNothingStoredTwiceUnderFaults(t *testing.T) {
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		t.Run(era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: era, Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0}})
			s.SetRules(oldHash, oldRules)
			want := addMixedJobs(t, s, 60, 0)
			s.FailNext(apitest.EndpointJobs, 3, 502)
			s.FailNextRetryAfter(apitest.EndpointJobs, 1, 503, "0")
			s.FailNext(apitest.EndpointPackage, 5, 500)
			s.FailNext(apitest.EndpointFiles, 6, 503)
			s.DropNext(apitest.EndpointPackage, 2, true)
			s.DropNext(apitest.EndpointPackage, 2, false)
			s.DelayNext(apitest.EndpointFiles, 4, 50*time.Millisecond)
			environ := map[string]string{
				"DRAGONFLY_AUTH0_DOMAIN": s.Auth0URL, "DRAGONFLY_AUDIENCE": apitest.DefaultAudience,
				"DRAGONFLY_CLIENT_ID": apitest.DefaultClientID, "DRAGONFLY_CLIENT_SECRET": apitest.DefaultClientSecret,
				"DRAGONFLY_USERNAME": apitest.DefaultUsername, "DRAGONFLY_PASSWORD": apitest.DefaultPassword,
			}
			d := startDaemon(t, s, testConfig(), environ)
			// Expire the credentials once work is flowing.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.WaitUntil(ctx, func() bool { return len(s.StoredResults()) >= 20 }); err != nil {
				t.Fatal(err)
			}
			s.ExpireTokens()
			if era == apitest.Era2023 {
				s.RotateSigningKey()
			}
			waitAllDone(t, s)
			d.shutdown(t)
			checkStored(t, s, want, oldHash)
			if s.TokenRequests() < 2 {
				t.Errorf("%d token requests: the credentials were not renewed", s.TokenRequests())
			}
		})
	}
}

func TestBulkSizeAboveTheSlotsNeverLetsALeaseExpire(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.SetRules(oldHash, oldRules)
	want := addMixedJobs(t, s, 40, 0)
	s.Delay(apitest.EndpointFiles, 20*time.Millisecond) // work takes a while
	cfg := testConfig()
	cfg.MaxJobs, cfg.BulkSize = 3, 500
	d := startDaemon(t, s, cfg, map[string]string{"DRAGONFLY_AUTH_MODE": "none"})
	waitAllDone(t, s)
	d.shutdown(t)
	checkStored(t, s, want, oldHash)
	for _, r := range s.RequestsTo(apitest.EndpointJobs) {
		if r.RawQuery != "batch=1" && r.RawQuery != "batch=2" && r.RawQuery != "batch=3" {
			t.Errorf("lease request %q asks for more than the 3 free slots", r.RawQuery)
		}
	}
	for _, l := range s.Leases() {
		// The longest a job may wait is behind the other jobs in flight:
		// far below the 120 s lease.
		if l.Attempt != 1 || l.ResultAt.Sub(l.LeasedAt) > 30*time.Second {
			t.Errorf("lease %+v waited %v", l, l.ResultAt.Sub(l.LeasedAt))
		}
	}
}

// TestFilesSharedByDistributionsAreMatchedOnce: a release's sdist and
// wheels carry the same Python files; with the default optimisations the
// daemon matches them once (cache hits in its metrics) and stores exactly
// what it stores with every optimisation off.
func TestFilesSharedByDistributionsAreMatchedOnce(t *testing.T) {
	rules := map[string]string{"markers": `
rule evil_marker { meta: weight = 5 filetype = ".py" strings: $a = "EVIL_MARKER" condition: $a }
rule native_marker { meta: weight = 3 filetype = ".so" strings: $a = "NATIVE_MARKER" condition: $a }
private rule helper { strings: $h = "HELPER" condition: $h }
rule helped { meta: weight = 1 filetype = ".txt" condition: helper }`}
	stored := map[bool][]apitest.StoredResult{}
	for _, optimised := range []bool{true, false} {
		s := apitest.New(t, apitest.Options{})
		s.SetRules(oldHash, rules)
		for i := range 12 {
			pkg := fmt.Sprintf("shared%02d", i)
			core := strings.Repeat("import os\n", 30)
			if i%3 == 0 {
				core += "x = 'EVIL_MARKER HELPER'\n"
			}
			py := map[string]string{"pkg/core.py": core, "pkg/notes.txt": core, "pkg/util.py": strings.Repeat("# util\n", 40)}
			sdist := map[string]string{}
			for name, body := range py {
				sdist[pkg+"-1.0/"+name] = body
			}
			urls := []string{s.AddFile(pkg+"-1.0.tar.gz", fixture.TarGzMap(t, sdist))}
			for _, plat := range []string{"manylinux_x86_64", "macosx_arm64"} {
				whl := maps.Clone(py)
				whl["pkg/_native.so"] = strings.Repeat(plat, 50)
				if i%4 == 1 {
					whl["pkg/_native.so"] += "NATIVE_MARKER"
				}
				urls = append(urls, s.AddFile(pkg+"-1.0-"+plat+".whl", fixture.ZipMap(t, whl)))
			}
			s.AddJob(pkg, "1.0", urls...)
		}
		speed := scan.Speed{}
		if optimised {
			speed = scan.DefaultSpeed()
		}
		d := startDaemonWith(t, s, testConfig(), map[string]string{"DRAGONFLY_AUTH_MODE": "none"}, speed)
		waitAllDone(t, s)
		d.shutdown(t)
		s.AssertOneStoredResultPerJob(t)
		for i := range 12 {
			got, _ := s.Stored(fmt.Sprintf("shared%02d", i), "1.0")
			got.Identity, got.At, got.Attempt, got.AssignmentID = "", time.Time{}, 0, ""
			stored[optimised] = append(stored[optimised], got)
		}

		hits, err := testutil.GatherAndCount(d.reg, "dragonfly_cache_lookups_total")
		switch {
		case err != nil:
			t.Fatal(err)
		case optimised && hits != 2:
			t.Errorf("cache series %d, want hit and miss", hits)
		case !optimised && hits != 0:
			t.Errorf("cache series exported with the cache off")
		}
		if optimised {
			// 12 jobs of 3 distributions hold 132 files of at least
			// CacheMinFileSize: core.py, notes.txt and util.py in each, a
			// .so in each wheel. They are 9 distinct (bytes, filetype
			// signature) pairs: core.py's two bodies as .py and as .txt,
			// util.py, four .so. Each is missed once, or once per matching
			// goroutine that met it at the same moment; everything else hits.
			mfs, _ := d.reg.Gather()
			got := map[string]map[string]float64{}
			for _, mf := range mfs {
				got[mf.GetName()] = map[string]float64{}
				for _, m := range mf.GetMetric() {
					if len(m.GetLabel()) > 0 {
						got[mf.GetName()][m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
					}
				}
			}
			threads := float64(testConfig().Threads)
			if files := got["dragonfly_cache_lookups_total"]; files["hit"]+files["miss"] != 132 || files["miss"] < 9 || files["miss"] > 9*threads {
				t.Errorf("cache lookups %v, want 132 with 9 to %v misses", files, 9*threads)
			}
			// The wheels' 96 members have 7 distinct compressed forms
			// (core.py's two bodies, also those of notes.txt; util.py;
			// four .so): the rest are known without inflating.
			if members := got["dragonfly_cache_member_lookups_total"]; members["hit"]+members["miss"] != 96 || members["miss"] < 7 || members["miss"] > 7*threads {
				t.Errorf("member lookups %v, want 96 with 7 to %v misses", members, 7*threads)
			}
		}
	}
	if !reflect.DeepEqual(stored[true], stored[false]) {
		t.Errorf("optimised results differ:\n%+v\n%+v", stored[true], stored[false])
	}
	for i, got := range stored[true] {
		want := int64(0)
		if i%3 == 0 {
			want += 5 + 1
		}
		if i%4 == 1 {
			want += 3
		}
		if got.State != apitest.StateFinished || got.Score != want {
			t.Errorf("shared%02d: %s score %d, want %d", i, got.State, got.Score, want)
		}
	}
}
