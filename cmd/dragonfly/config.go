package main

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// scanConfig is what "dragonfly scan" reads from the environment.
type scanConfig struct {
	// Threads is the number of distributions scanned at once; 0 means one
	// per CPU available to the process (Go honours a container's limit).
	Threads int `env:"DRAGONFLY_THREADS" envDefault:"0"`
	// BufferBudget bounds the threads' large file buffers together, so
	// that the peak does not depend on two large files meeting by chance
	// (see archive.BufferBudget). The daemon needs none: its memory budget
	// covers the same buffers.
	BufferBudget int64 `env:"DRAGONFLY_SCAN_BUFFER_BUDGET" envDefault:"100663296" doc:"dragonfly scan only: bytes per thread of large file buffers (files over 4 MiB), pooled across threads; a thread whose next large file does not fit waits for the others' (one file always proceeds); 0 turns the bound off"`
	LogConfig
	Limits archive.Limits `envPrefix:""`
	Speed  scan.Speed     `envPrefix:""`
}

// LogConfig is the logging part of every command's configuration.
type LogConfig struct {
	LogLevel  string `env:"DRAGONFLY_LOG_LEVEL" envDefault:"info" doc:"debug, info, warn or error"`
	LogFormat string `env:"DRAGONFLY_LOG_FORMAT" envDefault:"auto" doc:"auto (console on a terminal, else JSON), json or console"`
}

// parseEnv fills the tagged struct c points at from environ, reading
// durations as parseDuration does and naming the variable of a bad value.
func parseEnv(c any, environ map[string]string) error {
	err := env.ParseWithOptions(c, env.Options{
		Environment: environ,
		FuncMap:     map[reflect.Type]env.ParserFunc{reflect.TypeOf(time.Duration(0)): parseDuration},
	})
	if err != nil {
		return fmt.Errorf("configuration: %w", nameVariables(err, reflect.TypeOf(c).Elem()))
	}
	return nil
}

func loadScanConfig(environ map[string]string) (scanConfig, error) {
	var c scanConfig
	if err := parseEnv(&c, environ); err != nil {
		return c, err
	}
	if c.Threads < 0 {
		return c, fmt.Errorf("configuration: DRAGONFLY_THREADS must not be negative, got %d", c.Threads)
	}
	if c.Threads == 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	if c.BufferBudget < 0 {
		return c, fmt.Errorf("configuration: DRAGONFLY_SCAN_BUFFER_BUDGET must not be negative, got %d", c.BufferBudget)
	}
	if err := c.Limits.Validate(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if err := c.Speed.Validate(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// parseDuration accepts a bare integer as seconds (the upstream client's
// form, "60") or a Go duration ("90s", "1m30s").
func parseDuration(v string) (any, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(time.Duration(1<<63-1)/time.Second) {
			return nil, fmt.Errorf("%q seconds is out of range", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return nil, fmt.Errorf("%q is neither whole seconds nor a duration like 90s", v)
	}
	return d, nil
}

// nameVariables rewrites caarlos0/env's parse errors, which name the Go
// field, to name the environment variable an operator has to fix.
func nameVariables(err error, config reflect.Type) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	names := map[string]string{}
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if tag, _, _ := strings.Cut(f.Tag.Get("env"), ","); tag != "" {
				names[f.Name] = tag
			} else if f.Type.Kind() == reflect.Struct {
				collect(f.Type)
			}
		}
	}
	collect(config)
	msgs := make([]string, len(agg.Errors))
	for i, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && names[pe.Name] != "" {
			msgs[i] = names[pe.Name] + ": " + pe.Err.Error()
		} else {
			msgs[i] = e.Error()
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}
