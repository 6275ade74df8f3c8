package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// TestConfigDocumentsAreGenerated keeps the configuration table of
// docs/operating.md and deploy/.env.example in step with the variables the
// code reads. Run "dragonfly config --format markdown|env" to regenerate
// them.
func TestConfigDocumentsAreGenerated(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(doc), "<!-- BEGIN GENERATED CONFIG -->\n")
	table, _, ok2 := strings.Cut(rest, "<!-- END GENERATED CONFIG -->")
	if !ok1 || !ok2 || table != markdownTable() {
		t.Errorf("the configuration table of docs/operating.md is stale; regenerate it with dragonfly config --format markdown")
	}
	example, err := os.ReadFile("../../deploy/.env.example")
	if err != nil || string(example) != envExample() {
		t.Errorf("deploy/.env.example is stale (%v); regenerate it with dragonfly config --format env", err)
	}
}

func TestConfigListsEveryVariableOnceWithADoc(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range configVars() {
		if seen[v.Name] || v.Doc == "" || !strings.HasPrefix(v.Name, "DRAGONFLY_") {
			t.Errorf("%+v: duplicate, undocumented or misnamed", v)
		}
		seen[v.Name] = true
	}
	for _, name := range []string{"DRAGONFLY_BASE_URL", "DRAGONFLY_AUTH_MODE", "DRAGONFLY_PASSWORD_FILE", "DRAGONFLY_THREADS",
		"DRAGONFLY_MEMORY_BUDGET", "DRAGONFLY_MAX_SCAN_SIZE", "DRAGONFLY_HTTP_ADDR", "DRAGONFLY_LOG_FORMAT", "DRAGONFLY_WAIT_DURATION"} {
		if !seen[name] {
			t.Errorf("%s missing", name)
		}
	}
}

func TestRunConfigErrorsNameTheVariable(t *testing.T) {
	base := map[string]string{"DRAGONFLY_AUTH_MODE": "none"}
	if _, err := loadRunConfig(base); err != nil {
		t.Fatalf("defaults do not load: %v", err)
	}
	tests := map[string]string{
		"DRAGONFLY_LOAD_DURATION":  "soon",
		"DRAGONFLY_BULK_SIZE":      "0",
		"DRAGONFLY_JOB_TIMEOUT":    "115",
		"DRAGONFLY_MAX_JOBS":       "-1",
		"DRAGONFLY_MEMORY_BUDGET":  "lots",
		"DRAGONFLY_MAX_SCAN_SIZE":  "0",
		"DRAGONFLY_AUTH_MODE":      "magic",
		"DRAGONFLY_DRAIN_TIMEOUT":  "0",
		"DRAGONFLY_CALL_TIMEOUT":   "0",
		"DRAGONFLY_LEASE_DURATION": "-5",
		"DRAGONFLY_CACHE_SIZE":     "-1",
		"DRAGONFLY_RULE_PLANS":     "maybe",
	}
	for name, value := range tests {
		environ := map[string]string{"DRAGONFLY_AUTH_MODE": "none", name: value}
		_, err := loadRunConfig(environ)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, value, err)
		}
	}
	c, err := loadRunConfig(map[string]string{"DRAGONFLY_AUTH_MODE": "none", "DRAGONFLY_LOAD_DURATION": "60", "DRAGONFLY_JOB_TIMEOUT": "1m"})
	if err != nil || c.Pipeline.LoadDuration.Seconds() != 60 || c.Pipeline.JobTimeout.Seconds() != 60 || c.Pipeline.MaxJobs != 2*c.Pipeline.Threads {
		t.Fatalf("%+v %v", c.Pipeline, err)
	}
	if c.Speed != scan.DefaultSpeed() || c.Limits != archive.DefaultLimits() {
		t.Errorf("defaults %+v %+v differ from scan.DefaultSpeed and archive.DefaultLimits", c.Speed, c.Limits)
	}
}

