package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// Mainframe is what the daemon asks of the mainframe; *api.Client is one.
type Mainframe interface {
	Rules(ctx context.Context) (api.Rules, error)
	Lease(ctx context.Context, n int) ([]api.Job, error)
	Submit(ctx context.Context, r api.Result) (api.Delivery, error)
}

// Fetcher downloads a distribution; *api.Downloader is one. The pipeline
// frees every body it is given.
type Fetcher interface {
	Download(ctx context.Context, url string) (api.Body, error)
}

// Pipeline is the daemon. Build it with New and start it with Run.
type Pipeline struct {
	cfg     Config
	limits  archive.Limits
	mf      Mainframe
	fetcher Fetcher
	log     *zap.Logger
	m       *Metrics
	rules   *ruleBook
	budget  *semaphore.Weighted
	speed   scan.Speed
	cache   *scan.Cache
	backoff api.Backoff
	ready   atomic.Bool
	now     func() time.Time
}

// Options are the parts tests and the command choose.
type Options struct {
	Logger  *zap.Logger
	Metrics *Metrics    // nil: unregistered metrics
	Backoff api.Backoff // lease and rule-loading retries; zero: api.DefaultBackoff
	// Speed switches the scanners' optimisations; the zero value turns
	// rule plans off. Cache is the content cache every scanner shares
	// (nil: none), made by the caller so that it can export its metrics.
	Speed scan.Speed
	Cache *scan.Cache
}

// New builds a daemon over the mainframe mf. cfg must have been resolved.
func New(cfg Config, lim archive.Limits, mf Mainframe, fetcher Fetcher, o Options) *Pipeline {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Backoff == (api.Backoff{}) {
		o.Backoff = api.DefaultBackoff
	}
	p := &Pipeline{cfg: cfg, limits: lim, mf: mf, fetcher: fetcher, log: o.Logger, m: o.Metrics,
		budget: semaphore.NewWeighted(cfg.MemoryBudget), speed: o.Speed, cache: o.Cache, backoff: o.Backoff, now: time.Now}
	p.rules = &ruleBook{fetch: mf.Rules, log: o.Logger, m: o.Metrics, now: time.Now}
	return p
}

// Ready reports whether the daemon can scan: its rules are loaded.
func (p *Pipeline) Ready() bool { return p.ready.Load() }

// blob is one downloaded distribution waiting to be matched.
type blob struct {
	j       *job
	i       int
	data    []byte
	release func() // returns the bytes to the memory budget
}

// Run works until stop ends, then drains: it sends no new lease request
// (one already sent completes and its jobs count as in flight), finishes
// and submits what is in flight within DrainTimeout, and returns nil. Jobs
// still unfinished at that point are logged and left to the mainframe,
// which leases them again.
//
// Run returns an error only for a broken pipeline: a stage hit an internal
// error that no job owns (see guard). It then returns at once, without
// waiting for stop: the other stages are cancelled as when the drain times
// out, so that the jobs in flight are abandoned to the mainframe, and the
// error names the stage. A failure of one job (a download, an archive, a
// panic while working on its distributions) or of the mainframe (retried)
// is never an error of Run: it would stop a worker that can go on.
func (p *Pipeline) Run(stop context.Context) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(stop))
	defer cancelWork()
	var draining atomic.Bool
	go func() {
		select {
		case <-stop.Done():
		case <-work.Done():
			return
		}
		draining.Store(true)
		p.log.Info("draining: no new leases; finishing the jobs in flight", zap.Duration("drain_timeout", p.cfg.DrainTimeout))
		t := time.NewTimer(p.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			p.log.Warn("drain timeout: abandoning the jobs still in flight")
			cancelWork()
		case <-work.Done():
		}
	}()

	if err := p.loadRules(stop); err != nil {
		return nil // stopped before the rules loaded: nothing was leased
	}
	defer p.rules.current().Close()

	// A stage's function returns an error only when the stage is broken;
	// the errgroup then cancels ctx, which every stage and every job
	// watches, and Wait returns that first error once all have ended.
	g, ctx := errgroup.WithContext(work)
	slots := make(chan struct{}, p.cfg.MaxJobs)
	jobs := make(chan *job, p.cfg.MaxJobs)
	blobs := make(chan blob, p.cfg.Threads)
	done := make(chan *job, p.cfg.MaxJobs)
	// broken hands a broken stage's error to the errgroup at once. The
	// stages with many goroutines use it instead of returning: the
	// goroutine that hit the error goes on draining its channel (the jobs
	// now see ctx cancelled and are abandoned), so that no job is stranded
	// in a channel nobody reads, with its body never freed.
	broken := func(err error) { g.Go(func() error { return err }) }

	// Each stage closes the channel it feeds when its last goroutine ends,
	// so a drain, or a cancellation, flows through the stages in order.
	g.Go(func() error {
		defer close(jobs)
		return guard("lease", p.log, func() { p.lease(stop, ctx, slots, jobs) })
	})
	g.Go(func() error {
		defer close(blobs)
		fanOut(p.cfg.DownloadConcurrency, func() {
			for j := range jobs {
				if err := guard("download", j.log, func() { p.download(ctx, j, blobs, done) }); err != nil {
					broken(err)
				}
			}
		})
		return nil
	})
	g.Go(func() error {
		defer close(done)
		fanOut(p.cfg.Threads, func() { p.match(blobs, done, broken) })
		return nil
	})
	g.Go(func() error {
		fanOut(p.cfg.MaxJobs, func() {
			for j := range done {
				err := guard("submit", j.log, func() {
					defer func() { <-slots }()
					p.submit(ctx, j, draining.Load())
				})
				if err != nil {
					broken(err)
				}
			}
		})
		return nil
	})
	return g.Wait()
}

