// Command dragonfly is the Dragonfly scanning worker for PyPI and a local
// scanner for distribution files.
//
//	dragonfly run                      work for the mainframe until SIGTERM
//	dragonfly scan [flags] TARGET...   scan files, folders or URLs and report
//	dragonfly check                    check the configuration against the mainframe
//	dragonfly rules check DIR          check a rules folder before it goes live
//	dragonfly config                   print the configuration variables
//	dragonfly version                  print the version, libyara's and the inflate path
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// version is stamped at build time with -ldflags "-X main.version=…"; a
// plain build falls back to the module version or VCS revision.
var version = ""

// Exit codes shared by the subcommands.
const (
	exitOK       = 0
	exitFindings = 1 // scan: a package reached --fail-score
	exitFailure  = 2 // a usage or configuration error, or a failed distribution
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage: dragonfly COMMAND [ARGS]

Commands:
  run     Work as a scanning worker of the Dragonfly mainframe until SIGTERM.
  scan [--rules DIR] [--format table|json|sarif] [--fail-score N] [--threads N] TARGET...
          Scan distribution files, folders of them, or URLs, and report.
  config [--format table|env|markdown]
          Print every configuration variable with its default and meaning.
  check [--timeout 30s]
          Check the configuration, the mainframe, the credentials and the rules, leasing nothing.
  rules check [--sample PATH]... [--strict] [--budget PCT] [--format text|json] DIR
          Compile a rules folder as the mainframe would, lint its metadata, rank rules by cost.
  healthcheck
          Exit 0 when the worker on DRAGONFLY_HTTP_ADDR answers /healthz (for HEALTHCHECK).
  version Print the version, the libyara version it was built with, and its inflate path
          (isa-l when built with the tag isal, else go).

Run "dragonfly COMMAND --help" for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitFailure
	}
	switch args[0] {
	case "scan":
		return scanCommand(args[1:], stdout, stderr)
	case "run":
		return runCommand(args[1:], stdout, stderr)
	case "config":
		return configCommand(args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheckCommand(args[1:], stdout, stderr)
	case "check":
		return checkCommand(args[1:], stdout, stderr)
	case "rules":
		return rulesCommand(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "dragonfly %s (libyara %s, inflate %s)\n", buildVersion(), rules.LibyaraVersion, archive.InflateImpl)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "dragonfly: unknown command %q\n\n%s", args[0], usage)
	return exitFailure
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}