func TestEnvFileIsReadAndRealVariablesWin(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(".env", []byte("DRAGONFLY_BULK_SIZE=7\nDRAGONFLY_WORKER_ID=from-file\n"), 0o600)
	t.Setenv("DRAGONFLY_WORKER_ID", "from-env")
	environ, err := loadEnviron()
	if err != nil || environ["DRAGONFLY_BULK_SIZE"] != "7" || environ["DRAGONFLY_WORKER_ID"] != "from-env" {
		t.Fatalf("%v %q %q", err, environ["DRAGONFLY_BULK_SIZE"], environ["DRAGONFLY_WORKER_ID"])
	}
}

// An empty DRAGONFLY_HTTP_ADDR turns the endpoints off, as documented;
// the env library alone would read it as unset and serve on :8080.
func TestEmptyHTTPAddrTurnsTheEndpointsOff(t *testing.T) {
	for _, tc := range []struct {
		environ map[string]string
		want    string
	}{
		{map[string]string{}, ":8080"},
		{map[string]string{"DRAGONFLY_HTTP_ADDR": ""}, ""},
		{map[string]string{"DRAGONFLY_HTTP_ADDR": " "}, ""},
		{map[string]string{"DRAGONFLY_HTTP_ADDR": "127.0.0.1:9090"}, "127.0.0.1:9090"},
	} {
		tc.environ["DRAGONFLY_AUTH_MODE"] = "none"
		cfg, err := loadRunConfig(tc.environ)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.HTTPAddr != tc.want {
			t.Errorf("%q: HTTPAddr %q, want %q", tc.environ["DRAGONFLY_HTTP_ADDR"], cfg.HTTPAddr, tc.want)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Chdir(t.TempDir())
	t.Setenv("DRAGONFLY_HTTP_ADDR", strings.TrimPrefix(srv.URL, "http://"))
	if code, _, stderr := runCLI(t, "healthcheck"); code != 0 {
		t.Fatalf("healthy worker: exit %d, %s", code, stderr)
	}
	srv.Close()
	if code, _, _ := runCLI(t, "healthcheck"); code != 1 {
		t.Fatalf("worker gone: exit %d", code)
	}
	for addr, want := range map[string]string{":8080": "http://127.0.0.1:8080/healthz", "0.0.0.0:9": "http://127.0.0.1:9/healthz",
		"[::]:9": "http://127.0.0.1:9/healthz", "10.1.2.3:80": "http://10.1.2.3:80/healthz"} {
		if got, err := healthzURL(addr); err != nil || got != want {
			t.Errorf("%q: %q %v", addr, got, err)
		}
	}
	if _, err := healthzURL(""); err == nil {
		t.Error("an empty address was accepted")
	}
}

// TestLoggingIsConfigurable guards against settings the environment parser
// skips without a word: it only sets fields it can reach, so an unexported
// embedded struct made DRAGONFLY_LOG_LEVEL a no-op in both commands.
func TestLoggingIsConfigurable(t *testing.T) {
	environ := map[string]string{"DRAGONFLY_AUTH_MODE": "none", "DRAGONFLY_LOG_LEVEL": "debug", "DRAGONFLY_LOG_FORMAT": "console"}
	rc, err := loadRunConfig(environ)
	if err != nil || rc.LogLevel != "debug" || rc.LogFormat != "console" {
		t.Errorf("dragonfly run: level %q, format %q, %v", rc.LogLevel, rc.LogFormat, err)
	}
	sc, err := loadScanConfig(environ)
	if err != nil || sc.LogLevel != "debug" || sc.LogFormat != "console" {
		t.Errorf("dragonfly scan: level %q, format %q, %v", sc.LogLevel, sc.LogFormat, err)
	}
	for _, typ := range []reflect.Type{reflect.TypeOf(runConfig{}), reflect.TypeOf(scanConfig{})} {
		assertSettable(t, typ)
	}
}

// assertSettable fails on a field of a configuration struct that carries
// settings but that the environment parser cannot set.
func assertSettable(t *testing.T, typ reflect.Type) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		_, hasEnv := f.Tag.Lookup("env")
		sub := f.Type
		if sub.Kind() == reflect.Pointer {
			sub = sub.Elem()
		}
		if !f.IsExported() && (hasEnv || sub.Kind() == reflect.Struct) {
			t.Errorf("%s.%s is unexported: its variables would be ignored", typ, f.Name)
		}
		if sub.Kind() == reflect.Struct && sub.PkgPath() != "time" {
			assertSettable(t, sub)
		}
	}
}
