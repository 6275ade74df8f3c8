package pipeline

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// reloadTimeout bounds one fetch-and-compile of the mainframe's rules.
const reloadTimeout = 60 * time.Second

// reloadPause is how long after a reload that did not bring a job's hash
// the next one may run: a mainframe whose jobs and /rules disagree must not
// cause a reload per job.
const reloadPause = 30 * time.Second

// ruleBook holds the rule set in use and swaps it when a job carries another
// hash. Jobs waiting for the same reload share it (singleflight); a reload
// that fails keeps the old set, which goes on scanning.
type ruleBook struct {
	fetch func(context.Context) (api.Rules, error)
	log   *zap.Logger
	m     *Metrics
	now   func() time.Time

	mu        sync.Mutex
	cur       *rules.RuleSet
	pauseTill time.Time
	flight    singleflight.Group
}

// current returns the set in use, nil before the first load.
func (b *ruleBook) current() *rules.RuleSet {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

// load fetches and compiles the mainframe's rules and puts them in use.
// A set that does not compile is logged loudly and the old one kept.
func (b *ruleBook) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	r, err := b.fetch(ctx)
	if err != nil {
		return err
	}
	if cur := b.current(); cur != nil && cur.Hash() == r.Hash {
		return nil
	}
	rs, err := rules.Compile(r.Hash, r.Rules)
	if err != nil {
		b.log.Error("the mainframe's rules do not compile; keeping the rule set in use",
			zap.String("rules_hash", r.Hash), zap.Error(err))
		return err
	}
	b.mu.Lock()
	old := b.cur
	b.cur = rs
	b.mu.Unlock()
	if old != nil {
		b.m.RulesInfo.DeleteLabelValues(old.Hash())
		old.Close() // jobs that retained it keep it alive
	}
	b.m.RulesInfo.WithLabelValues(rs.Hash()).Set(1)
	b.log.Info("rules loaded", zap.String("rules_hash", rs.Hash()), zap.Int("rules", len(rs.Rules())))
	return nil
}

// forJob returns the rule set a job with this hash scans with, retained
// for the job: the current one, after one shared reload when the hash
// differs. It fails only when ctx ends.
func (b *ruleBook) forJob(ctx context.Context, hash string) (*rules.RuleSet, func(), error) {
	b.mu.Lock()
	stale := hash != "" && b.cur.Hash() != hash && !b.now().Before(b.pauseTill)
	b.mu.Unlock()
	if stale {
		// The reload runs on its own context: a waiting job that gives up
		// must not cancel it for the others.
		ch := b.flight.DoChan("reload", func() (any, error) {
			err := b.load(context.WithoutCancel(ctx))
			b.mu.Lock()
			if b.cur.Hash() != hash {
				b.pauseTill = b.now().Add(reloadPause)
			}
			b.mu.Unlock()
			if err != nil {
				b.log.Warn("rules reload failed; scanning with the rule set in use", zap.String("wanted_hash", hash), zap.Error(err))
			}
			return nil, err
		})
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	for {
		rs := b.current()
		release, err := rs.Retain()
		if err == nil {
			return rs, release, nil
		}
		// rs was swapped out and freed between current() and Retain();
		// the next current() is the new set.
	}
}
