package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
	"github.com/vipyrsec/dragonfly-client-go/internal/builtin"
	"github.com/vipyrsec/dragonfly-client-go/internal/localscan"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// The daemon's benchmarks run the built binary, as a container does, so
// that its peak RSS is its own. Run them with
//
//	go test -run '^$' -bench Daemon -benchtime 1x ./cmd/dragonfly/
//
// DRAGONFLY_TEST_BINARY runs a binary built beforehand instead, so that a
// profiler (perf record -a) can still resolve its symbols afterwards. The
// environment's DRAGONFLY_ and Go runtime settings reach both commands
// (see tuning).

// benchDist is one distribution of the corpus.
type benchDist struct {
	name string
	data []byte
}

// pythonCorpus packages the Python code installed on the machine (the
// standard library and Debian's dist-packages: real Python code and native
// libraries) as releases of an sdist and a wheel each: every top-level
// package is a release, and the loose modules form releases of 25.
func pythonCorpus(b *testing.B) (releases [][]benchDist, expanded int64) {
	roots, _ := filepath.Glob("/usr/lib/python3.*")
	roots = append(roots, "/usr/lib/python3/dist-packages")
	for i, root := range roots {
		releases, expanded = addPythonRoot(b, root, fmt.Sprintf("r%d_", i), releases, expanded)
	}
	if len(releases) == 0 {
		b.Skip("no Python code on this machine")
	}
	return releases, expanded
}

func addPythonRoot(b *testing.B, root, prefix string, releases [][]benchDist, expanded int64) ([][]benchDist, int64) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return releases, expanded
	}
	var loose []string
	used := map[string]bool{}
	addRelease := func(name string, files map[string][]byte) {
		var sdist, wheel bytes.Buffer
		zw := gzip.NewWriter(&sdist)
		tw := tar.NewWriter(zw)
		ww := zip.NewWriter(&wheel)
		paths := make([]string, 0, len(files))
		for p := range files {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			body := files[p]
			expanded += 2 * int64(len(body))
			tw.WriteHeader(&tar.Header{Name: name + "-1.0/" + p, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)})
			tw.Write(body)
			w, _ := ww.Create(p)
			w.Write(body)
		}
		tw.Close()
		zw.Close()
		ww.Close()
		releases = append(releases, []benchDist{
			{name + "-1.0.tar.gz", sdist.Bytes()},
			{name + "-1.0-py3-none-any.whl", wheel.Bytes()},
		})
	}
	for _, e := range entries {
		full := filepath.Join(root, e.Name())
		switch {
		case e.IsDir() && e.Name() != "__pycache__" && !strings.HasPrefix(e.Name(), "config-") && e.Name() != "site-packages" && e.Name() != "dist-packages":
			files := map[string][]byte{}
			filepath.WalkDir(full, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || strings.Contains(p, "__pycache__") || !d.Type().IsRegular() {
					return nil
				}
				if data, err := os.ReadFile(p); err == nil {
					rel, _ := filepath.Rel(root, p)
					files[rel] = data
				}
				return nil
			})
			if len(files) > 0 {
				addRelease(uniqueName(prefix, e.Name(), used), files)
			}
		case strings.HasSuffix(e.Name(), ".py") || strings.HasSuffix(e.Name(), ".so"):
			loose = append(loose, full)
		}
	}
	for i := 0; i < len(loose); i += 25 {
		files := map[string][]byte{}
		for _, p := range loose[i:min(i+25, len(loose))] {
			if data, err := os.ReadFile(p); err == nil {
				files["mods/"+filepath.Base(p)] = data
			}
		}
		addRelease(fmt.Sprintf("%smodules%02d", prefix, i/25), files)
	}
	return releases, expanded
}

// uniqueName is a release name for a folder of a Python root that no other
// folder of it gets: PyPI's normalisation treats "_yaml" and "yaml" alike,
// and the fake mainframe holds one job per normalised name.
func uniqueName(prefix, folder string, used map[string]bool) string {
	base := prefix + strings.Join(strings.FieldsFunc(strings.ToLower(folder), func(r rune) bool {
		return r == '-' || r == '_' || r == '.'
	}), "_")
	name := base
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	used[name] = true
	return name
}

