package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vipyrsec/dragonfly-client-go/internal/rulescheck"
)

// "dragonfly rules check" exits exitOK (0) when the rules are clean,
// exitFindings (1) when there are errors (or, with --strict, warnings), and
// exitFailure (2) on a usage error: bad flags, or a DIR that cannot be read.

const rulesUsage = `Usage: dragonfly rules check [--sample PATH]... [--strict] [--budget PCT] [--format text|json] DIR

Checks a folder of YARA rules the way the mainframe and the workers use them:
every .yar and .yara file in DIR compiled as one set (in file-name order, one
namespace), with each file's errors located; libyara's warnings; duplicated
rule names with both locations; the metadata the client scores with (an
integer weight, a filetype of path suffixes, a description); and each public
rule's matching time on sample files, ranked, with a warning for any rule
over the budget.

Samples (--sample, repeatable) are files, archives (flattened: their inner
files are matched, as when scanning) or folders of them. Without --sample:
samples/dist, else samples/src, in the working folder, else a built-in
generated corpus of ordinary Python.

Flags:
  --sample PATH   time rules on PATH (repeatable)
  --strict        exit 1 on warnings too
  --budget PCT    warn about a rule taking over PCT% of the matching time (default 10; 100 turns it off)
  --format F      text (default) or json

Exit codes: 0 clean, 1 errors (with --strict: or warnings), 2 usage error.
`

// rulesCommand runs "dragonfly rules SUBCOMMAND".
func rulesCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return exitFailure
	}
	switch args[0] {
	case "check":
		return rulesCheck(args[1:], stdout, stderr, rulescheck.CostOptions{})
	case "help", "-h", "--help":
		fmt.Fprint(stdout, rulesUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "dragonfly rules: unknown subcommand %q\n\n%s", args[0], rulesUsage)
	return exitFailure
}

type rulesCheckFlags struct {
	samples []string
	strict  bool
	budget  float64
	format  string
	dir     string
}

type rulesStringList []string

func (s *rulesStringList) String() string     { return strings.Join(*s, ",") }
func (s *rulesStringList) Set(v string) error { *s = append(*s, v); return nil }

// parseRulesCheckFlags accepts flags before and after DIR; "--" ends flags.
func parseRulesCheckFlags(args []string, stderr io.Writer) (rulesCheckFlags, error) {
	f := rulesCheckFlags{budget: 10, format: "text"}
	fs := flag.NewFlagSet("dragonfly rules check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var((*rulesStringList)(&f.samples), "sample", "")
	fs.BoolVar(&f.strict, "strict", false, "")
	fs.Float64Var(&f.budget, "budget", 10, "")
	fs.StringVar(&f.format, "format", "text", "")
	dirs, err := parseInterspersed(fs, args)
	if err != nil {
		return f, err
	}
	switch {
	case f.format != "text" && f.format != "json":
		return f, fmt.Errorf("--format must be text or json, got %q", f.format)
	case !(f.budget > 0 && f.budget <= 100):
		return f, fmt.Errorf("--budget must be a percentage above 0 and at most 100, got %g", f.budget)
	case len(dirs) != 1:
		return f, fmt.Errorf("want one DIR, got %d", len(dirs))
	}
	f.dir = dirs[0]
	return f, nil
}

// rulesCheck is "dragonfly rules check"; cost tunes the timing (tests
// shorten it).
func rulesCheck(args []string, stdout, stderr io.Writer, cost rulescheck.CostOptions) int {
	flags, err := parseRulesCheckFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, rulesUsage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly rules check: %v\n\n%s", err, rulesUsage)
		return exitFailure
	}
	files, readFindings, err := rulescheck.ReadDir(flags.dir)
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly rules check: %v\n", err)
		return exitFailure
	}
	var samples *rulescheck.SampleSet
	if len(files) > 0 {
		// Read the samples first: an unreadable --sample is a usage error,
		// found before the work.
		if samples, err = rulescheck.LoadSamples(flags.samples, "."); err != nil {
			fmt.Fprintf(stderr, "dragonfly rules check: %v\n", err)
			return exitFailure
		}
	}
	res := rulescheck.Run(flags.dir, files, readFindings, samples, flags.budget, cost)
	if flags.format == "json" {
		err = res.WriteJSON(stdout)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly rules check: writing the report: %v\n", err)
		return exitFailure
	}
	if res.Errors() > 0 || (flags.strict && res.Warnings() > 0) {
		return exitFindings
	}
	return exitOK
}
