// Command dfbench is the throughput benchmark of dragonfly scan against the
// references of issue 6: (A) extracting each distribution to /tmp and
// running the yara command-line scanner over it, the upstream client's way,
// and (B) a plain in-memory scanner in Python (scripts/bench/refscan.py)
// that applies the same filetype, nesting and scoring rules, so that its
// findings must equal dragonfly's.
//
//	dfbench corpus --manifest scripts/bench/manifest.txt --out DIR [--quick] [--releases] [--tiny N]
//	dfbench run --corpus DIR [--releases-corpus DIR] [--tiny-corpus DIR] ...
//	dfbench compare DRAGONFLY.json REFSCAN.json
//
// scripts/bench/run is the entry point: it installs what is missing, builds
// the binaries, generates the corpora and runs everything (README
// "Benchmark"). dfbench itself
// does not link libyara, so that its tests run on machines without it.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "corpus":
		return corpusCommand(args[1:], stdout, stderr)
	case "run":
		return runCommand(args[1:], stdout, stderr)
	case "compare":
		return compareCommand(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	}
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  dfbench corpus --manifest FILE --out DIR [--quick] [--releases] [--tiny N] [--reuse]
      write a deterministic corpus of distributions built from the manifest's source roots
  dfbench run --corpus DIR [--releases-corpus DIR] [--tiny-corpus DIR] [--dragonfly BIN] [--refscan PY]
              [--repeat N] [--work DIR] [--json FILE] [--markdown FILE] ...
      measure the references and dragonfly scan; print a Markdown report, write JSON;
      exit 1 when dragonfly's findings differ from the reference's
  dfbench compare DRAGONFLY.json REFSCAN.json
      compare the findings of a dragonfly scan --format json report with refscan.py's output
`)
}
