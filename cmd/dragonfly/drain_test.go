package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(transferHelperEnv); mode != "" {
		os.Exit(transferHelper(mode, os.Getenv(transferSourceEnv)))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds the dragonfly command once for the tests that run it as a
// process, the way a container runs it.
func binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("DRAGONFLY_TEST_BINARY"); p != "" {
		return p // built by the caller, e.g. to be profiled
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "dragonfly-bin")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "dragonfly")
		args := []string{"build", "-o", binPath}
		if strings.HasPrefix(archive.InflateImpl, "isa-l") {
			args = append(args, "-tags", "isal") // the binary as the test was built
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		t.Fatalf("building the binary: %v", binErr)
	}
	return binPath
}

// startWorker runs "dragonfly run" against s with maxJobs job slots.
func startWorker(t *testing.T, s *apitest.Server, maxJobs string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary(t), "run")
	cmd.Dir = t.TempDir() // no stray .env
	cmd.Env = []string{
		"DRAGONFLY_BASE_URL=" + s.URL,
		"DRAGONFLY_AUTH_MODE=none",
		"DRAGONFLY_HTTP_ADDR=127.0.0.1:0",
		"DRAGONFLY_LOG_FORMAT=json",
		"DRAGONFLY_THREADS=1",
		"DRAGONFLY_MAX_JOBS=" + maxJobs,
		"DRAGONFLY_LOAD_DURATION=1",
		"DRAGONFLY_DRAIN_TIMEOUT=20s",
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, &logs
}

func waitFor(t *testing.T, s *apitest.Server, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitUntil(ctx, cond); err != nil {
		t.Fatalf("condition not reached: %v", err)
	}
}

func exitCode(t *testing.T, cmd *exec.Cmd, logs *bytes.Buffer) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(40 * time.Second):
		t.Fatalf("the worker did not exit; logs:\n%s", logs)
		return -1
	}
}

func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		s.AddJob(name, "1.0", s.AddFile(name+"-1.0.tar.gz", tarGzBytes(t, map[string]string{name + "-1.0/x.py": "pass"})))
	}
	s.Delay(apitest.EndpointFiles, 1500*time.Millisecond) // jobs stay in flight for a while
	cmd, logs := startWorker(t, s, "2")
	// Both slots are taken, so the lease loop waits for one and the two
	// requests in flight are the held downloads.
	waitFor(t, s, func() bool { return len(s.Leases()) == 2 && s.InFlight() == 2 })

	leasesBefore := len(s.RequestsTo(apitest.EndpointJobs))
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	code := exitCode(t, cmd, logs)
	if elapsed := time.Since(start); code != 0 || elapsed > 20*time.Second {
		t.Fatalf("exit %d after %v; logs:\n%s", code, elapsed, logs)
	}
	if n := len(s.RequestsTo(apitest.EndpointJobs)); n != leasesBefore {
		t.Errorf("%d lease requests after the signal", n-leasesBefore)
	}
	leased := s.Leases()
	if len(leased) != 2 {
		t.Fatalf("%d leases", len(leased))
	}
	for _, l := range leased {
		if st, ok := s.Stored(l.Name, l.Version); !ok || st.State != apitest.StateFinished {
			t.Errorf("%s in flight at the signal was not submitted: %+v", l.Name, st)
		}
	}
	if n := len(s.Unfinished()); n != 4 {
		t.Errorf("%d jobs unfinished, want the 4 never leased", n)
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("slow", "1.0", s.AddFile("slow-1.0.tar.gz", tarGzBytes(t, map[string]string{"slow-1.0/x.py": "pass"})))
	s.Delay(apitest.EndpointFiles, time.Hour)
	cmd, logs := startWorker(t, s, "1")
	waitFor(t, s, func() bool { return len(s.Leases()) == 1 && s.InFlight() == 1 }) // the download is held
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Process.Signal(syscall.SIGINT)
	if code := exitCode(t, cmd, logs); code != exitInterrupted {
		t.Fatalf("exit %d; logs:\n%s", code, logs)
	}
	if _, ok := s.Stored("slow", "1.0"); ok {
		t.Error("a job cut short by the second signal was reported")
	}
}

func TestRunConfigurationErrorExitsTwo(t *testing.T) {
	cmd := exec.Command(binary(t), "run")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"DRAGONFLY_AUTH_MODE=none", "DRAGONFLY_BULK_SIZE=many"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitConfig || !bytes.Contains(out, []byte("DRAGONFLY_BULK_SIZE")) {
		t.Fatalf("%v: %s", err, out)
	}
}
