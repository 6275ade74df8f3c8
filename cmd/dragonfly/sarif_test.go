package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The official SARIF 2.1.0 schema (see testdata/README.md), compiled once
// from the local file: the compiler's loader refuses every URL, so nothing
// is fetched.
var sarifSchemaOnce struct {
	sync.Once
	schema *jsonschema.Schema
	err    error
}

type offlineLoader struct{}

func (offlineLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("offline: refusing to load %s", url)
}

func sarifValidator(t *testing.T) *jsonschema.Schema {
	t.Helper()
	sarifSchemaOnce.Do(func() {
		path, err := filepath.Abs(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
		if err != nil {
			sarifSchemaOnce.err = err
			return
		}
		f, err := os.Open(path)
		if err != nil {
			sarifSchemaOnce.err = err
			return
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			sarifSchemaOnce.err = err
			return
		}
		c := jsonschema.NewCompiler()
		c.UseLoader(offlineLoader{})
		c.AssertFormat() // uri, uri-reference, date-time: asserted, not just annotated
		if err := c.AddResource(path, doc); err != nil {
			sarifSchemaOnce.err = err
			return
		}
		sarifSchemaOnce.schema, sarifSchemaOnce.err = c.Compile(path)
	})
	if sarifSchemaOnce.err != nil {
		t.Fatalf("SARIF schema: %v", sarifSchemaOnce.err)
	}
	return sarifSchemaOnce.schema
}

// validateSARIF checks out against the schema, and every URI in it against
// RFC 3986's character set, which the schema's uri-reference format leaves
// to Go's lenient url.Parse.
func validateSARIF(t *testing.T, out string) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if err := sarifValidator(t).Validate(inst); err != nil {
		t.Fatalf("SARIF does not validate: %v\n%s", err, out)
	}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(k, e)
			}
		case []any:
			for _, e := range v {
				walk(key, e)
			}
		case string:
			if key == "uri" || strings.HasSuffix(key, "Uri") || key == "$schema" {
				if !uriChars.MatchString(v) {
					t.Errorf("%s %q holds characters a URI may not", key, v)
				}
				if _, err := url.Parse(v); err != nil {
					t.Errorf("%s %q: %v", key, v, err)
				}
			}
		}
	}
	walk("", inst)
}

var uriChars = regexp.MustCompile(`^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$`)

// The parts of a SARIF log the tests read, declared apart from sarif.go's
// types so that a field renamed there fails here.
type sarifTestLog struct {
	Schema  string `json:"$schema"`
	Version string
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name, Version, InformationURI string
				Rules                         []struct {
					ID               string
					ShortDescription *struct{ Text string }
					Properties       map[string]any
					Default          struct{ Level string } `json:"defaultConfiguration"`
				}
			}
		}
		Invocations []struct {
			ExecutionSuccessful        bool
			ExitCode                   int
			ToolExecutionNotifications []struct {
				Level     string
				Message   struct{ Text string }
				Locations []sarifTestLocation
			}
		}
		Artifacts []struct {
			Location    struct{ URI string }
			ParentIndex *int
			Roles       []string
			Properties  map[string]any
		}
		Results []struct {
			RuleID     string
			RuleIndex  int
			Level      string
			Message    struct{ Text string }
			Locations  []sarifTestLocation
			Properties struct {
				Path, Package, Version string
				Score, Weight          int64
			}
		}
		Properties map[string]any
	}
}

type sarifTestLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI   string
			Index *int
		}
	}
	LogicalLocations []struct{ Name, FullyQualifiedName string }
}

func decodeSARIF(t *testing.T, out string) sarifTestLog {
	t.Helper()
	validateSARIF(t, out)
	var log sarifTestLog
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	if len(log.Runs) != 1 || len(log.Runs[0].Invocations) != 1 {
		t.Fatalf("want one run with one invocation:\n%s", out)
	}
	return log
}

