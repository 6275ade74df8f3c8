package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/auth"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// checkCommand tells an operator whether a worker configured like this one
// would work, without leasing a job: configuration, the mainframe, the
// credentials, and the rules. It prints what it found; on the first step
// that fails it names the step and exits 1.
func checkCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dragonfly check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 30*time.Second, "time limit for the whole check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitFailure
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "dragonfly check takes no arguments; it is configured by the environment (see dragonfly config)")
		return exitFailure
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return runCheck(ctx, stdout)
}

// checkReport prints the steps as they pass, aligned.
type checkReport struct {
	tw *tabwriter.Writer
}

func (r checkReport) ok(step, format string, a ...any) {
	fmt.Fprintf(r.tw, "%s\tok\t%s\n", step, fmt.Sprintf(format, a...))
}

// fail names the failing step and returns the exit code.
func (r checkReport) fail(step string, err error) int {
	fmt.Fprintf(r.tw, "%s\tFAILED\t%s\n", step, strings.TrimPrefix(err.Error(), step+": "))
	r.tw.Flush()
	return 1
}

func runCheck(ctx context.Context, stdout io.Writer) int {
	r := checkReport{tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)}
	defer r.tw.Flush()

	environ, err := loadEnviron()
	if err != nil {
		return r.fail("configuration", err)
	}
	cfg, err := loadRunConfig(environ)
	if err != nil {
		return r.fail("configuration", err)
	}
	r.ok("configuration", "mainframe %s, worker %s, %d threads, %d job slots", cfg.API.BaseURL, cfg.API.WorkerID,
		cfg.Pipeline.Threads, cfg.Pipeline.MaxJobs)
	l := cfg.Limits
	r.ok("limits", "scan size %d, expanded %d, file %d, files %d, depth %d, ratio %d, YARA timeout %v",
		l.MaxScanSize, l.MaxExpandedSize, l.MaxFileSize, l.MaxFiles, l.MaxDepth, l.MaxRatio, l.YaraTimeout)

	// GET / needs no credentials: asked without them, it tells a network
	// or mainframe problem apart from a credentials problem.
	opts := api.Options{Version: buildVersion(), Backoff: api.Backoff{Initial: 200 * time.Millisecond, Max: 2 * time.Second}, MaxAttempts: 3}
	anonymous, err := api.New(cfg.API, nil, opts)
	if err != nil {
		return r.fail("configuration", err)
	}
	info, err := anonymous.Root(ctx)
	if err != nil {
		return r.fail("mainframe", err)
	}
	r.ok("mainframe", "server commit %s, rules commit %s", orNone(info.ServerCommit), orNone(info.RulesCommit))

	creds, err := auth.New(cfg.Auth, auth.Options{BackoffInitial: 200 * time.Millisecond, BackoffMax: 2 * time.Second})
	if err != nil {
		return r.fail("credentials", err)
	}
	client, err := api.New(cfg.API, creds, opts)
	if err != nil {
		return r.fail("configuration", err)
	}
	served, err := client.Rules(ctx)
	var se *api.StatusError
	switch {
	case err != nil && (errors.As(err, &se) && isCredentialStatus(se.Status) || !creds.Ready() || strings.Contains(err.Error(), "auth0")):
		return r.fail("credentials", fmt.Errorf("%s credentials: %w", creds.Kind(), err))
	case err != nil:
		return r.fail("rules", err)
	}
	r.ok("credentials", "%s, accepted", creds.Kind())

	rs, err := rules.Compile(served.Hash, served.Rules)
	if err != nil {
		return r.fail("rules", fmt.Errorf("hash %s does not compile: %w", served.Hash, err))
	}
	defer rs.Close()
	public := 0
	for _, rule := range rs.Rules() {
		if !rule.Private {
			public++
		}
	}
	r.ok("rules", "hash %s: %d files, %d rules, %d compiler warnings", served.Hash, len(served.Rules), public, len(rs.Warnings()))
	return exitOK
}

// isCredentialStatus reports the answers by which a mainframe or its edge
// refuses credentials.
func isCredentialStatus(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden || (status >= 300 && status < 400)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