// peakRSS follows a process's VmHWM (the peak resident set of its own
// address space) until it exits. The rusage of a finished child is no use
// here: Linux counts the parent's peak into a child started by vfork.
func peakRSS(pid int) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return
		}
		defer status.Close()
		buf := make([]byte, 8192)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, ok := vmHWM(status, buf); ok {
				peak.Store(max(peak.Load(), kb*1024))
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); <-finished; return peak.Load() }
}

// vmHWM reads the VmHWM line of an open /proc status file, in kB. It runs
// a hundred times a second next to the processes measured, so it rereads
// one descriptor into one buffer and parses by hand.
func vmHWM(status *os.File, buf []byte) (int64, bool) {
	n, err := status.ReadAt(buf, 0)
	if n == 0 && err != nil {
		return 0, false
	}
	_, rest, found := bytes.Cut(buf[:n], []byte("VmHWM:"))
	if !found {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("kB")))), 10, 64)
	return kb, err == nil
}

// selfCPU is the user and system time this process (the fake mainframe
// and the RSS sampler) has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTime is the user and system time a finished process used.
func cpuTime(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

// tuning is the DRAGONFLY_ settings (other than DRAGONFLY_BENCH_ and
// DRAGONFLY_TEST_) and the Go runtime's (GOMAXPROCS, GOGC, GOMEMLIMIT,
// GODEBUG) of the benchmark's own environment, which both commands get, so
// that a lever can be tried without editing the benchmark. The benchmark's
// own settings come after them and win.
func tuning() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "DRAGONFLY_BENCH_"), strings.HasPrefix(name, "DRAGONFLY_TEST_"):
		case strings.HasPrefix(name, "DRAGONFLY_"), name == "GOMAXPROCS", name == "GOGC", name == "GOMEMLIMIT", name == "GODEBUG":
			env = append(env, kv)
		}
	}
	return env
}

// placement is where the measured commands run and with how many threads.
type placement struct {
	threads int
	cpus    string // a taskset CPU list; "" for wherever the scheduler likes
}

// command runs bin on the placement's CPUs. taskset execs bin, so the
// process measured keeps the pid the benchmark sees.
func (p placement) command(bin string, args ...string) *exec.Cmd {
	if p.cpus == "" {
		return exec.Command(bin, args...)
	}
	return exec.Command("taskset", append([]string{"-c", p.cpus, bin}, args...)...)
}

