package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// measurement is one timed run of a command and its descendants.
type measurement struct {
	Wall time.Duration
	// CPU is user plus system time of the process and of the descendants
	// it waited for (wait4's rusage covers both).
	CPU time.Duration
	// PeakRSS: see rssSampler.
	PeakRSS int64
	Exit    int
	Stderr  string
}

// measure runs cmd to its end, sampling the memory of its process tree.
// It does not use the rusage peak (ru_maxrss): a child started by a large Go
// process can report the parent's resident set as its own, and for a tree
// it is the largest single process, not the sum.
func measure(cmd *exec.Cmd) (measurement, error) {
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, err
	}
	sampler := startRSSSampler(cmd.Process.Pid, 10*time.Millisecond)
	err := cmd.Wait()
	m := measurement{Wall: time.Since(start), PeakRSS: sampler.stop(), Stderr: stderr.String()}
	if cmd.ProcessState != nil {
		m.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		m.Exit = cmd.ProcessState.ExitCode()
	}
	if _, ok := err.(*exec.ExitError); ok {
		err = nil // the caller judges exit codes
	}
	return m, err
}

// rssSampler follows the memory of a process tree until stopped. Its peak
// is the larger of two figures: the highest sum of the resident sets
// (VmRSS) of the tree's processes seen at one sample, and the highest
// single peak (VmHWM) of any one of them. For one process the second is
// exact whatever the sampling rate; for a tree of workers the first counts
// what they hold together (pages shared after a fork counted in each, as
// RSS does).
type rssSampler struct {
	done     chan struct{}
	finished chan struct{}
	mu       sync.Mutex
	peak     int64
}

func startRSSSampler(root int, every time.Duration) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(s.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.sample(root)
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) sample(root int) {
	var sum, hwm int64
	for _, pid := range processTree(root) {
		rss, peak, ok := memoryOf(pid)
		if !ok {
			continue
		}
		sum += rss
		hwm = max(hwm, peak)
	}
	s.mu.Lock()
	s.peak = max(s.peak, sum, hwm)
	s.mu.Unlock()
}

// stop ends the sampling and returns the peak in bytes.
func (s *rssSampler) stop() int64 {
	close(s.done)
	<-s.finished
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// processTree lists root and its living descendants, from the children
// files of every thread (a child belongs to the thread that forked it).
func processTree(root int) []int {
	out := []int{root}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					out = append(out, pid)
				}
			}
		}
	}
	return out
}

// memoryOf reads VmRSS and VmHWM of a process, in bytes. A zombie has
// neither, and is skipped.
func memoryOf(pid int) (rss, hwm int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		key, value, found := strings.Cut(line, ":")
		if !found || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		if key == "VmRSS" {
			rss, ok = kb*1024, true
		} else {
			hwm = kb * 1024
		}
	}
	return rss, hwm, ok
}
