package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/auth"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
	"github.com/vipyrsec/dragonfly-client-go/pipeline"
)

// Exit codes of "dragonfly run" (docs/operating.md). Each cause has
// its own, so that an operator reading a pod's last state can tell a bug in
// the worker from a bad setting or a hurried shutdown.
const (
	exitInterrupted = 1 // a second signal cut the drain short
	exitConfig      = 2 // the configuration is wrong
	exitBroken      = 3 // a stage of the pipeline is broken (pipeline.Run's error)
)

// runCommand is the daemon: it works until SIGTERM or SIGINT, drains, and
// exits 0; a second signal exits 1 at once. A broken pipeline exits 3 at
// once: the worker cannot mend itself, and its supervisor (Kubernetes, the
// compose restart policy) starts a fresh one, while the mainframe leases
// the jobs it abandoned again.
func runCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "dragonfly run takes no arguments; it is configured by the environment (see dragonfly config)\n")
		return exitConfig
	}
	environ, err := loadEnviron()
	if err == nil {
		var cfg runConfig
		if cfg, err = loadRunConfig(environ); err == nil {
			return runDaemon(cfg, stderr, signals())
		}
	}
	fmt.Fprintf(stderr, "dragonfly run: %v\n", err)
	return exitConfig
}

// memoryLimit is the Go runtime's soft memory limit for a memory budget:
// the budget, a quarter more for what the budget does not count (scanner
// buffers taken while it was spent, parsing, the runtime), the content
// cache's bound and 64 MiB for the program itself.
func memoryLimit(budget, cache int64) int64 { return budget + budget/4 + cache + 64<<20 }

// signals delivers SIGTERM and SIGINT.
func signals() <-chan os.Signal {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	return ch
}

func runDaemon(cfg runConfig, stderr io.Writer, sigs <-chan os.Signal) int {
	log, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly run: %v\n", err)
		return exitConfig
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush to stderr
	log = log.With(zap.String("worker_id", cfg.API.WorkerID))

	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		// Without a limit the Go heap grows to twice what is live before
		// collecting, so a worker holding its whole budget would use twice
		// it. The limit makes the collector work harder near the budget.
		debug.SetMemoryLimit(memoryLimit(cfg.Pipeline.MemoryBudget, cfg.Speed.CacheSize))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := pipeline.NewMetrics(reg)
	metrics.BuildInfo.WithLabelValues(buildVersion(), rules.LibyaraVersion).Set(1)

	creds, err := auth.New(cfg.Auth, auth.Options{Logger: log, OnRenewal: func(outcome string) {
		metrics.CredentialRenewals.WithLabelValues(outcome).Inc()
	}})
	if err != nil {
		log.Error("credentials", zap.Error(err))
		return exitConfig
	}
	client, err := api.New(cfg.API, creds, api.Options{Version: buildVersion(), Logger: log})
	if err != nil {
		log.Error("mainframe client", zap.Error(err))
		return exitConfig
	}
	dl := api.NewDownloader(api.DownloadOptions{MaxBytes: cfg.Limits.MaxScanSize,
		UserAgent: api.UserAgent(buildVersion(), cfg.API.WorkerID), Logger: log})
	cache := cfg.Speed.NewCache()
	if cache != nil {
		reg.MustRegister(pipeline.NewCacheCollector(cache))
	}
	p := pipeline.New(cfg.Pipeline, cfg.Limits, client, dl,
		pipeline.Options{Logger: log, Metrics: metrics, Speed: cfg.Speed, Cache: cache})

	log.Info("starting", zap.String("version", buildVersion()), zap.String("libyara", rules.LibyaraVersion),
		zap.String("credentials", string(creds.Kind())), zap.String("base_url", cfg.API.BaseURL),
		zap.Any("pipeline", cfg.Pipeline), zap.Any("limits", cfg.Limits), zap.Any("speed", cfg.Speed), zap.Object("auth", cfg.Auth),
		zap.String("http_addr", cfg.HTTPAddr))

	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			log.Error("DRAGONFLY_HTTP_ADDR cannot be served", zap.Error(err))
			return exitConfig
		}
		srv := &http.Server{Handler: pipeline.Handler(reg, func() error {
			switch {
			case !p.Ready():
				return errors.New("rules not loaded yet")
			case !creds.Ready():
				return errors.New("credentials rejected or not obtained")
			}
			return nil
		}), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at shutdown
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(ctx) //nolint:errcheck // the process is ending
		}()
	}

	stop, cancelStop := context.WithCancel(context.Background())
	defer cancelStop()
	interrupted := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			log.Info("signal received: draining; a second signal exits at once", zap.String("signal", s.String()))
			cancelStop()
		case <-stop.Done():
			return
		}
		if s, ok := <-sigs; ok {
			log.Warn("second signal: exiting without finishing the jobs in flight", zap.String("signal", s.String()))
			close(interrupted)
		}
	}()

	result := make(chan error, 1)
	go func() { result <- p.Run(stop) }()
	select {
	case err := <-result:
		return runExit(log, err)
	case <-interrupted:
		return exitInterrupted
	}
}

// runExit is the exit code once pipeline.Run has returned err: 0 after a
// drain, exitBroken when a stage broke. Run's error is never a job's or the
// mainframe's failure (those are results and retries), so it is logged as
// an error and exits non-zero, for the worker to be replaced.
func runExit(log *zap.Logger, err error) int {
	if err != nil {
		log.Error("the pipeline stopped", zap.Error(err))
		return exitBroken
	}
	log.Info("drained; exiting")
	return exitOK
}
