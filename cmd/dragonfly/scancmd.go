package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/internal/builtin"
	"github.com/vipyrsec/dragonfly-client-go/internal/localscan"
	"github.com/vipyrsec/dragonfly-client-go/internal/report"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
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
	var err error
	if f.targets, err = parseInterspersed(fs, args); err != nil {
		return f, err
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

	targets, err := localscan.ExpandTargets(flags.targets)
	if err != nil {
		log.Error("bad target", zap.Error(err))
		return exitFailure
	}
	log.Info("scanning", zap.Int("distributions", len(targets)), zap.String("rules", label),
		zap.String("rules_hash", rs.Hash()), zap.Int("threads", cfg.Threads))

	dl := api.NewDownloader(api.DownloadOptions{MaxBytes: cfg.Limits.MaxScanSize,
		UserAgent: api.UserAgent(version, ""), Logger: log})
	fetch := localscan.NewFetch(dl, flags.timeout, cfg.Limits.MaxScanSize)
	opt := localscan.Options{Threads: cfg.Threads, BufferBudget: cfg.BufferBudget, Limits: cfg.Limits, Speed: cfg.Speed}
	dists, err := localscan.ScanAll(context.Background(), rs, opt, targets, fetch, log)
	if err != nil {
		log.Error("scan failed", zap.Error(err))
		return exitFailure
	}
	rep := report.Build(rs, targets, dists)
	code := exitOK
	switch {
	case rep.Reached(flags.failScore):
		code = exitFindings
	case rep.Failed():
		code = exitFailure
	}
	switch flags.format {
	case "json":
		err = rep.WriteJSON(stdout)
	case "sarif":
		err = rep.WriteSARIF(stdout, rs, report.SARIFOptions{FailScore: flags.failScore, ExitCode: code, ToolVersion: buildVersion()})
	default:
		err = rep.WriteTable(stdout, label)
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