// sarifTestRules: weights for every level at --fail-score 5, a description,
// a filetype, a private rule and a rule that never matches.
func sarifTestRules(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "demo.yar"), []byte(`
private rule helper { strings: $a = "EVIL_MARKER" condition: $a }
rule py_marker { meta: weight = 5 filetype = ".py .pyw" description = "marker in Python code" strings: $a = "EVIL_MARKER" condition: $a }
rule any_marker { meta: weight = 2 strings: $a = "EVIL_MARKER" condition: $a }
rule zero_marker { meta: weight = 0 description = "informational" strings: $a = "EVIL_MARKER" condition: $a }
rule unused_rule { meta: weight = 9 description = "never matches" strings: $a = "NOT_IN_ANY_TEST_FILE" condition: $a and helper }
`), 0o644)
	return dir
}

func zipBytes(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedNames(files) {
		// Stored, not deflated: a nested archive's own bytes then hold its
		// files' contents as they are, and match under the archive's name.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[name]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type sarifHit struct{ uri, path, rule, level string }

func TestScanSARIFValidatesAndLocatesMatches(t *testing.T) {
	sarifValidator(t)
	dir := t.TempDir()
	writeTarGz(t, filepath.Join(dir, "evil-1.0.tar.gz"), map[string]string{
		"evil-1.0/setup.py": "x = 'EVIL_MARKER'", "evil-1.0/README": "EVIL_MARKER", "evil-1.0/clean.py": "pass"})
	wheel := filepath.Join(dir, "evil-1.0-py3-none-any.whl")
	os.WriteFile(wheel, zipBytes(t, map[string]string{
		"evil/__init__.py":     "pass",
		"evil/data/outer.zip":  string(zipBytes(t, map[string]string{"inner.py": "EVIL_MARKER"})),
		"evil/data/broken.zip": "PK\x03\x04 not really a zip",
	}), 0o644)
	writeTarGz(t, filepath.Join(dir, "clean-1.0.tar.gz"), map[string]string{"clean-1.0/a.py": "print(1)"})
	os.WriteFile(filepath.Join(dir, "broken-2.0.tar.gz"), []byte("<html>503</html>"), 0o644)
	rules := sarifTestRules(t)

	code, out, stderr := runCLI(t, "scan", "--rules", rules, "--format", "sarif", "--fail-score", "5", dir)
	if code != exitFindings {
		t.Fatalf("exit %d, want 1; stderr: %s", code, stderr)
	}
	log := decodeSARIF(t, out)
	if log.Version != "2.1.0" || log.Schema != "https://json.schemastore.org/sarif-2.1.0.json" {
		t.Errorf("version %q, $schema %q", log.Version, log.Schema)
	}
	run := log.Runs[0]
	drv := run.Tool.Driver
	if drv.Name != "dragonfly" || drv.Version != buildVersion() || drv.InformationURI != "https://github.com/vipyrsec/dragonfly-client-go" {
		t.Errorf("driver %s %s %s", drv.Name, drv.Version, drv.InformationURI)
	}

	// Every public rule, in rule set order, the private helper left out.
	var ids []string
	levels := map[string]string{}
	for _, r := range drv.Rules {
		ids = append(ids, r.ID)
		levels[r.ID] = r.Default.Level
	}
	if want := []string{"py_marker", "any_marker", "zero_marker", "unused_rule"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("rules %v, want %v", ids, want)
	}
	py := drv.Rules[0]
	if py.ShortDescription == nil || py.ShortDescription.Text != "marker in Python code" ||
		py.Properties["weight"] != float64(5) || py.Properties["filetype"] != ".py .pyw" {
		t.Errorf("py_marker descriptor: %+v", py)
	}
	if am := drv.Rules[1]; am.ShortDescription != nil || am.Properties["weight"] != float64(2) || am.Properties["filetype"] != nil {
		t.Errorf("any_marker descriptor: %+v", am)
	}
	if want := map[string]string{"py_marker": "error", "any_marker": "warning", "zero_marker": "note", "unused_rule": "error"}; !reflect.DeepEqual(levels, want) {
		t.Errorf("levels %v, want %v", levels, want)
	}

	uri := func(name string) string { return "file://" + filepath.ToSlash(filepath.Join(dir, name)) }
	artifactIndex := func(uri string, parent *int) int {
		for i, a := range run.Artifacts {
			if a.Location.URI == uri && reflect.DeepEqual(a.ParentIndex, parent) {
				return i
			}
		}
		t.Fatalf("no artifact %s (parent %v) in %+v", uri, parent, run.Artifacts)
		return -1
	}

	// One result per file and rule that counted, located by the
	// distribution and the path inside it.
	var hits []sarifHit
	for _, r := range run.Results {
		if r.RuleIndex < 0 || r.RuleIndex >= len(drv.Rules) || drv.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s has ruleIndex %d", r.RuleID, r.RuleIndex)
			continue
		}
		if len(r.Locations) != 1 || len(r.Locations[0].LogicalLocations) != 1 {
			t.Fatalf("result locations: %+v", r.Locations)
		}
		al := r.Locations[0].PhysicalLocation.ArtifactLocation
		if al.Index == nil || run.Artifacts[*al.Index].Location.URI != al.URI || run.Artifacts[*al.Index].ParentIndex != nil {
			t.Errorf("result %s: artifactLocation %+v is not its distribution's artifact", r.RuleID, al)
		}
		fqn := r.Locations[0].LogicalLocations[0].FullyQualifiedName
		if r.Properties.Path != fqn || r.Locations[0].LogicalLocations[0].Name != filepath.Base(fqn) {
			t.Errorf("result %s: path %q, logical location %+v", r.RuleID, r.Properties.Path, r.Locations[0].LogicalLocations)
		}
		if r.Level != levels[r.RuleID] || r.Properties.Package != "evil" || r.Properties.Version != "1.0" {
			t.Errorf("result %s: level %s, package %s %s", r.RuleID, r.Level, r.Properties.Package, r.Properties.Version)
		}
		wantMsg := fmt.Sprintf("%s (weight %d) matched %s in ", r.RuleID, r.Properties.Weight, fqn)
		if !strings.HasPrefix(r.Message.Text, wantMsg) || !strings.HasSuffix(r.Message.Text, ".tar.gz.") && !strings.HasSuffix(r.Message.Text, ".whl.") {
			t.Errorf("message %q, want it to start %q", r.Message.Text, wantMsg)
		}
		// The file's nested artifact hangs from the distribution's.
		artifactIndex("/"+fqn, al.Index)
		hits = append(hits, sarifHit{al.URI, fqn, r.RuleID, r.Level})
	}
	whl, tgz := uri("evil-1.0-py3-none-any.whl"), uri("evil-1.0.tar.gz")
	want := []sarifHit{
		{whl, "evil/data/outer.zip", "any_marker", "warning"}, // the stored zip's own bytes
		{whl, "evil/data/outer.zip", "zero_marker", "note"},
		{whl, "evil/data/outer.zip/inner.py", "py_marker", "error"},
		{whl, "evil/data/outer.zip/inner.py", "any_marker", "warning"},
		{whl, "evil/data/outer.zip/inner.py", "zero_marker", "note"},
		{tgz, "evil-1.0/README", "any_marker", "warning"},
		{tgz, "evil-1.0/README", "zero_marker", "note"},
		{tgz, "evil-1.0/setup.py", "py_marker", "error"},
		{tgz, "evil-1.0/setup.py", "any_marker", "warning"},
		{tgz, "evil-1.0/setup.py", "zero_marker", "note"},
	}
	if !reflect.DeepEqual(hits, want) {
		t.Errorf("results:\n got %v\nwant %v", hits, want)
	}
	for _, r := range run.Results {
		if r.Properties.Path == "evil-1.0/setup.py" && r.Properties.Score != 7 {
			t.Errorf("setup.py score %d, want 7", r.Properties.Score)
		}
	}

	// Distributions are top-level artifacts, in target order.
	var dists []string
	for _, a := range run.Artifacts {
		if a.ParentIndex == nil {
			dists = append(dists, a.Location.URI)
		}
	}
	if want := []string{uri("broken-2.0.tar.gz"), uri("clean-1.0.tar.gz"), whl, tgz}; !reflect.DeepEqual(dists, want) {
		t.Errorf("distribution artifacts %q, want %q", dists, want)
	}
	a := run.Artifacts[artifactIndex(tgz, nil)]
	if a.Properties["package"] != "evil" || a.Properties["format"] != "tar.gz" || a.Properties["status"] != "complete" ||
		a.Properties["score"] != float64(7) || !reflect.DeepEqual(a.Roles, []string{"analysisTarget"}) {
		t.Errorf("tar.gz artifact %+v", a)
	}

	// The failed distribution and the note are notifications; the failure
	// makes the execution unsuccessful.
	_, jsonOut, _ := runCLI(t, "scan", "--rules", rules, "--format", "json", dir)
	var rep struct {
		Packages []struct {
			Distributions []struct{ Target, Reason string }
		}
	}
	if err := json.Unmarshal([]byte(jsonOut), &rep); err != nil {
		t.Fatal(err)
	}
	reason := rep.Packages[0].Distributions[0].Reason
	inv := run.Invocations[0]
	if inv.ExecutionSuccessful || inv.ExitCode != exitFindings || len(inv.ToolExecutionNotifications) != 2 {
		t.Fatalf("invocation %+v", inv)
	}
	failed, note := inv.ToolExecutionNotifications[0], inv.ToolExecutionNotifications[1]
	if failed.Level != "error" || failed.Message.Text != reason || reason == "" || len(failed.Locations) != 1 ||
		failed.Locations[0].PhysicalLocation.ArtifactLocation.URI != uri("broken-2.0.tar.gz") || failed.Locations[0].LogicalLocations != nil {
		t.Errorf("failure notification %+v, want reason %q", failed, reason)
	}
	if note.Level != "note" || !strings.Contains(note.Message.Text, "evil/data/broken.zip: malformed: ") ||
		note.Locations[0].PhysicalLocation.ArtifactLocation.URI != whl ||
		note.Locations[0].LogicalLocations[0].FullyQualifiedName != "evil/data/broken.zip" {
		t.Errorf("note notification %+v", note)
	}
	if run.Properties["rulesHash"] == "" || run.Properties["failScore"] != float64(5) {
		t.Errorf("run properties %v", run.Properties)
	}
}

func TestScanSARIFEscapesURIs(t *testing.T) {
	sarifValidator(t) // before Chdir: the schema is found relative to the package
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "sub dir"), 0o755)
	writeTarGz(t, filepath.Join(dir, "sub dir", "pkg #1 ü-1.0.tar.gz"), map[string]string{
		"pkg-1.0/dïr #2/a b%?.py": "EVIL_MARKER", "/abs/x.py": "EVIL_MARKER", "pkg-1.0/caf\xe9.py": "EVIL_MARKER"})
	t.Chdir(dir)

	code, out, stderr := runCLI(t, "scan", "--rules", sarifTestRules(t), "--format", "sarif", "sub dir/pkg #1 ü-1.0.tar.gz")
	if code != exitFindings {
		t.Fatalf("exit %d; stderr: %s", code, stderr)
	}
	run := decodeSARIF(t, out).Runs[0]
	var uris []string
	for _, a := range run.Artifacts {
		uris = append(uris, a.Location.URI)
	}
	want := []string{
		"sub%20dir/pkg%20%231%20%C3%BC-1.0.tar.gz",
		"/abs/x.py",
		"/pkg-1.0/caf%E9.py",
		"/pkg-1.0/d%C3%AFr%20%232/a%20b%25%3F.py",
	}
	if !reflect.DeepEqual(uris, want) {
		t.Fatalf("artifact uris\n got %q\nwant %q", uris, want)
	}
	// A path URI decodes back to the bytes it was made from.
	if p, err := url.PathUnescape(uris[0]); err != nil || p != "sub dir/pkg #1 ü-1.0.tar.gz" {
		t.Errorf("%q unescapes to %q, %v", uris[0], p, err)
	}
	names := map[string]string{}
	for _, r := range run.Results {
		loc := r.Locations[0]
		if loc.PhysicalLocation.ArtifactLocation.URI != want[0] || loc.LogicalLocations[0].FullyQualifiedName != r.Properties.Path {
			t.Errorf("result located at %+v", loc)
		}
		names[r.Properties.Path] = loc.LogicalLocations[0].Name
	}
	// The logical location names the file as the JSON report does: Go-quoted
	// when it is not printable UTF-8.
	if want := map[string]string{`"pkg-1.0/caf\xe9.py"`: `"caf\xe9.py"`, "pkg-1.0/dïr #2/a b%?.py": "a b%?.py", "/abs/x.py": "x.py"}; !reflect.DeepEqual(names, want) {
		t.Errorf("logical locations %q, want %q", names, want)
	}
}

