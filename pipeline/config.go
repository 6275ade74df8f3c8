package pipeline

import (
	"fmt"
	"runtime"
	"time"
)

// Config is the daemon's part of the environment (docs/operating.md
// § Configuration). The doc tags feed "dragonfly config".
type Config struct {
	Threads             int           `env:"DRAGONFLY_THREADS" envDefault:"0" doc:"matching goroutines; 0 means one per CPU available to the process (container limit honoured)"`
	MaxJobs             int           `env:"DRAGONFLY_MAX_JOBS" envDefault:"0" doc:"job slots, the jobs a worker holds at once; 0 means 2 × threads"`
	BulkSize            int           `env:"DRAGONFLY_BULK_SIZE" envDefault:"20" doc:"most jobs asked for in one lease request"`
	DownloadConcurrency int           `env:"DRAGONFLY_DOWNLOAD_CONCURRENCY" envDefault:"4" doc:"distributions downloaded at once"`
	LoadDuration        time.Duration `env:"DRAGONFLY_LOAD_DURATION" envDefault:"60s" doc:"wait after the mainframe had no jobs (with jitter)"`
	WaitDuration        time.Duration `env:"DRAGONFLY_WAIT_DURATION" envDefault:"10s" doc:"accepted for compatibility with the Rust client; unused"`
	LeaseDuration       time.Duration `env:"DRAGONFLY_LEASE_DURATION" envDefault:"120s" doc:"the mainframe's job timeout; a result is sent only until 5s before it ends"`
	JobTimeout          time.Duration `env:"DRAGONFLY_JOB_TIMEOUT" envDefault:"90s" doc:"downloading and scanning one job stop after this"`
	DrainTimeout        time.Duration `env:"DRAGONFLY_DRAIN_TIMEOUT" envDefault:"25s" doc:"time to finish in-flight jobs after SIGTERM or SIGINT"`
	MemoryBudget        int64         `env:"DRAGONFLY_MEMORY_BUDGET" envDefault:"805306368" doc:"bytes of downloaded distributions held at once, all stages together"`
}

// submitMargin is how long before the lease ends a result stops being
// sent: a late result is a 409 and the job is someone else's by then.
const submitMargin = 5 * time.Second

// lastAttempt is the mainframe's lease limit: a job whose lease expires on
// this attempt is failed by the server, so the worker reports it instead.
const lastAttempt = 3

// Resolve fills the zero defaults that depend on the machine and checks
// that the values fit together. Errors name the variable.
func (c *Config) Resolve() error {
	if c.Threads < 0 {
		return fmt.Errorf("DRAGONFLY_THREADS must not be negative, got %d", c.Threads)
	}
	if c.Threads == 0 {
		c.Threads = runtime.GOMAXPROCS(0) // Go sets it from the cgroup CPU limit
	}
	if c.MaxJobs < 0 {
		return fmt.Errorf("DRAGONFLY_MAX_JOBS must not be negative, got %d", c.MaxJobs)
	}
	if c.MaxJobs == 0 {
		c.MaxJobs = 2 * c.Threads
	}
	checks := []struct {
		ok  bool
		msg string
	}{
		{c.BulkSize >= 1, fmt.Sprintf("DRAGONFLY_BULK_SIZE must be at least 1, got %d", c.BulkSize)},
		{c.DownloadConcurrency >= 1, fmt.Sprintf("DRAGONFLY_DOWNLOAD_CONCURRENCY must be at least 1, got %d", c.DownloadConcurrency)},
		{c.LoadDuration > 0, "DRAGONFLY_LOAD_DURATION must be positive"},
		{c.JobTimeout > 0, "DRAGONFLY_JOB_TIMEOUT must be positive"},
		{c.DrainTimeout > 0, "DRAGONFLY_DRAIN_TIMEOUT must be positive"},
		{c.MemoryBudget > 0, "DRAGONFLY_MEMORY_BUDGET must be positive"},
		{c.JobTimeout+10*time.Second <= c.LeaseDuration, fmt.Sprintf(
			"DRAGONFLY_JOB_TIMEOUT (%v) + 10s must not exceed DRAGONFLY_LEASE_DURATION (%v): a result must reach the mainframe before the lease ends",
			c.JobTimeout, c.LeaseDuration)},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%s", ch.msg)
		}
	}
	return nil
}