// guard runs f, a piece of the named stage's work, and turns a panic that
// escapes it into the error that breaks the pipeline, logged with its
// stack. The panics a job owns never reach it: recoverJob fails that job
// and the worker goes on, since a package that trips a bug in a parser
// would otherwise take down every worker it is leased to. What does reach
// it is the worker's own machinery failing (the lease loop, a submit, a
// scanner's upkeep, freeing a body): retrying cannot mend that, and going
// on could strand jobs or their memory, so the worker stops and exits
// non-zero, and its supervisor starts a fresh one.
func guard(stage string, log *zap.Logger, f func()) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		log.Error("internal error; the pipeline is broken and stops", zap.String("stage", stage),
			zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
		if e, ok := v.(error); ok {
			err = fmt.Errorf("internal error in the %s stage: %w", stage, e)
		} else {
			err = fmt.Errorf("internal error in the %s stage: %v", stage, v)
		}
	}()
	f()
	return nil
}

// fanOut runs n copies of f and waits for them.
func fanOut(n int, f func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(f)
	}
	wg.Wait()
}

// loadRules loads the first rule set, retrying with backoff until it loads
// or stop ends. The worker is not ready meanwhile.
func (p *Pipeline) loadRules(stop context.Context) error {
	bo := p.backoff.NewBackOff()
	for {
		err := p.rules.load(stop)
		if err == nil {
			p.ready.Store(true)
			return nil
		}
		p.m.MainframeErrors.WithLabelValues("rules").Inc()
		wait := bo.NextBackOff()
		p.log.Warn("rules did not load; retrying", zap.Duration("wait", wait), zap.Error(err))
		if api.Sleep(stop, wait) != nil {
			return stop.Err()
		}
	}
}

// lease asks for as many jobs as there are free slots (at most BulkSize):
// at once when a slot frees while work flows, after LoadDuration with
// jitter when the mainframe had none, with backoff when it failed. After
// stop it sends nothing more; a request already sent completes (on ctx,
// which outlives stop) and its jobs are worked on. It returns nothing: a
// failed lease is the mainframe's trouble and is retried, never a reason to
// stop the worker.
func (p *Pipeline) lease(stop, ctx context.Context, slots chan struct{}, jobs chan<- *job) {
	bo := p.backoff.NewBackOff()
	for {
		select {
		case slots <- struct{}{}:
		case <-stop.Done():
			return
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < p.cfg.BulkSize {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		if stop.Err() != nil {
			freeSlots(slots, n)
			return
		}
		start := time.Now()
		leased, err := p.mf.Lease(ctx, n)
		p.m.StageDuration.WithLabelValues("lease").Observe(time.Since(start).Seconds())
		freeSlots(slots, n-len(leased))
		var wait time.Duration
		switch {
		case err != nil:
			p.m.MainframeErrors.WithLabelValues("lease").Inc()
			wait = bo.NextBackOff()
			var se *api.StatusError
			if errors.As(err, &se) {
				wait = max(wait, se.RetryAfter)
			}
			p.log.Warn("lease failed; retrying", zap.Duration("wait", wait), zap.Error(err))
		case len(leased) == 0:
			bo.Reset()
			wait = jitter(p.cfg.LoadDuration)
			p.log.Debug("no jobs queued", zap.Duration("wait", wait))
		default:
			bo.Reset()
		}
		for _, aj := range leased {
			p.m.JobsLeased.Inc()
			p.m.JobsInFlight.Inc()
			jobs <- p.newJob(ctx, aj) // never blocks: the channel holds MaxJobs
		}
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-stop.Done():
				return
			case <-ctx.Done():
				return
			}
		}
	}
}

