package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/builtin"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/membuf"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

type scanFlags struct {
	rules     string
	format    string
	failScore int64
	threads   int
	timeout   time.Duration
	targets   []string
}

// parseScanFlags accepts flags before and after targets; "--" ends flags.
func parseScanFlags(args []string, stderr io.Writer) (scanFlags, error) {
	var f scanFlags
	fs := flag.NewFlagSet("dragonfly scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.rules, "rules", "", "folder of .yar/.yara files to use instead of the built-in rules")
	fs.StringVar(&f.format, "format", "table", "report format: table, json or sarif")
	fs.Int64Var(&f.failScore, "fail-score", 1, "exit 1 when a package's score reaches this")
	fs.IntVar(&f.threads, "threads", 0, "distributions scanned at once (default $DRAGONFLY_THREADS or one per CPU)")
	fs.DurationVar(&f.timeout, "download-timeout", 2*time.Minute, "time limit for fetching one URL target, retries included")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: dragonfly scan [flags] TARGET...\n\nTARGET is a distribution file (.tar.gz .tgz .tar.bz2 .tar.xz .zip .whl .egg),\na folder (searched recursively for those) or an http(s) URL.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	for {
		if err := fs.Parse(args); err != nil {
			return f, err
		}
		rest := fs.Args()
		consumed := args[:len(args)-len(rest)]
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			f.targets = append(f.targets, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		f.targets = append(f.targets, rest[0])
		args = rest[1:]
	}
	switch {
	case f.format != "table" && f.format != "json" && f.format != "sarif":
		return f, fmt.Errorf("--format must be table, json or sarif, got %q", f.format)
	case f.timeout <= 0:
		return f, fmt.Errorf("--download-timeout must be positive, got %v", f.timeout)
	case f.threads < 0:
		return f, fmt.Errorf("--threads must be positive, got %d", f.threads)
	case len(f.targets) == 0:
		fs.Usage()
		return f, errors.New("no targets given")
	}
	return f, nil
}

func scanCommand(args []string, stdout, stderr io.Writer) int {
	flags, err := parseScanFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly scan: %v\n", err)
		return exitFailure
	}
	environ, err := loadEnviron()
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly scan: %v\n", err)
		return exitFailure
	}
	cfg, err := loadScanConfig(environ)
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly scan: %v\n", err)
		return exitFailure
	}
	if flags.threads > 0 {
		cfg.Threads = flags.threads
	}
	log, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly scan: %v\n", err)
		return exitFailure
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush to stderr

	rs, label, err := loadRules(flags.rules)
	if err != nil {
		log.Error("rules did not load", zap.Error(err))
		return exitFailure
	}
	defer rs.Close()

	targets, err := expandTargets(flags.targets)
	if err != nil {
		log.Error("bad target", zap.Error(err))
		return exitFailure
	}
	log.Info("scanning", zap.Int("distributions", len(targets)), zap.String("rules", label),
		zap.String("rules_hash", rs.Hash()), zap.Int("threads", cfg.Threads))

	dl := api.NewDownloader(api.DownloadOptions{MaxBytes: cfg.Limits.MaxScanSize,
		UserAgent: api.UserAgent(version, ""), Logger: log})
	fetch := func(ctx context.Context, target string) ([]byte, func(), error) {
		if isURL(target) {
			ctx, cancel := context.WithTimeout(ctx, flags.timeout)
			defer cancel()
			body, err := dl.Download(ctx, target)
			return body.Data, body.Free, err
		}
		return readFile(target, cfg.Limits.MaxScanSize)
	}
	dists, err := scanAll(context.Background(), rs, cfg, targets, fetch, log)
	if err != nil {
		log.Error("scan failed", zap.Error(err))
		return exitFailure
	}
	rep := buildReport(rs, targets, dists)
	code := rep.exitCode(flags.failScore)
	switch flags.format {
	case "json":
		err = rep.writeJSON(stdout)
	case "sarif":
		err = rep.writeSARIF(stdout, rs, flags.failScore, code)
	default:
		err = rep.writeTable(stdout, label)
	}
	if err != nil {
		log.Error("writing the report", zap.Error(err))
		return exitFailure
	}
	return code
}

