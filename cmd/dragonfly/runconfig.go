package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/joho/godotenv"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/auth"
	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/pipeline"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// runConfig is what "dragonfly run" reads from the environment. The
// credentials are read by auth.LoadConfig, which also resolves the _FILE
// forms of the secrets.
type runConfig struct {
	API      api.Config
	Auth     auth.Config `env:"-"`
	Pipeline pipeline.Config
	Limits   archive.Limits
	Speed    scan.Speed
	LogConfig
	HTTPAddr string `env:"DRAGONFLY_HTTP_ADDR" envDefault:":8080" doc:"address serving /metrics, /healthz and /readyz; empty turns them off"`
}

// envFile is loaded from the working folder when present; variables of
// the real environment win over it.
const envFile = ".env"

// loadEnviron returns the process environment over the .env file's.
func loadEnviron() (map[string]string, error) {
	m := map[string]string{}
	if _, err := os.Stat(envFile); err == nil {
		fromFile, err := godotenv.Read(envFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envFile, err)
		}
		m = fromFile
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m, nil
}

func loadRunConfig(environ map[string]string) (runConfig, error) {
	var c runConfig
	if err := parseEnv(&c, environ); err != nil {
		return c, err
	}
	var err error
	if c.Auth, err = auth.LoadConfig(environ); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if _, err := c.Auth.Resolve(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if err := c.Pipeline.Resolve(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if err := c.Limits.Validate(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if err := c.Speed.Validate(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if addr, set := environ["DRAGONFLY_HTTP_ADDR"]; set && strings.TrimSpace(addr) == "" {
		// The env library takes an empty value for an unset one and
		// applies the default; an operator who empties it means off.
		c.HTTPAddr = ""
	}
	if c.API.WorkerID == "" {
		c.API.WorkerID, _ = os.Hostname()
	}
	if c.API.CallTimeout <= 0 {
		return c, errors.New("configuration: DRAGONFLY_CALL_TIMEOUT must be positive")
	}
	return c, nil
}

// configVar is one variable as "dragonfly config" documents it.
type configVar struct {
	Name, Default, Doc string
}

// configVars lists every variable the commands read, in the order of the
// configuration structs, each once.
func configVars() []configVar {
	var out []configVar
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			switch {
			case f.Type.Kind() == reflect.Struct && (name == "" || name == "-"):
				walk(f.Type)
			case name != "" && name != "-" && !seen[name]:
				seen[name] = true
				out = append(out, configVar{Name: name, Default: f.Tag.Get("envDefault"), Doc: f.Tag.Get("doc")})
			}
		}
	}
	walk(reflect.TypeOf(runConfig{}))
	walk(reflect.TypeOf(scanConfig{})) // what only dragonfly scan reads
	return out
}
