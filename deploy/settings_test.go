package deploy

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// envExample is the list of settings `dragonfly config` knows. The main
// module's tests keep it equal to `dragonfly config --format env`.
const envExample = ".env.example"

// credentialSettings are the settings that hold a credential: they belong in a
// Secret, never in a ConfigMap, an image or a committed file. Their _FILE
// variants hold paths and are not secret.
var credentialSettings = []string{
	"DRAGONFLY_CLIENT_ID", "DRAGONFLY_CLIENT_SECRET",
	"DRAGONFLY_USERNAME", "DRAGONFLY_PASSWORD", "DRAGONFLY_TOKEN",
}

var (
	exampleLine = regexp.MustCompile(`^# (DRAGONFLY_[A-Z0-9_]+)=(.*)$`)
	settingName = regexp.MustCompile(`DRAGONFLY_[A-Z0-9][A-Z0-9_]*`)
)

// knownSettings reads .env.example: every setting's name and default, from
// its `# DRAGONFLY_X=default` lines.
func knownSettings(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(envExample)
	if err != nil {
		t.Fatalf("the list of settings: %v", err)
	}
	defer f.Close()
	known := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := exampleLine.FindStringSubmatch(sc.Text()); m != nil {
			known[m[1]] = m[2]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return known
}

// TestEnvExampleListsTheSettingsUsedHere guards the parsing above and the
// names this module's tests rely on: if .env.example changed shape, every
// other settings test would pass vacuously.
func TestEnvExampleListsTheSettingsUsedHere(t *testing.T) {
	known := knownSettings(t)
	if len(known) < 20 {
		t.Fatalf("%s lists %d settings; is it still `dragonfly config --format env`?", envExample, len(known))
	}
	uses := append([]string{"DRAGONFLY_HTTP_ADDR", "DRAGONFLY_DRAIN_TIMEOUT", "DRAGONFLY_THREADS",
		"DRAGONFLY_MEMORY_BUDGET"}, credentialSettings...)
	for _, name := range uses {
		if _, ok := known[name]; !ok {
			t.Errorf("%s no longer lists %s, which the deployment tests rely on", envExample, name)
		}
		if _, ok := known[name+"_FILE"]; !ok && slices.Contains(credentialSettings, name) {
			t.Errorf("%s lists no %s_FILE", envExample, name)
		}
	}
}

// deployFiles walks this folder and calls fn with each file that is part of
// the deployment (relative path and content). It skips the Go module's own
// files, and .env: a volunteer's local copy of .env.example with real
// credentials, ignored by git.
func deployFiles(t *testing.T, skip func(path string) bool, fn func(path string, content []byte)) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || d.Name() == ".env" || skip(path) {
			return nil
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fn(path, content)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeployFilesNameOnlyKnownSettings: a misspelt setting is silently
// ignored by the worker, so every DRAGONFLY_* name in the manifests, env files,
// Dockerfile, compose file and scripts must be one `dragonfly config` knows.
func TestDeployFilesNameOnlyKnownSettings(t *testing.T) {
	known := knownSettings(t)
	notConfig := func(path string) bool {
		return strings.HasSuffix(path, ".go") || path == "go.mod" || path == "go.sum" || path == envExample
	}
	scanned := map[string]bool{}
	deployFiles(t, notConfig, func(path string, content []byte) {
		scanned[filepath.ToSlash(path)] = true
		for i, line := range strings.Split(string(content), "\n") {
			for _, name := range unknownSettings(line, known) {
				t.Errorf("%s:%d: %s is not a setting of dragonfly (see %s)", path, i+1, name, envExample)
			}
		}
	})
	for _, must := range []string{"k8s/config.env", "k8s/secret.env", "k8s/deployment.yaml"} {
		if !scanned[must] {
			t.Errorf("%s was not scanned", must)
		}
	}
	t.Logf("%d files scanned", len(scanned))
}

// unknownSettings returns the DRAGONFLY_* names in line that are not known.
func unknownSettings(line string, known map[string]string) []string {
	var out []string
	for _, name := range settingName.FindAllString(line, -1) {
		if _, ok := known[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

func TestUnknownSettingsAreFound(t *testing.T) {
	known := map[string]string{"DRAGONFLY_THREADS": "0", "DRAGONFLY_TOKEN": "", "DRAGONFLY_TOKEN_FILE": ""}
	for line, want := range map[string][]string{
		"DRAGONFLY_THREADS=2":                         nil,
		"      - DRAGONFLY_TOKEN_FILE=/run/secrets/t": nil,
		"DRAGONFLY_THREAD=2":                          {"DRAGONFLY_THREAD"},
		"ENV DRAGONFLY_TOKENS=x DRAGONFLY_THREADS=1":  {"DRAGONFLY_TOKENS"},
		"# every DRAGONFLY_* setting":                 nil,
		"dragonfly_jobs_leased_total":                 nil,
	} {
		if got := unknownSettings(line, known); !slices.Equal(got, want) {
			t.Errorf("unknownSettings(%q) = %v, want %v", line, got, want)
		}
	}
}

// TestEnvFromHoldsOnlySettings: the ConfigMaps and Secrets the worker reads
// with envFrom hold settings only, credentials only in Secrets.
func TestEnvFromHoldsOnlySettings(t *testing.T) {
	known := knownSettings(t)
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			for _, p := range settingsProblems(load(t, dir), known) {
				t.Error(p)
			}
		})
	}
}

// settingsProblems checks the keys of the ConfigMaps and Secrets and the
// container's env.
func settingsProblems(b *bundle, known map[string]string) []string {
	var out []string
	for _, cm := range all[corev1.ConfigMap](b) {
		for key := range cm.Data {
			if _, ok := known[key]; !ok {
				out = append(out, "ConfigMap "+cm.Name+": "+key+" is not a setting of dragonfly")
			}
			if slices.Contains(credentialSettings, key) {
				out = append(out, "ConfigMap "+cm.Name+": "+key+" is a credential; put it in a Secret")
			}
		}
	}
	for _, s := range all[corev1.Secret](b) {
		for _, key := range secretKeys(s) {
			if !slices.Contains(credentialSettings, key) {
				out = append(out, "Secret "+s.Name+": "+key+" is not a credential setting of dragonfly")
			}
		}
	}
	for _, c := range workerContainers(b) {
		for _, e := range c.Env {
			if _, ok := known[e.Name]; strings.HasPrefix(e.Name, "DRAGONFLY_") && !ok {
				out = append(out, "container "+c.Name+": env "+e.Name+" is not a setting of dragonfly")
			}
		}
	}
	return out
}

func secretKeys(s *corev1.Secret) []string {
	var keys []string
	for k := range s.Data {
		keys = append(keys, k)
	}
	for k := range s.StringData {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestSettingsProblemsAreFound(t *testing.T) {
	known := knownSettings(t)
	b := load(t, baseDir)
	if p := settingsProblems(b, known); len(p) > 0 {
		t.Fatalf("the example itself: %v", p)
	}
	all[corev1.ConfigMap](b)[0].Data["DRAGONFLY_THREAD"] = "2"
	all[corev1.ConfigMap](b)[0].Data["DRAGONFLY_PASSWORD"] = "x"
	all[corev1.Secret](b)[0].Data["DRAGONFLY_LOG_LEVEL"] = []byte("debug")
	got := strings.Join(settingsProblems(b, known), "\n")
	for _, want := range []string{"DRAGONFLY_THREAD is not a setting", "DRAGONFLY_PASSWORD is a credential",
		"DRAGONFLY_LOG_LEVEL is not a credential"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q do not say %q", got, want)
		}
	}
}