// loadRules returns the rule set of dir, or the built-in one.
func loadRules(dir string) (*rules.RuleSet, string, error) {
	if dir == "" {
		rs, err := rules.Compile("", builtin.Sources())
		return rs, "built-in", err
	}
	rs, err := rules.LoadDir(dir)
	return rs, dir, err
}

// expandTargets replaces each folder by the distribution files under it,
// in lexical order. Files named explicitly are taken whatever their name:
// the format is sniffed from their bytes.
func expandTargets(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if isURL(a) {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && scan.HasDistSuffix(d.Name()) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: no distribution files (%s) in this folder", a, strings.Join(scan.DistSuffixes, " "))
		}
	}
	return out, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// stripQuery drops a URL's query string and fragment, which may hold a
// signature and are no part of a file name.
func stripQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 && isURL(s) {
		return s[:i]
	}
	return s
}

// fetchFunc reads a target's bytes: a local file or a URL. free releases
// them once the distribution is scanned.
type fetchFunc func(ctx context.Context, target string) (data []byte, free func(), err error)

// scanAll scans the targets on cfg.Threads goroutines, one scanner each,
// and returns the results in target order.
func scanAll(ctx context.Context, rs *rules.RuleSet, cfg scanConfig, targets []string, fetch fetchFunc, log *zap.Logger) ([]*scan.DistResult, error) {
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
	opt := scan.Options{Limits: cfg.Limits, Speed: cfg.Speed, Cache: cfg.Speed.NewCache()}
	if cfg.BufferBudget > 0 {
		threads := int64(cfg.Threads)
		opt.Budget = archive.NewBufferBudget(min(cfg.BufferBudget, math.MaxInt64/threads) * threads)
	}
	var prefiltered atomic.Int64 // files the prefilter answered for libyara
	for range min(cfg.Threads, len(targets)) {
		g.Go(func() error {
			s, err := scan.New(rs, opt)
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
	if opt.Cache != nil {
		st := opt.Cache.Stats()
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
		if !isURL(t) {
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
func scanTarget(ctx context.Context, s *scan.Scanner, target string, fetch fetchFunc) *scan.DistResult {
	data, free, err := fetch(ctx, target)
	if err != nil {
		return &scan.DistResult{Target: target, Err: err, RulesHash: s.RuleSet().Hash()}
	}
	defer free()
	return s.Scan(ctx, target, data)
}

// readFile reads a local distribution, refusing one over limit bytes,
// into a buffer outside the Go heap (see membuf) that free returns at once.
func readFile(target string, limit int64) (data []byte, free func(), err error) {
	f, err := os.Open(target)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() > limit {
		return nil, nil, failure.ArchiveTooLarge(st.Size(), limit)
	}
	if !st.Mode().IsRegular() {
		// A pipe (dragonfly scan <(curl ...)) has no size to allocate.
		data, err := io.ReadAll(io.LimitReader(f, limit+1))
		if err == nil && int64(len(data)) > limit {
			err = failure.ArchiveTooLarge(int64(len(data)), limit)
		}
		return data, func() {}, err
	}
	// One byte more than the size tells a file that grew since Stat.
	buf, err := membuf.Alloc(int(st.Size()) + 1)
	if err != nil {
		return nil, nil, err
	}
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		membuf.Free(buf)
		return nil, nil, fmt.Errorf("%s grew while it was read", target)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return buf[:n], func() { membuf.Free(buf) }, nil
	default:
		membuf.Free(buf)
		return nil, nil, err
	}
}

func logDist(log *zap.Logger, d *scan.DistResult) {
	fields := []zap.Field{zap.String("target", stripQuery(d.Target)), zap.Int64("score", d.Score),
		zap.Int64("files", d.FilesScanned), zap.Int64("bytes_expanded", d.BytesExpanded)}
	if d.Err != nil {
		log.Warn("distribution failed", append(fields, zap.String("reason", d.Err.Error()))...)
		return
	}
	log.Debug("distribution scanned", fields...)
}