func TestScanSARIFEmptyScanIsValid(t *testing.T) {
	dir := t.TempDir()
	writeTarGz(t, filepath.Join(dir, "clean-1.0.tar.gz"), map[string]string{"clean-1.0/a.py": "print(1)"})
	code, out, stderr := runCLI(t, "scan", "--rules", sarifTestRules(t), "--format", "sarif", dir)
	if code != exitOK {
		t.Fatalf("exit %d; stderr: %s", code, stderr)
	}
	run := decodeSARIF(t, out).Runs[0]
	if !strings.Contains(out, `"results": []`) || len(run.Results) != 0 {
		t.Errorf("results must be present and empty:\n%s", out)
	}
	inv := run.Invocations[0]
	if !inv.ExecutionSuccessful || inv.ExitCode != exitOK || inv.ToolExecutionNotifications != nil {
		t.Errorf("invocation %+v", inv)
	}
	if len(run.Tool.Driver.Rules) != 4 || len(run.Artifacts) != 1 || run.Artifacts[0].Properties["status"] != "complete" {
		t.Errorf("rules %d, artifacts %+v", len(run.Tool.Driver.Rules), run.Artifacts)
	}
}

func TestScanSARIFExitCodes(t *testing.T) {
	clean, evil, broken := exitCodeFixtures(t)
	rules := testRules(t)

	tests := []struct {
		name    string
		args    []string
		want    int
		success bool
		level   string // of py_marker's result, when there is one
	}{
		{"findings", []string{evil}, exitFindings, true, "error"},
		{"findings below --fail-score", []string{evil, "--fail-score", "8"}, exitOK, true, "warning"},
		{"failure", []string{clean, broken}, exitFailure, false, ""},
		{"findings win over failures", []string{broken, evil}, exitFindings, false, "error"},
		{"the same target twice", []string{evil, evil}, exitFindings, true, "error"},
	}
	for _, tt := range tests {
		code, out, stderr := runCLI(t, append([]string{"scan", "--rules", rules, "--format", "sarif"}, tt.args...)...)
		if code != tt.want {
			t.Errorf("%s: exit %d, want %d; stderr: %s", tt.name, code, tt.want, stderr)
			continue
		}
		run := decodeSARIF(t, out).Runs[0]
		if inv := run.Invocations[0]; inv.ExitCode != code || inv.ExecutionSuccessful != tt.success {
			t.Errorf("%s: invocation %+v", tt.name, inv)
		}
		for _, r := range run.Results {
			if r.RuleID == "py_marker" && r.Level != tt.level {
				t.Errorf("%s: py_marker level %s, want %s", tt.name, r.Level, tt.level)
			}
		}
	}
}

// The validator is not a rubber stamp: the schema's constraints bite.
func TestSARIFSchemaRejectsInvalidLogs(t *testing.T) {
	s := sarifValidator(t)
	for name, doc := range map[string]string{
		"bad level":               `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"level":"fatal"}]}]}`,
		"no message":              `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"r"}]}]}`,
		"wrong version":           `{"version":"2.0.0","runs":[]}`,
		"unknown field":           `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[],"extra":1}]}`,
		"duplicate rules":         `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x","rules":[{"id":"a"},{"id":"a"}]}}}]}`,
		"relative informationUri": `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x","informationUri":"not/absolute"}}}]}`,
	} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		var verr *jsonschema.ValidationError
		if err := s.Validate(inst); !errors.As(err, &verr) {
			t.Errorf("%s: validated (%v)", name, err)
		}
	}
}
