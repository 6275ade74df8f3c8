package deploy

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode"

	corev1 "k8s.io/api/core/v1"
)

// secretEnv is the committed example of the worker's credentials.
const secretEnv = "k8s/secret.env"

// placeholder matches the values a committed secret may hold.
var placeholder = regexp.MustCompile(`(?i)^(|replace[-_.]?me|change[-_.]?me|changeit|placeholder|dummy|example|todo|x{3,}|<[^<>]*>)$`)

// TestSecretEnvHoldsPlaceholdersOnly: secret.env is committed, so it may hold
// placeholders only.
func TestSecretEnvHoldsPlaceholdersOnly(t *testing.T) {
	f, err := os.Open(secretEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		n++
		key, value, _ := strings.Cut(text, "=")
		if !placeholder.MatchString(value) {
			t.Errorf("%s:%d: %s holds a value that is not a placeholder: commit none, use replace-me", secretEnv, line, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("%s holds no entry: the example should show which credentials to set", secretEnv)
	}
}

// TestRenderedSecretsHoldPlaceholdersOnly covers Secrets written another way
// than secret.env (a manifest with stringData, say).
func TestRenderedSecretsHoldPlaceholdersOnly(t *testing.T) {
	for _, dir := range kustomizations {
		for _, s := range all[corev1.Secret](load(t, dir)) {
			for k, v := range s.Data {
				if !placeholder.Match(v) {
					t.Errorf("%s: Secret %s: %s is not a placeholder", dir, s.Name, k)
				}
			}
			for k, v := range s.StringData {
				if !placeholder.MatchString(v) {
					t.Errorf("%s: Secret %s: %s is not a placeholder", dir, s.Name, k)
				}
			}
		}
	}
}

// TestNoCredentialInDeployFiles looks through every file here, the tests
// included, for something shaped like a real credential.
func TestNoCredentialInDeployFiles(t *testing.T) {
	checksums := func(path string) bool { return path == "go.sum" }
	deployFiles(t, checksums, func(path string, content []byte) {
		for _, f := range findCredentials(string(content)) {
			t.Errorf("%s:%d: %s; commit no credential (use a placeholder, or build it at run time in a test)", path, f.line, f.what)
		}
	})
}

type finding struct {
	line int
	what string
}

var (
	pemBlock = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*-----`)
	jwtLike  = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	// A Cloudflare Access client secret is 64 hex digits.
	hexRun = regexp.MustCompile(`\b[0-9a-fA-F]{32,}\b`)
	// Image digests and file checksums are long hex strings too, and public.
	digestContext = regexp.MustCompile(`(?i)sha256|sha512|digest|checksum`)
	tokenRun      = regexp.MustCompile(`[A-Za-z0-9+/=_-]{32,}`)
)

// findCredentials returns the lines of content holding something shaped like
// a credential: a PEM block, a JWT, a long hex string outside a digest, or a
// long token mixing upper case, lower case and digits with high entropy.
func findCredentials(content string) []finding {
	var out []finding
	for i, line := range strings.Split(content, "\n") {
		add := func(what string) { out = append(out, finding{i + 1, what}) }
		switch {
		case pemBlock.MatchString(line):
			add("a -----BEGIN block (a key or a certificate)")
		case jwtLike.MatchString(line):
			add("a JWT")
		case !digestContext.MatchString(line) && containsFunc(hexRun.FindAllString(line, -1), mixesLettersAndDigits):
			add("a long hex string (a Cloudflare Access client secret looks like this)")
		case containsFunc(tokenRun.FindAllString(line, -1), looksRandom):
			add("a long high-entropy token")
		}
	}
	return out
}

func containsFunc(ss []string, f func(string) bool) bool {
	for _, s := range ss {
		if f(s) {
			return true
		}
	}
	return false
}

func mixesLettersAndDigits(s string) bool {
	return strings.ContainsFunc(s, unicode.IsLetter) && strings.ContainsFunc(s, unicode.IsDigit)
}

// looksRandom: upper case, lower case and digits, and over 4 bits of entropy
// per character. Random base64 of 32 characters scores about 4.5; words,
// identifiers and paths stay under 4 or lack a class.
func looksRandom(s string) bool {
	if !strings.ContainsFunc(s, unicode.IsUpper) || !strings.ContainsFunc(s, unicode.IsLower) ||
		!strings.ContainsFunc(s, unicode.IsDigit) {
		return false
	}
	counts := map[rune]float64{}
	for _, r := range s {
		counts[r]++
	}
	bits := 0.0
	for _, c := range counts {
		p := c / float64(len(s))
		bits -= p * math.Log2(p)
	}
	return bits > 4
}

// TestCredentialDetector: the detector finds credentials and leaves ordinary
// deployment text alone. The credentials are made at run time, so that this
// file does not hold one.
func TestCredentialDetector(t *testing.T) {
	rnd := rand.NewChaCha8([32]byte{'d', 'r', 'a', 'g', 'o', 'n', 'f', 'l', 'y'})
	random := func(n int) []byte {
		b := make([]byte, n)
		rnd.Read(b)
		return b
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwt := b64([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"worker","exp":1900000000}`)) + "." + b64(random(32))
	for _, text := range []string{
		"-----" + "BEGIN OPENSSH PRIVATE KEY-----",
		"DRAGONFLY_TOKEN=" + jwt,
		"DRAGONFLY_CLIENT_SECRET=" + hex.EncodeToString(random(32)),
		"DRAGONFLY_CLIENT_ID=" + hex.EncodeToString(random(16)) + ".access",
		`password: "` + b64(random(30)) + `"`,
		"  token: " + base64.StdEncoding.EncodeToString(random(24)),
	} {
		if got := findCredentials("a: b\n" + text + "\n"); len(got) != 1 || got[0].line != 2 {
			t.Errorf("findCredentials(%q) = %v, want a finding on line 2", text, got)
		}
	}
	for _, text := range []string{
		"image: ghcr.io/vipyrsec/dragonfly-client-go:v0.1.0",
		"DRAGONFLY_CLIENT_SECRET=replace-me",
		"FROM debian:bookworm-slim@sha256:" + hex.EncodeToString(random(32)),
		"func TestManifestInvariantsCatchMistakes(t *testing.T) {",
		"k8s.io/kube-openapi v0.0.0-20260821135717-be32def86098 // indirect",
		"expr: histogram_quantile(0.95, sum by (le) (rate(dragonfly_stage_duration_seconds_bucket[30m])))",
		"app.kubernetes.io/managed-by: kustomize",
		"DRAGONFLY_MAX_EXPANDED_SIZE=2147483648",
		"description: >- {{ $value | humanizePercentage }} of the jobs leased in the last 30 minutes",
	} {
		if got := findCredentials(text); len(got) > 0 {
			t.Errorf("findCredentials(%q) = %v, want nothing", text, got)
		}
	}
	for _, v := range []string{"", "replace-me", "REPLACE_ME", "changeme", "<your client id>"} {
		if !placeholder.MatchString(v) {
			t.Errorf("%q is not taken for a placeholder", v)
		}
	}
	for _, v := range []string{"hunter2", "replace-me-" + hex.EncodeToString(random(4)), b64(random(30))} {
		if placeholder.MatchString(v) {
			t.Errorf("%q is taken for a placeholder", v)
		}
	}
}