// runDaemonUntilDone runs "dragonfly run" against s until every job is
// stored, then stops it; it returns the wall time, the peak RSS and the
// finished process.
func runDaemonUntilDone(b *testing.B, s *apitest.Server, p placement, env ...string) (time.Duration, int64, *os.ProcessState) {
	cmd := p.command(binary(b), "run")
	cmd.Dir = b.TempDir()
	cmd.Env = append(append(tuning(), "DRAGONFLY_BASE_URL="+s.URL, "DRAGONFLY_AUTH_MODE=none", "DRAGONFLY_HTTP_ADDR=",
		"DRAGONFLY_LOG_LEVEL=warn", "DRAGONFLY_LOAD_DURATION=1", fmt.Sprintf("DRAGONFLY_THREADS=%d", p.threads)), env...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	rss := peakRSS(cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err := s.WaitUntil(ctx, s.AllFinished)
	elapsed := time.Since(start)
	peak := rss()
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if err != nil {
		b.Fatalf("jobs unfinished: %v\n%s", err, logs.String())
	}
	return elapsed, peak, cmd.ProcessState
}

// BenchmarkDaemonVersusScan measures the pipeline's cost: the same corpus
// through "dragonfly run" against the fake mainframe over loopback and
// through "dragonfly scan" from disk, with the built-in rules, placed two
// ways:
//
//   - cores=shared: both commands on two threads and every CPU, which they
//     share with the fake mainframe, whose own CPU time (serving the files,
//     answering the API) is reported as mainframe-cpu-s;
//   - cores=split: the fake on the last CPU and both commands on the
//     others, with a thread per CPU, as in production, where the mainframe
//     and the file host are other machines. Loopback still charges the
//     receiving side's TCP processing to the sender, the fake: the
//     worker's kernel would do that work for a real network card.
//
// DRAGONFLY_BENCH_CORPUS names a folder of distributions to use instead,
// such as the dfbench corpus (/tmp/dfbench/corpus after scripts/bench/run):
// each release (name and version from the file names) becomes one job, and
// MB/s counts the expanded bytes the scan reports.
func BenchmarkDaemonVersusScan(b *testing.B) {
	var releases [][]benchDist
	var expanded int64
	if dir := os.Getenv("DRAGONFLY_BENCH_CORPUS"); dir != "" {
		releases = folderCorpus(b, dir)
	} else {
		releases, expanded = pythonCorpus(b)
	}
	dir := b.TempDir()
	var dists, compressed int64
	for _, r := range releases {
		for _, d := range r {
			os.WriteFile(filepath.Join(dir, d.name), d.data, 0o644)
			dists++
			compressed += int64(len(d.data))
		}
	}
	b.Logf("corpus: %d releases, %d distributions, %.1f MB compressed, %.1f MB expanded",
		len(releases), dists, float64(compressed)/1e6, float64(expanded)/1e6)
	binary(b) // built before any timing
	b.Run("cores=shared", func(b *testing.B) {
		daemonVersusScan(b, releases, dir, &expanded, placement{threads: 2})
	})
	b.Run("cores=split", func(b *testing.B) {
		p, restore := splitCPUs(b)
		defer restore()
		daemonVersusScan(b, releases, dir, &expanded, p)
	})
}

// splitCPUs moves this process, the fake mainframe, to the last CPU it may
// use and returns a placement on the others; restore undoes the move.
func splitCPUs(b *testing.B) (p placement, restore func()) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		b.Skip("no CPU affinity:", err)
	}
	var cpus []string
	for c := range 1024 {
		if set.IsSet(c) {
			cpus = append(cpus, strconv.Itoa(c))
		}
	}
	if len(cpus) < 2 {
		b.Skip("one CPU: nothing to split")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.Skip("no taskset (util-linux)")
	}
	pin := func(list string) {
		// -a: every thread of the process, not only the main one.
		if out, err := exec.Command("taskset", "-a", "-p", "-c", list, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			b.Fatalf("taskset: %v: %s", err, out)
		}
	}
	pin(cpus[len(cpus)-1])
	workers := cpus[:len(cpus)-1]
	return placement{threads: len(workers), cpus: strings.Join(workers, ",")}, func() { pin(strings.Join(cpus, ",")) }
}

// daemonVersusScan runs the pair b.N times, the scan first in even runs
// and the daemon first in odd ones, so that whatever the first command of
// a pair pays or leaves behind (this VM's host takes freed memory back at
// once, and the next command faults it in again) falls on both alike;
// daemon-first says which order a run had. expanded is filled from the
// first scan's report when the corpus did not say.
//
// The order alternates across -count repetitions too (each runs b.N = 1),
// counted per placement in pairsRun.
func daemonVersusScan(b *testing.B, releases [][]benchDist, dir string, expanded *int64, p placement) {
	hash := rules.SourcesHash(builtin.Sources())
	for range b.N {
		i := pairsRun[b.Name()]
		pairsRun[b.Name()]++
		s := apitest.New(b, apitest.Options{})
		s.SetRules(hash, builtin.Sources())
		for _, r := range releases {
			var urls []string
			for _, d := range r {
				urls = append(urls, s.AddFileFromDisk(d.name, filepath.Join(dir, d.name)))
			}
			name, version, _ := localscan.ParseDistName(r[0].name)
			s.AddJob(name, version, urls...)
		}
		var (
			scanTime, runTime time.Duration
			scanRSS, runRSS   int64
			scanPS, runPS     *os.ProcessState
			fakeCPU           time.Duration
		)
		daemon := func() {
			fakeBefore := selfCPU()
			runTime, runRSS, runPS = runDaemonUntilDone(b, s, p)
			fakeCPU = selfCPU() - fakeBefore
			s.AssertOneStoredResultPerJob(b)
		}
		daemonFirst := i%2 == 1
		if daemonFirst {
			daemon()
		}
		var report []byte
		scanTime, scanRSS, scanPS, report = scanFolder(b, dir, p)
		if !daemonFirst {
			daemon()
		}
		if *expanded == 0 {
			*expanded = expandedOf(b, report)
		}
		floor := measureTransfer(b, dir, p)

		mb := float64(*expanded) / 1e6
		b.ReportMetric(mb/scanTime.Seconds(), "scan-MB/s")
		b.ReportMetric(mb/runTime.Seconds(), "run-MB/s")
		b.ReportMetric(float64(len(releases))/runTime.Seconds(), "run-jobs/s")
		b.ReportMetric(runTime.Seconds()/scanTime.Seconds(), "run/scan-time")
		// CPU time shows the pipeline's own cost, whatever shares the cores.
		b.ReportMetric(cpuTime(runPS).Seconds()/cpuTime(scanPS).Seconds(), "run/scan-cpu")
		b.ReportMetric(fakeCPU.Seconds(), "mainframe-cpu-s")
		// User and system time apart: network input is mostly the kernel's.
		b.ReportMetric(scanPS.UserTime().Seconds(), "scan-user-s")
		b.ReportMetric(scanPS.SystemTime().Seconds(), "scan-sys-s")
		b.ReportMetric(runPS.UserTime().Seconds(), "run-user-s")
		b.ReportMetric(runPS.SystemTime().Seconds(), "run-sys-s")
		b.ReportMetric(float64(s.Connections()), "run-connections")
		b.ReportMetric(float64(scanRSS)/1e6, "scan-peakRSS-MB")
		b.ReportMetric(float64(runRSS)/1e6, "run-peakRSS-MB")
		b.ReportMetric(float64(i%2), "daemon-first")
		b.ReportMetric(floor.download.Seconds(), "plain-download-cpu-s")
		b.ReportMetric(floor.read.Seconds(), "plain-read-cpu-s")
		b.ReportMetric(floor.server.Seconds(), "plain-server-cpu-s")
		// What run/scan-cpu would be for a daemon that added nothing to the
		// scan but moving the bytes over loopback instead of from the page
		// cache.
		b.ReportMetric((cpuTime(scanPS)+floor.download-floor.read).Seconds()/cpuTime(scanPS).Seconds(), "transfer-floor")
	}
}