func freeSlots(slots chan struct{}, n int) {
	for range n {
		<-slots
	}
}

// jitter spreads d over [0.75d, 1.25d), so that workers started together do
// not ask together.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1))
}

func (p *Pipeline) newJob(ctx context.Context, aj api.Job) *job {
	received := p.now()
	jctx, cancel := context.WithDeadline(ctx, received.Add(p.cfg.JobTimeout))
	fields := []zap.Field{zap.String("name", aj.Name), zap.String("version", aj.Version)}
	if aj.HasLease() {
		fields = append(fields, zap.Int("attempt", aj.Attempt))
	}
	j := &job{Job: aj, received: received, ctx: jctx, cancel: cancel,
		log: p.log.With(fields...), dists: make([]*scan.DistResult, len(aj.Distributions))}
	j.pending.Store(int32(len(aj.Distributions)))
	return j
}

// download picks the job's rule set and fetches its distributions one by
// one into memory, handing each to the matchers. A distribution that
// cannot be fetched is recorded as failed; the others are still scanned,
// so that a failure never hides a detection.
func (p *Pipeline) download(ctx context.Context, j *job, blobs chan<- blob, done chan<- *job) {
	defer p.recoverJob(j, done, "download")
	rs, release, err := p.rules.forJob(j.ctx, j.Hash)
	if err != nil {
		// No rule set before the deadline: nothing can be scanned.
		j.rs = p.rules.current()
		for i, u := range j.Distributions {
			j.setDist(i, &scan.DistResult{Target: u, Err: fmt.Errorf("%w: %w", errNoRules, err)})
		}
		done <- j
		return
	}
	j.rs, j.releaseRS = rs, release
	j.log = j.log.With(zap.String("rules_hash", rs.Hash()))
	if len(j.Distributions) == 0 {
		done <- j
		return
	}
	for i, u := range j.Distributions {
		start := time.Now()
		data, free, err := p.fetch(j.ctx, u)
		p.m.StageDuration.WithLabelValues("download").Observe(time.Since(start).Seconds())
		if err != nil {
			j.log.Info("distribution not downloaded", zap.String("url", api.SafeURL(u)), zap.Error(err))
			if j.setDist(i, &scan.DistResult{Target: u, Err: err, RulesHash: rs.Hash()}) {
				done <- j
			}
			continue
		}
		select {
		case blobs <- blob{j: j, i: i, data: data, release: free}:
		case <-ctx.Done():
			free()
			if j.setDist(i, &scan.DistResult{Target: u, Err: ctx.Err(), RulesHash: rs.Hash()}) {
				done <- j
			}
		}
	}
}

// fetch downloads u within the memory budget: the reservation is the
// largest allowed archive while the download runs, then its actual size.
// The bytes may be mapped outside the heap: free, which returns them and
// their reservation, must be called on every path, and they must not be
// used afterwards.
func (p *Pipeline) fetch(ctx context.Context, u string) ([]byte, func(), error) {
	reserve := min(p.limits.MaxScanSize, p.cfg.MemoryBudget)
	if err := p.budget.Acquire(ctx, reserve); err != nil {
		return nil, nil, &api.DownloadError{URL: api.SafeURL(u), Transient: true, Err: err}
	}
	body, err := p.fetcher.Download(ctx, u)
	if err != nil {
		p.budget.Release(reserve)
		return nil, nil, err
	}
	data := body.Data
	p.m.BytesDownloaded.Add(float64(len(data)))
	held := min(int64(len(data)), reserve)
	p.budget.Release(reserve - held)
	var once sync.Once
	return data, func() {
		once.Do(func() {
			body.Free()
			p.budget.Release(held)
		})
	}, nil
}

// match flattens and matches distributions, one scanner per goroutine and
// rule set. A panic that escapes a job's recovery (freeing a body, closing
// a scanner) is reported to broken, and the goroutine goes on reading blobs
// so that each is freed.
func (p *Pipeline) match(blobs <-chan blob, done chan<- *job, broken func(error)) {
	scanners := map[*rules.RuleSet]*scan.Scanner{}
	defer func() {
		if err := guard("match", p.log, func() {
			for _, s := range scanners {
				s.Close()
			}
		}); err != nil {
			broken(err)
		}
	}()
	for b := range blobs {
		if err := guard("match", b.j.log, func() { p.matchOne(scanners, b, done) }); err != nil {
			broken(err)
		}
	}
}

