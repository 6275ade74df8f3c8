package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// runConfig is what dfbench run measures, and with what.
type runConfig struct {
	Corpus, Releases, Tiny string // corpus folders; Releases and Tiny optional
	Dragonfly, Refscan     string
	Rules                  string // the rules folder refscan.py and yarac read: dragonfly's built-in rules
	Python, Yara, Yarac    string
	Work                   string // outputs of the runs, compiled rules, the JSON report
	JSONPath               string
	MarkdownPath           string // the Markdown report, also printed; optional
	DaemonBench            string // go test -bench DaemonVersusScan output; optional
	Repeat                 int
}

// runResult is one line of the report.
type runResult struct {
	Tool        string  `json:"tool"` // "A", "B" or "dragonfly"
	Label       string  `json:"label"`
	Workers     int     `json:"workers"`
	WallSeconds float64 `json:"wall_seconds"` // best of the repeats
	MBPerSec    float64 `json:"mb_per_s"`     // expanded bytes of the corpus / wall time
	DistsPerSec float64 `json:"dists_per_s"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	PeakRSSMB   float64 `json:"peak_rss_mb"` // highest of the repeats
	VsB         float64 `json:"vs_b"`        // MB/s over B's with as many workers
	VsA         float64 `json:"vs_a"`        // MB/s over A's
	Exit        int     `json:"exit"`
	Output      string  `json:"output,omitempty"` // findings file (B, dragonfly)
	Detail      string  `json:"detail,omitempty"`
}

type corpusReport struct {
	Name           string       `json:"name"`
	Dir            string       `json:"dir"`
	Mode           string       `json:"mode"`
	Hash           string       `json:"hash"`
	Distributions  int          `json:"distributions"`
	Bytes          int64        `json:"bytes"`
	Expanded       int64        `json:"expanded_bytes"`
	Members        int64        `json:"members"`
	DuplicateShare float64      `json:"duplicate_share"`
	Runs           []runResult  `json:"runs"`
	Comparisons    []comparison `json:"comparisons"`
}

type targetCheck struct {
	Target string `json:"target"`
	Value  string `json:"value"`
	Met    bool   `json:"met"`
	// Skipped says why the target is not evaluated on this run (a quick
	// corpus too small for it); Met is then false and means nothing.
	Skipped string `json:"skipped,omitempty"`
}

type benchReport struct {
	Date      string            `json:"date"`
	Host      string            `json:"host"`
	CPUs      int               `json:"cpus"`
	Dragonfly string            `json:"dragonfly"`
	Yara      string            `json:"yara"`
	Python    string            `json:"python"`
	Repeat    int               `json:"repeat"`
	Corpora   []*corpusReport   `json:"corpora"`
	Daemon    []daemonPlacement `json:"daemon,omitempty"`
	Targets   []targetCheck     `json:"targets"`
	Identical bool              `json:"findings_identical"`
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dfbench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c runConfig
	fs.StringVar(&c.Corpus, "corpus", "", "the default corpus (dfbench corpus)")
	fs.StringVar(&c.Releases, "releases-corpus", "", "the release-shaped corpus (dfbench corpus --releases)")
	fs.StringVar(&c.Tiny, "tiny-corpus", "", "the tiny-files corpus (dfbench corpus --tiny N)")
	fs.StringVar(&c.Dragonfly, "dragonfly", "bin/dragonfly", "the dragonfly binary")
	fs.StringVar(&c.Refscan, "refscan", "scripts/bench/refscan.py", "the Python reference scanner")
	fs.StringVar(&c.Rules, "rules", "internal/builtin", "rules folder for the references (dragonfly uses its built-in rules)")
	fs.StringVar(&c.Python, "python", "/usr/bin/python3", "Python with yara-python (Debian's python3-yara)")
	fs.StringVar(&c.Yara, "yara", "yara", "the yara command-line scanner")
	fs.StringVar(&c.Yarac, "yarac", "yarac", "the yara rules compiler")
	fs.StringVar(&c.Work, "work", "", "folder for outputs (default: a new folder under /tmp)")
	fs.StringVar(&c.JSONPath, "json", "", "JSON report (default WORK/results.json)")
	fs.StringVar(&c.MarkdownPath, "markdown", "", "also write the Markdown report to this file")
	fs.StringVar(&c.DaemonBench, "daemon-bench", "", "output of go test -bench DaemonVersusScan ./cmd/dragonfly/ to summarise and judge")
	fs.IntVar(&c.Repeat, "repeat", 1, "runs of each measurement; the best wall time is reported")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.Corpus == "" || fs.NArg() > 0 || c.Repeat < 1 {
		fmt.Fprintln(stderr, "usage: dfbench run --corpus DIR [--releases-corpus DIR] [--tiny-corpus DIR] [flags]")
		return 2
	}
	rep, err := runBench(&c, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "dfbench run: %v\n", err)
		return 2
	}
	writeMarkdown(stdout, rep)
	if c.MarkdownPath != "" {
		var md bytes.Buffer
		writeMarkdown(&md, rep)
		if err := os.WriteFile(c.MarkdownPath, md.Bytes(), 0o644); err != nil {
			fmt.Fprintf(stderr, "dfbench run: %v\n", err)
			return 2
		}
		fmt.Fprintf(stdout, "\nMarkdown report: %s", c.MarkdownPath)
	}
	fmt.Fprintf(stdout, "\nJSON report: %s\n", c.JSONPath)
	if !rep.Identical {
		return 1
	}
	return 0
}

// runBench measures everything c names; it fills in c's defaults (work
// folder, JSON path, absolute paths) as it goes.
func runBench(c *runConfig, log io.Writer) (*benchReport, error) {
	if c.Work == "" {
		var err error
		if c.Work, err = os.MkdirTemp("", "dfbench-run-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(c.Work, 0o755); err != nil {
		return nil, err
	}
	if c.JSONPath == "" {
		c.JSONPath = filepath.Join(c.Work, "results.json")
	}
	for _, p := range []*string{&c.Dragonfly, &c.Refscan, &c.Rules, &c.Corpus, &c.Releases, &c.Tiny} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return nil, err
			}
			*p = abs
		}
	}
	rep := &benchReport{Date: time.Now().UTC().Format(time.RFC3339), Host: hostDescription(), CPUs: runtime.NumCPU(),
		Repeat: c.Repeat, Identical: true}
	rep.Dragonfly = firstLine(commandOutput(c.Dragonfly, "version")) + buildTags(c.Dragonfly)
	if v := firstLine(commandOutput(c.Yara, "--version")); v != "" {
		rep.Yara = "yara " + v
	}
	rep.Python = firstLine(commandOutput(c.Python, "-c", "import sys, yara; print('Python ' + sys.version.split()[0] + ', yara-python ' + yara.__version__)"))
	if rep.Python == "" {
		return nil, fmt.Errorf("%s cannot import yara: install python3-yara", c.Python)
	}
	compiled, err := compileRules(*c, log)
	if err != nil {
		return nil, err
	}
	corpora := []struct{ name, dir string }{{"default", c.Corpus}, {"releases", c.Releases}}
	for _, k := range corpora {
		if k.dir == "" {
			continue
		}
		cr, err := benchCorpus(*c, k.name, k.dir, compiled, true, log)
		if err != nil {
			return nil, err
		}
		rep.Corpora = append(rep.Corpora, cr)
	}
	if c.Tiny != "" {
		cr, err := benchCorpus(*c, "tiny", c.Tiny, compiled, false, log)
		if err != nil {
			return nil, err
		}
		rep.Corpora = append(rep.Corpora, cr)
	}
	for _, cr := range rep.Corpora {
		for _, cmp := range cr.Comparisons {
			if len(cmp.Differences) > 0 {
				rep.Identical = false
			}
		}
	}
	if c.DaemonBench != "" {
		f, err := os.Open(c.DaemonBench)
		if err != nil {
			return nil, err
		}
		rep.Daemon, err = parseDaemonBench(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.DaemonBench, err)
		}
	}
	rep.Targets = checkTargets(rep)
	body, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(c.JSONPath, append(body, '\n'), 0o644); err != nil {
		return nil, err
	}
	return rep, nil
}

// compileRules compiles the rules folder with yarac for reference A: every
// file in key order (name without extension, sorted, as dragonfly adds
// them), and none with a NAMESPACE: prefix, so that all go into yarac's one
// default namespace, where a rule may use the rules of earlier files and a
// name defined twice is a compile error, as in dragonfly. Namespaces of
// their own per file would let duplicate names through.
func compileRules(c runConfig, log io.Writer) (string, error) {
	entries, err := os.ReadDir(c.Rules)
	if err != nil {
		return "", err
	}
	type file struct{ key, path string }
	var files []file
	keys := map[string]bool{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yar" && ext != ".yara") {
			continue
		}
		key := strings.TrimSuffix(e.Name(), ext)
		if keys[key] {
			return "", fmt.Errorf("%s: two rules files with the key %q", c.Rules, key)
		}
		keys[key] = true
		files = append(files, file{key, filepath.Join(c.Rules, e.Name())})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].key < files[j].key })
	out := filepath.Join(c.Work, "rules.yarc")
	args := []string{}
	for _, f := range files {
		if strings.Contains(f.path, ":") {
			return "", fmt.Errorf("%s: yarac would read the part before ':' as a namespace", f.path)
		}
		args = append(args, f.path)
	}
	cmd := exec.Command(c.Yarac, append(args, out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("yarac: %v\n%s", err, b)
	}
	fmt.Fprintf(log, "dfbench: compiled %d rules files into %s (one namespace)\n", len(files), out)
	return out, nil
}

// benchCorpus measures every scanner on one corpus and compares findings.
// full adds reference A and the one-worker runs; the tiny-files corpus is a
// single archive, for which only the per-file overhead matters.
func benchCorpus(c runConfig, name, dir, compiled string, full bool, log io.Writer) (*corpusReport, error) {
	idx, err := readIndex(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (generate it with dfbench corpus)", dir, err)
	}
	cr := &corpusReport{Name: name, Dir: dir, Mode: idx.Mode, Hash: idx.Hash, Distributions: idx.Distributions,
		Bytes: idx.Bytes, Expanded: idx.Expanded, Members: idx.Members, DuplicateShare: idx.DuplicateShare}
	var dists []string
	for _, d := range idx.Dists {
		dists = append(dists, filepath.Join(dir, d.File))
	}
	if err := warmCache(dists); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "dfbench: corpus %s: %d distributions, %.1f MB expanded\n", name, idx.Distributions, float64(idx.Expanded)/1e6)

	type job struct {
		tool    string
		workers int
	}
	jobs := []job{{"A", 1}, {"A", 2}, {"B", 1}, {"B", 2}, {"dragonfly", 1}, {"dragonfly", 2}}
	if !full {
		jobs = []job{{"B", 1}, {"dragonfly", 1}, {"dragonfly", 2}}
	}
	results := make([]runResult, len(jobs))
	for round := range c.Repeat {
		for i, j := range jobs {
			r, err := runOne(c, name, dir, dists, compiled, j.tool, j.workers)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "dfbench: %s, %s x%d (round %d): %.2f s, %.0f MB/s, peak RSS %.0f MB\n",
				name, j.tool, j.workers, round+1, r.WallSeconds, float64(idx.Expanded)/1e6/r.WallSeconds, r.PeakRSSMB)
			if round == 0 || r.WallSeconds < results[i].WallSeconds {
				r.PeakRSSMB = max(r.PeakRSSMB, results[i].PeakRSSMB)
				results[i] = r
			} else {
				results[i].PeakRSSMB = max(results[i].PeakRSSMB, r.PeakRSSMB)
			}
		}
	}
	computeRates(results, idx.Expanded, idx.Distributions)
	cr.Runs = results

	// Findings: every dragonfly run and the one-process reference against
	// the reference with the most workers.
	var ref *runResult
	for i := range results {
		if results[i].Tool == "B" {
			ref = &results[i]
		}
	}
	for i := range results {
		r := &results[i]
		if r == ref || r.Output == "" {
			continue
		}
		cmp, err := compareRuns(r, ref)
		if err != nil {
			return nil, err
		}
		cr.Comparisons = append(cr.Comparisons, cmp)
	}
	return cr, nil
}

// compareRuns compares the findings of run r with those of the reference.
func compareRuns(r, ref *runResult) (comparison, error) {
	f, err := os.Open(ref.Output)
	if err != nil {
		return comparison{}, err
	}
	defer f.Close()
	refOut, err := readRefscan(f)
	if err != nil {
		return comparison{}, err
	}
	want := findingsOf(refOut.Distributions)
	var got map[string]findings
	g, err := os.Open(r.Output)
	if err != nil {
		return comparison{}, err
	}
	defer g.Close()
	if r.Tool == "dragonfly" {
		dd, err := readDragonflyReport(g)
		if err != nil {
			return comparison{}, err
		}
		got = findingsOf(dd)
	} else {
		out, err := readRefscan(g)
		if err != nil {
			return comparison{}, err
		}
		got = findingsOf(out.Distributions)
	}
	cmp := compareFindings(got, want)
	cmp.Left = fmt.Sprintf("%s (%d %s)", r.Label, r.Workers, workerNoun(r.Tool, r.Workers))
	cmp.Right = fmt.Sprintf("%s (%d %s)", ref.Label, ref.Workers, workerNoun(ref.Tool, ref.Workers))
	return cmp, nil
}

func workerNoun(tool string, n int) string {
	switch {
	case tool == "dragonfly" && n == 1:
		return "thread"
	case tool == "dragonfly":
		return "threads"
	case n == 1:
		return "process"
	}
	return "processes"
}

// runOne runs one scanner once over the corpus.
func runOne(c runConfig, corpus, dir string, dists []string, compiled, tool string, workers int) (runResult, error) {
	r := runResult{Tool: tool, Workers: workers}
	var cmd *exec.Cmd
	var stdout *os.File
	switch tool {
	case "A":
		r.Label = "A: extract to /tmp + yara CLI"
		return runA(c, r, dists, compiled)
	case "B":
		r.Label = "B: refscan.py, in memory"
		r.Output = filepath.Join(c.Work, fmt.Sprintf("%s-refscan-%d.json", corpus, workers))
		cmd = exec.Command(c.Python, c.Refscan, "--rules", c.Rules, "--procs", strconv.Itoa(workers), "--out", r.Output, dir)
	case "dragonfly":
		r.Label = "dragonfly scan"
		r.Output = filepath.Join(c.Work, fmt.Sprintf("%s-dragonfly-%d.json", corpus, workers))
		var err error
		if stdout, err = os.Create(r.Output); err != nil {
			return r, err
		}
		defer stdout.Close()
		cmd = exec.Command(c.Dragonfly, "scan", "--format", "json", "--threads", strconv.Itoa(workers), dir)
		cmd.Stdout = stdout
	}
	cmd.Dir = c.Work // no .env there
	cmd.Env = cleanEnv("DRAGONFLY_LOG_LEVEL=warn")
	m, err := measure(cmd)
	if err != nil {
		return r, fmt.Errorf("%s: %w", r.Label, err)
	}
	fill(&r, m)
	// dragonfly exits 1 when a package scores: findings are expected here.
	if (tool == "B" && m.Exit != 0) || (tool == "dragonfly" && m.Exit > 1) {
		return r, fmt.Errorf("%s exited %d:\n%s", r.Label, m.Exit, tail(m.Stderr, 2000))
	}
	return r, nil
}

func fill(r *runResult, m measurement) {
	r.WallSeconds = m.Wall.Seconds()
	r.CPUSeconds = m.CPU.Seconds()
	r.PeakRSSMB = float64(m.PeakRSS) / 1e6
	r.Exit = m.Exit
}

// aScript handles one distribution for reference A: extract it into a fresh
// folder under /tmp with the system's tar or unzip, match the folder with
// the yara command-line scanner (compiled rules, no symlinks followed,
// recursive, one thread), remove the folder. It prints the distribution,
// the extraction's exit code and the number of rule matches (before
// filetype: the yara CLI knows no filetype).
const aScript = `set -u
dist=$1
dir=$(mktemp -d /tmp/dfbench-a.XXXXXX)
case "$dist" in
*.zip|*.whl|*.egg) unzip -qq -o "$dist" -d "$dir" >/dev/null 2>&1 ;;
*) tar -xf "$dist" -C "$dir" >/dev/null 2>&1 ;;
esac
rc=$?
n=$("$DFBENCH_YARA" -C -N -r -p 1 "$DFBENCH_RULES" "$dir" 2>/dev/null | wc -l)
rm -rf "$dir"
printf '%s\t%s\t%s\n' "$dist" "$rc" "$n"
`

// runA runs reference A: xargs keeps two distributions in flight, as two
// workers would.
func runA(c runConfig, r runResult, dists []string, compiled string) (runResult, error) {
	script := filepath.Join(c.Work, "a-one.sh")
	if err := os.WriteFile(script, []byte(aScript), 0o755); err != nil {
		return r, err
	}
	list := strings.Join(dists, "\x00")
	cmd := exec.Command("xargs", "-0", "-P", strconv.Itoa(r.Workers), "-n", "1", "bash", script)
	cmd.Stdin = strings.NewReader(list)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Dir = c.Work
	cmd.Env = cleanEnv("DFBENCH_YARA="+c.Yara, "DFBENCH_RULES="+compiled)
	m, err := measure(cmd)
	if err != nil {
		return r, fmt.Errorf("%s: %w", r.Label, err)
	}
	fill(&r, m)
	if m.Exit != 0 {
		return r, fmt.Errorf("%s exited %d:\n%s", r.Label, m.Exit, tail(m.Stderr, 2000))
	}
	done, failed, matches := 0, 0, 0
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			continue
		}
		done++
		if f[1] != "0" {
			failed++
		}
		n, _ := strconv.Atoi(strings.TrimSpace(f[2]))
		matches += n
	}
	if done != len(dists) {
		return r, fmt.Errorf("%s: %d of %d distributions reported", r.Label, done, len(dists))
	}
	r.Detail = fmt.Sprintf("%d rule matches before filetype; %d extractions failed", matches, failed)
	return r, nil
}

// cleanEnv is the environment without DRAGONFLY_* settings of the caller,
// which would change what is measured, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DRAGONFLY_") && !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// warmCache reads every distribution once, so that the first scanner
// measured does not pay for the disk.
func warmCache(files []string) error {
	buf := make([]byte, 1<<20)
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(io.Discard, f, buf)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// buildTags names the build tags a Go binary was built with (such as the
// C inflate of deploy/build.sh), as " (tags: ...)", or "" when none.
func buildTags(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key == "-tags" && s.Value != "" {
			return " (build tags: " + s.Value + ")"
		}
	}
	return ""
}

func commandOutput(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func hostDescription() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%s, %d CPUs, Linux %s", model, runtime.NumCPU(), strings.TrimSpace(string(kernel)))
}

// computeRates fills in the throughputs of the runs over a corpus of
// expanded bytes in dists distributions, and their ratios to the
// references: to the reference run with as many workers, else to the first
// reference run.
func computeRates(results []runResult, expanded int64, dists int) {
	mb := float64(expanded) / 1e6
	rate := func(tool string, workers int) float64 {
		for _, r := range results {
			if r.Tool == tool && (workers == 0 || r.Workers == workers) {
				return r.MBPerSec
			}
		}
		return 0
	}
	for i := range results {
		r := &results[i]
		if r.WallSeconds <= 0 {
			continue
		}
		r.MBPerSec = mb / r.WallSeconds
		r.DistsPerSec = float64(dists) / r.WallSeconds
	}
	for i := range results {
		r := &results[i]
		if b := rate("B", r.Workers); b > 0 {
			r.VsB = r.MBPerSec / b
		} else if b := rate("B", 0); b > 0 {
			r.VsB = r.MBPerSec / b
		}
		if a := rate("A", r.Workers); a > 0 {
			r.VsA = r.MBPerSec / a
		} else if a := rate("A", 0); a > 0 {
			r.VsA = r.MBPerSec / a
		}
	}
}