// transfer is what moving the corpus costs without dragonfly: a plain Go
// client downloading every file from a plain file server over loopback,
// and the same client reading them from the page cache, each in a process
// of its own on the placement's CPUs, and the server in this process,
// where the fake mainframe runs.
type transfer struct{ download, read, server time.Duration }

const (
	transferHelperEnv = "DRAGONFLY_TEST_TRANSFER_HELPER" // "download" or "read": TestMain runs transferHelper
	transferSourceEnv = "DRAGONFLY_TEST_TRANSFER_SOURCE" // the base URL or the folder
)

// measureTransfer measures the floor of the daemon's cost on this machine:
// the CPU time a client without any pipeline spends on the bytes.
func measureTransfer(b *testing.B, dir string, p placement) transfer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go srv.Serve(ln)
	defer srv.Close()
	helper := func(mode, source string) time.Duration {
		cmd := p.command(os.Args[0], "-test.run=^$")
		cmd.Stderr = os.Stderr
		cmd.Env = append(os.Environ(), transferHelperEnv+"="+mode, transferSourceEnv+"="+source)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("transfer helper %s: %v", mode, err)
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(out)))
		if err != nil {
			b.Fatalf("transfer helper %s: %q: %v", mode, out, err)
		}
		return d
	}
	var t transfer
	before := selfCPU()
	t.download = helper("download", "http://"+ln.Addr().String()+"/\n"+dir)
	t.server = selfCPU() - before
	t.read = helper("read", dir)
	return t
}