func (p *Pipeline) matchOne(scanners map[*rules.RuleSet]*scan.Scanner, b blob, done chan<- *job) {
	defer b.release()
	defer p.recoverJob(b.j, done, "match")
	u := b.j.Distributions[b.i]
	s := scanners[b.j.rs]
	if s == nil {
		// A new rule set: drop the scanners of sets no longer in use.
		for rs, old := range scanners {
			if rs != p.rules.current() {
				old.Close()
				delete(scanners, rs)
			}
		}
		var err error
		// Large file buffers come from the memory budget, which makes the
		// downloads wait.
		opt := scan.Options{Limits: p.limits, Speed: p.speed, Cache: p.cache, Budget: p.budget}
		if s, err = scan.New(b.j.rs, opt); err != nil {
			if b.j.setDist(b.i, &scan.DistResult{Target: u, Err: err, RulesHash: b.j.rs.Hash()}) {
				done <- b.j
			}
			return
		}
		scanners[b.j.rs] = s
	}
	start := time.Now()
	d := s.Scan(b.j.ctx, u, b.data)
	p.m.StageDuration.WithLabelValues("match").Observe(time.Since(start).Seconds())
	p.m.BytesScanned.Add(float64(d.BytesExpanded))
	if d.Err != nil {
		b.j.log.Info("distribution failed", zap.String("url", api.SafeURL(u)), zap.Error(d.Err))
	}
	if b.j.setDist(b.i, d) {
		done <- b.j
	}
}

// recoverJob turns a panic in a stage into a failed distribution of the job
// that caused it, so that one hostile package cannot take the worker down:
// stopping for it (as guard does for the worker's own machinery) would
// restart every worker the package is leased to, and abandon their other
// jobs each time, for a package that fails the same way everywhere.
func (p *Pipeline) recoverJob(j *job, done chan<- *job, stage string) {
	v := recover()
	if v == nil {
		return
	}
	j.log.Error("panic while working on a job; failing it", zap.String("stage", stage),
		zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
	err := fmt.Errorf("%w: internal error in the %s stage", failure.ErrMalformed, stage)
	last := false
	for i, u := range j.Distributions {
		j.mu.Lock()
		unset := j.dists[i] == nil
		j.mu.Unlock()
		if unset {
			last = j.setDist(i, &scan.DistResult{Target: u, Err: err})
		}
	}
	if last || len(j.Distributions) == 0 {
		done <- j
	}
}

// submit settles a job and sends its result while the lease lasts.
func (p *Pipeline) submit(ctx context.Context, j *job, draining bool) {
	defer p.m.JobsInFlight.Dec()
	defer j.release()
	if j.rs == nil {
		j.rs = p.rules.current()
	}
	res, abandon := j.settle(draining || ctx.Err() != nil)
	if abandon != "" {
		p.m.JobsAbandoned.WithLabelValues(abandon).Inc()
		j.log.Warn("job abandoned; the mainframe will lease it again", zap.String("cause", abandon))
		return
	}
	sctx, cancel := context.WithDeadline(ctx, j.received.Add(p.cfg.LeaseDuration-submitMargin))
	defer cancel()
	start := time.Now()
	d, err := p.mf.Submit(sctx, res)
	p.m.StageDuration.WithLabelValues("submit").Observe(time.Since(start).Seconds())
	var se *api.StatusError
	switch {
	case err == nil:
		outcome := "success"
		fields := []zap.Field{zap.Int("attempts", d.Attempts)}
		if res.Failed() {
			outcome = "failure"
			p.m.JobFailures.WithLabelValues(failureClass(res.Class)).Inc()
			fields = append(fields, zap.String("reason", res.Reason))
		} else {
			fields = append(fields, zap.Int64("score", res.Score), zap.Strings("rules_matched", res.RulesMatched))
		}
		p.m.Results.WithLabelValues(outcome).Inc()
		j.log.Info("result sent", append(fields, zap.String("outcome", outcome))...)
	case errors.As(err, &se) && se.Final:
		p.m.ResultsRejected.WithLabelValues(strconv.Itoa(se.Status)).Inc()
		j.log.Warn("the mainframe refused the result", zap.Error(err))
	default:
		cause := abandonLease
		if draining || ctx.Err() != nil {
			cause = abandonDrain
		}
		p.m.JobsAbandoned.WithLabelValues(cause).Inc()
		p.m.MainframeErrors.WithLabelValues("submit").Inc()
		j.log.Warn("result not delivered before the lease ran out; the mainframe will lease the job again",
			zap.String("cause", cause), zap.Error(err))
	}
}

// failureClass names a failure's class for metrics: "other" for a cause
// that carries none.
func failureClass(class error) string {
	if class == nil {
		return "other"
	}
	return class.Error()
}
