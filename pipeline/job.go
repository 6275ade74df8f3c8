package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// job is one leased release on its way through the stages.
type job struct {
	api.Job
	received time.Time
	log      *zap.Logger

	// ctx ends at received + JobTimeout, or when the drain runs out.
	ctx    context.Context
	cancel context.CancelFunc

	rs        *rules.RuleSet // the set the job scans with, retained
	releaseRS func()

	mu      sync.Mutex
	dists   []*scan.DistResult // in the job's order
	pending atomic.Int32       // distributions not yet done
}

// setDist records distribution i's outcome and reports whether it was the
// job's last one.
func (j *job) setDist(i int, d *scan.DistResult) bool {
	j.mu.Lock()
	j.dists[i] = d
	j.mu.Unlock()
	return j.pending.Add(-1) == 0
}

// release frees what the job holds once its result is settled.
func (j *job) release() {
	j.cancel()
	if j.releaseRS != nil {
		j.releaseRS()
	}
}

// Abandonment causes, the label of dragonfly_jobs_abandoned_total.
const (
	abandonDownload = "download" // transient download failure, another worker may do better
	abandonDrain    = "drain"    // the worker stopped before the job finished
	abandonLease    = "lease"    // the lease ran out before the result could be sent
	abandonRules    = "rules"    // no rule set could be had before the deadline
)

// settle decides what becomes of a finished job: a result to send, or an
// abandonment (nothing sent; the mainframe leases the job again). Causes
// that would recur on any worker are failures; a worker's own trouble
// (stopping, a flaky network before the last attempt) is not.
func (j *job) settle(draining bool) (api.Result, string) {
	j.mu.Lock()
	dists := j.dists
	j.mu.Unlock()
	lastChance := !j.HasLease() || j.Attempt >= lastAttempt
	for _, d := range dists {
		if d == nil || d.Err == nil {
			continue
		}
		if draining && stoppedByUs(d.Err) {
			return api.Result{}, abandonDrain
		}
		if errors.Is(d.Err, errNoRules) {
			return api.Result{}, abandonRules
		}
		var de *api.DownloadError
		if errors.As(d.Err, &de) && de.Transient && !lastChance {
			return api.Result{}, abandonDownload
		}
	}
	return j.Result(j.rs.Hash(), scan.Compose(j.Name, j.Version, dists)), ""
}

// errNoRules marks a job that ran out of time waiting for a rule set: the
// worker's trouble, not the package's.
var errNoRules = errors.New("no rule set before the job's deadline")

// stoppedByUs reports whether err came from the worker cancelling work, as
// opposed to the package or the network.
func stoppedByUs(err error) bool {
	return errors.Is(err, context.Canceled)
}