// transferHelper is the client of measureTransfer, run by TestMain: it
// downloads every file of the folder from base (mode "download", source
// "base URL\nfolder"), four at a time as the daemon's default, or reads
// them (mode "read", source the folder), into buffers reused across files.
// It prints the CPU time the transfer took, without the process's start.
func transferHelper(mode, source string) int {
	base, dir, found := strings.Cut(source, "\n")
	if !found {
		dir = base
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var largest int64
	names := make(chan string, len(entries))
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			largest = max(largest, info.Size())
		}
		names <- e.Name()
	}
	close(names)
	workers := 4
	if mode == "read" {
		workers = 1 // dragonfly scan reads each file on its scanning thread
	}
	// Buffers touched before the clock starts: what is measured is the
	// bytes' way in, not the memory they land in.
	bufs := make([][]byte, workers)
	for i := range bufs {
		bufs[i] = make([]byte, largest)
		for j := 0; j < len(bufs[i]); j += 4096 {
			bufs[i][j] = 1
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	fetch := func(name string, buf []byte) error {
		var body io.ReadCloser
		if mode == "read" {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			body = f
		} else {
			resp, err := client.Get(base + name)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				return fmt.Errorf("%s: %s", name, resp.Status)
			}
			body = resp.Body
		}
		defer body.Close()
		_, err := io.ReadFull(body, buf) // buf holds the largest file
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = nil
		}
		return err
	}
	start := selfCPU()
	errs := make(chan error, workers)
	for _, buf := range bufs {
		go func() {
			for name := range names {
				if err := fetch(name, buf); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println(selfCPU() - start)
	return 0
}

// pairsRun counts the pairs each placement has run in this process, so
// that the order of a pair alternates across -count repetitions.
var pairsRun = map[string]int{}

// scanFolder runs "dragonfly scan" over dir on the placement; it returns
// the wall time, the peak RSS, the finished process and the JSON report.
func scanFolder(b *testing.B, dir string, p placement) (time.Duration, int64, *os.ProcessState, []byte) {
	start := time.Now()
	cmd := p.command(binary(b), "scan", "--threads", strconv.Itoa(p.threads), "--format", "json", dir)
	cmd.Dir = b.TempDir()
	cmd.Env = append(tuning(), "DRAGONFLY_LOG_LEVEL=warn")
	var report bytes.Buffer
	cmd.Stdout = &report
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	rss := peakRSS(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil && cmd.ProcessState.ExitCode() > 1 {
		b.Fatalf("scan: %v", err)
	}
	elapsed := time.Since(start)
	return elapsed, rss(), cmd.ProcessState, report.Bytes() // rss: the last sample before the exit
}

// folderCorpus reads the distributions of dir as releases, grouped by the
// name and version of their file names.
func folderCorpus(b *testing.B, dir string) [][]benchDist {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	byRelease := map[string]int{}
	var releases [][]benchDist
	for _, e := range entries {
		name, version, ok := localscan.ParseDistName(e.Name())
		if !ok || !localscan.HasDistSuffix(e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		key := name + " " + version
		i, seen := byRelease[key]
		if !seen {
			i = len(releases)
			byRelease[key] = i
			releases = append(releases, nil)
		}
		releases[i] = append(releases[i], benchDist{e.Name(), data})
	}
	if len(releases) == 0 {
		b.Skipf("no distributions in %s", dir)
	}
	return releases
}

// expandedOf sums the expanded bytes of a dragonfly scan --format json
// report.
func expandedOf(b *testing.B, report []byte) int64 {
	var rep struct {
		Packages []struct {
			Distributions []struct {
				BytesExpanded int64 `json:"bytes_expanded"`
			}
		}
	}
	if err := json.Unmarshal(report, &rep); err != nil {
		b.Fatalf("scan report: %v", err)
	}
	var n int64
	for _, p := range rep.Packages {
		for _, d := range p.Distributions {
			n += d.BytesExpanded
		}
	}
	return n
}

// BenchmarkDaemonFlood feeds the daemon distributions of the maximum size
// (DRAGONFLY_MAX_SCAN_SIZE, incompressible, so each expands to as much
// again) and reports its peak RSS under two memory budgets.
func BenchmarkDaemonFlood(b *testing.B) {
	binary(b) // built before any timing
	const size = 120_000_000
	payload := make([]byte, size-200)
	rand.Read(payload)
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "blob.bin", Method: zip.Store})
	w.Write(payload)
	zw.Close()
	data := z.Bytes()
	for range b.N {
		for _, budget := range []int64{256 << 20, 805306368} {
			s := apitest.New(b, apitest.Options{})
			for i := range 12 {
				s.AddJob(fmt.Sprintf("flood%02d", i), "1.0", s.AddFile(fmt.Sprintf("flood%02d-1.0-py3-none-any.whl", i), data))
			}
			elapsed, rss, _ := runDaemonUntilDone(b, s, placement{threads: 2}, fmt.Sprintf("DRAGONFLY_MEMORY_BUDGET=%d", budget))
			s.AssertOneStoredResultPerJob(b)
			b.ReportMetric(float64(rss)/1e6, fmt.Sprintf("peakRSS-MB@budget%dMB", budget>>20))
			b.ReportMetric(12*float64(len(data))/1e6/elapsed.Seconds(), fmt.Sprintf("MB/s@budget%dMB", budget>>20))
		}
	}
}
