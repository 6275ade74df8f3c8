package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// daemonTargetRatio is the daemon target of issue 6: dragonfly run end to
// end within 10% of dragonfly scan's time on the same corpus.
const daemonTargetRatio = 1.10

// daemonPlacement is one placement of BenchmarkDaemonVersusScan
// (cmd/dragonfly), summarised by the medians of its runs: this VM's
// figures drift between runs, and a median is what a claim can rest on.
type daemonPlacement struct {
	Placement string  `json:"placement"` // "shared" or "split"
	Runs      int     `json:"runs"`
	WallRatio float64 `json:"run_scan_time"` // dragonfly run's wall time / dragonfly scan's
	CPURatio  float64 `json:"run_scan_cpu"`
	// TransferFloor is the run/scan CPU ratio of a client that only moved
	// the bytes over loopback instead of from the page cache: what no
	// daemon on this machine can go under. 0 when not measured.
	TransferFloor float64 `json:"transfer_floor"`
	FakeCPU       float64 `json:"mainframe_cpu_s"` // the fake mainframe's CPU time per run
	RunMBs        float64 `json:"run_mb_s"`
	ScanMBs       float64 `json:"scan_mb_s"`
}

var (
	daemonBenchLine = regexp.MustCompile(`^BenchmarkDaemonVersusScan/cores=(\w+)`)
	benchMetric     = regexp.MustCompile(`([0-9.eE+-]+) (\S+)`)
)

// parseDaemonBench reads the output of go test -bench DaemonVersusScan and
// returns one summary per placement, in the order they first appear.
func parseDaemonBench(r io.Reader) ([]daemonPlacement, error) {
	type samples map[string][]float64
	var order []string
	byPlacement := map[string]samples{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := daemonBenchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s := byPlacement[m[1]]
		if s == nil {
			s = samples{}
			byPlacement[m[1]] = s
			order = append(order, m[1])
		}
		// Fields after the name: iterations, then "value unit" pairs.
		_, rest, _ := strings.Cut(sc.Text(), "\t")
		for _, kv := range benchMetric.FindAllStringSubmatch(rest, -1) {
			v, err := strconv.ParseFloat(kv[1], 64)
			if err == nil {
				s[kv[2]] = append(s[kv[2]], v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []daemonPlacement
	for _, name := range order {
		s := byPlacement[name]
		if len(s["run/scan-time"]) == 0 {
			return nil, fmt.Errorf("placement %s: no run/scan-time metric", name)
		}
		out = append(out, daemonPlacement{Placement: name, Runs: len(s["run/scan-time"]),
			WallRatio: median(s["run/scan-time"]), CPURatio: median(s["run/scan-cpu"]), TransferFloor: median(s["transfer-floor"]),
			FakeCPU: median(s["mainframe-cpu-s"]), RunMBs: median(s["run-MB/s"]), ScanMBs: median(s["scan-MB/s"])})
	}
	return out, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// daemonTarget judges the daemon target on every placement measured: the
// fake mainframe on the worker's cores (shared) penalises the worker with
// the server's work, and on a CPU of its own (split) it flatters it with
// the receiving side's loopback TCP, so neither alone settles it.
func daemonTarget(ps []daemonPlacement) targetCheck {
	t := targetCheck{Target: fmt.Sprintf("daemon end to end within %.0f%% of dragonfly scan, every placement", 100*(daemonTargetRatio-1))}
	if len(ps) == 0 {
		t.Skipped = "not measured (BenchmarkDaemonVersusScan; scripts/bench/run passes it with --daemon-bench)"
		return t
	}
	t.Met = true
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s %.3fx", p.Placement, p.WallRatio))
		if p.WallRatio > daemonTargetRatio {
			t.Met = false
		}
	}
	t.Value = strings.Join(parts, ", ") + " (medians)"
	return t
}

// writeDaemonMarkdown prints the daemon benchmark's table.
func writeDaemonMarkdown(w io.Writer, ps []daemonPlacement) {
	fmt.Fprintf(w, "\n### The daemon against dragonfly scan\n\n")
	fmt.Fprintf(w, "BenchmarkDaemonVersusScan on the default corpus: dragonfly run against a fake mainframe on loopback, then dragonfly scan from disk. "+
		"shared: both commands on two threads beside the fake; split: the fake on a CPU of its own, the commands on the others, a thread per CPU. "+
		"Transfer floor: the run/scan CPU of a plain client that only downloads the corpus (over loopback, instead of reading it from the page cache). Medians.\n\n")
	fmt.Fprintln(w, "| placement | runs | run/scan wall | run/scan CPU | transfer floor | fake mainframe CPU s | run MB/s | scan MB/s |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range ps {
		floor := "not measured"
		if p.TransferFloor > 0 {
			floor = fmt.Sprintf("%.3f", p.TransferFloor)
		}
		fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %s | %.2f | %.1f | %.1f |\n", p.Placement, p.Runs, p.WallRatio, p.CPURatio, floor, p.FakeCPU, p.RunMBs, p.ScanMBs)
	}
}
