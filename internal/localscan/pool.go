package localscan

import (
	"context"
	"math"
	"os"
	"sort"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// Options are the settings of [ScanAll].
type Options struct {
	// Threads is the number of distributions scanned at once; it must be
	// positive.
	Threads int
	// BufferBudget bounds each thread's large file buffers, pooled across
	// the threads (see archive.BufferBudget); 0 turns the bound off.
	BufferBudget int64
	Limits       archive.Limits
	Speed        scan.Speed
}

// ScanAll scans the targets on opt.Threads goroutines, one scanner each,
// and returns the results in target order. A target that cannot be
// fetched is a failed distribution; the error is a scanner's that could
// not be made, or ctx's.
func ScanAll(ctx context.Context, rs *rules.RuleSet, opt Options, targets []string, fetch Fetch, log *zap.Logger) ([]*scan.DistResult, error) {
	results := make([]*scan.DistResult, len(targets))
	next := make(chan int)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(next)
		for _, i := range dispatchOrder(targets) {
			select {
			case next <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	so := scan.Options{Limits: opt.Limits, Speed: opt.Speed, Cache: opt.Speed.NewCache()}
	if opt.BufferBudget > 0 {
		threads := int64(opt.Threads)
		so.Budget = archive.NewBufferBudget(min(opt.BufferBudget, math.MaxInt64/threads) * threads)
	}
	var prefiltered atomic.Int64 // files the prefilter answered for libyara
	for range min(opt.Threads, len(targets)) {
		g.Go(func() error {
			s, err := scan.New(rs, so)
			if err != nil {
				return err
			}
			defer s.Close()
			defer func() { prefiltered.Add(s.Prefiltered()) }()
			for i := range next {
				results[i] = scanTarget(ctx, s, targets[i], fetch)
				logDist(log, results[i])
			}
			return nil
		})
	}
	err := g.Wait()
	log.Debug("prefilter", zap.Int64("files_skipped", prefiltered.Load()))
	if so.Cache != nil {
		st := so.Cache.Stats()
		log.Debug("content cache", zap.Int64("hits", st.Hits), zap.Int64("misses", st.Misses),
			zap.Int64("member_hits", st.MemberHits), zap.Int64("member_misses", st.MemberMisses),
			zap.Int64("evictions", st.Evictions), zap.Int("entries", st.Entries), zap.Int64("bytes", st.Bytes))
	}
	return results, err
}

// dispatchOrder returns the order in which to hand targets to the
// scanners: URLs first as given (their size is unknown and downloads
// overlap scanning), then local files largest first, so that a large
// distribution does not start last and leave the other threads idle while
// it finishes. The report keeps the targets' own order.
func dispatchOrder(targets []string) []int {
	order := make([]int, len(targets))
	size := make([]int64, len(targets))
	for i, t := range targets {
		order[i] = i
		size[i] = math.MaxInt64
		if !IsURL(t) {
			if st, err := os.Stat(t); err == nil {
				size[i] = st.Size()
			}
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return size[order[a]] > size[order[b]] })
	return order
}

// scanTarget fetches and scans one target; a target that cannot be
// fetched is a failed distribution, not a failed run.
func scanTarget(ctx context.Context, s *scan.Scanner, target string, fetch Fetch) *scan.DistResult {
	data, free, err := fetch(ctx, target)
	if err != nil {
		return &scan.DistResult{Target: target, Err: err, RulesHash: s.RuleSet().Hash()}
	}
	defer free()
	return s.Scan(ctx, target, data)
}

func logDist(log *zap.Logger, d *scan.DistResult) {
	fields := []zap.Field{zap.String("target", ShownTarget(d.Target)), zap.Int64("score", d.Score),
		zap.Int64("files", d.FilesScanned), zap.Int64("bytes_expanded", d.BytesExpanded)}
	if d.Err != nil {
		log.Warn("distribution failed", append(fields, zap.String("reason", d.Err.Error()))...)
		return
	}
	log.Debug("distribution scanned", fields...)
}
