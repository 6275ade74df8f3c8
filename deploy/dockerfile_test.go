package deploy

import (
	"encoding/json"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

const dockerfile = "Dockerfile"

// TestDockerfile checks the worker's image definition: pinned bases, a
// non-root user, no credential baked in, a health check, and `dragonfly run`
// as what it runs.
func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile(dockerfile)
	if os.IsNotExist(err) {
		t.Skip("no deploy/Dockerfile yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dockerfileProblems(string(src)) {
		t.Errorf("%s: %s", dockerfile, p)
	}
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // where it starts
	cmd  string // upper case: FROM, RUN, ...
	args string
}

var heredocStart = regexp.MustCompile(`<<-?["']?([A-Za-z_][A-Za-z0-9_]*)["']?`)

// parseDockerfile splits src into instructions: comments and blank lines
// dropped, lines ending in a backslash joined, heredoc bodies skipped.
func parseDockerfile(src string) []instruction {
	var out []instruction
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		text := strings.TrimSpace(lines[i])
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		start := i + 1
		for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
			text = strings.TrimSuffix(text, `\`)
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				next = `\` // a comment inside a continuation is dropped
			}
			text += " " + next
		}
		text = strings.TrimSuffix(text, `\`)
		cmd, args, _ := strings.Cut(text, " ")
		for _, m := range heredocStart.FindAllStringSubmatch(args, -1) {
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != m[1] {
				i++
			}
			i++ // the terminator
		}
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	return out
}

// stage is what a build stage leaves in its image, as far as the checks go.
type stage struct {
	name             string
	user             string
	entrypoint, cmd  []string
	entrypointShell  bool // shell form: CMD is ignored
	healthcheck      string
	healthcheckFound bool
}

// dockerfileProblems checks a Dockerfile; nil means all is well.
func dockerfileProblems(src string) []string {
	var p problems
	globalArgs := map[string]string{} // ARGs before the first FROM, usable in FROM
	var stages []*stage
	var cur *stage
	cmdInStage := false
	for _, in := range parseDockerfile(src) {
		switch in.cmd {
		case "FROM":
			image, name := parseFrom(in.args)
			image = expandArgs(image, globalArgs)
			next := &stage{name: name}
			if i := slices.IndexFunc(stages, func(s *stage) bool { return s.name != "" && strings.EqualFold(s.name, image) }); i >= 0 {
				*next = *stages[i] // built on an earlier stage: inherits its settings
				next.name = name
			} else if msg := baseImageProblem(image); msg != "" {
				p.addf("line %d: FROM %s: %s", in.line, image, msg)
			}
			cur, cmdInStage = next, false
			stages = append(stages, cur)
		case "ARG", "ENV":
			for name, value := range parseAssignments(in.cmd, in.args) {
				if isSecretName(name) {
					p.addf("line %d: %s %s: a credential must not be a build argument or baked into the image "+
						"(build arguments stay in the image's history); pass it at run time", in.line, in.cmd, name)
				}
				if in.cmd == "ARG" && cur == nil {
					globalArgs[name] = value
				}
			}
		case "USER":
			if cur != nil {
				cur.user = in.args
			}
		case "HEALTHCHECK":
			if cur != nil {
				cur.healthcheck, cur.healthcheckFound = in.args, true
			}
		case "ENTRYPOINT":
			if cur != nil {
				cur.entrypoint, cur.entrypointShell = commandOf(in.args)
				if !cmdInStage {
					cur.cmd = nil // ENTRYPOINT resets an inherited CMD
				}
			}
		case "CMD":
			if cur != nil {
				cur.cmd, _ = commandOf(in.args)
				cmdInStage = true
			}
		}
	}
	if cur == nil {
		p.addf("no FROM")
		return p
	}

	user, _, _ := strings.Cut(strings.TrimSpace(cur.user), ":")
	switch user {
	case "":
		p.addf("the final stage sets no USER: the image would run as root")
	case "root", "0":
		p.addf("the final stage's USER is %s; run as an unprivileged user (the manifests use 65532)", cur.user)
	}
	if hc := strings.Fields(cur.healthcheck); !cur.healthcheckFound || len(hc) == 0 || strings.EqualFold(hc[0], "NONE") {
		p.addf("the final stage has no HEALTHCHECK")
	}
	argv := cur.entrypoint
	if !cur.entrypointShell {
		argv = append(slices.Clip(argv), cur.cmd...)
	}
	if !runsDragonflyRun(argv) {
		p.addf("the final stage runs %q, want dragonfly run (ENTRYPOINT [\"dragonfly\"], CMD [\"run\"])", argv)
	}
	return p
}

// parseFrom returns the image and the stage name of FROM's arguments
// (`[--platform=...] image [AS name]`).
func parseFrom(args string) (image, name string) {
	fields := slices.DeleteFunc(strings.Fields(args), func(f string) bool { return strings.HasPrefix(f, "--") })
	if len(fields) > 0 {
		image = fields[0]
	}
	if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
		name = fields[2]
	}
	return image, name
}

var argRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expandArgs substitutes the global ARGs' defaults in a FROM line. What cannot
// be resolved stays, and then fails the pinning check.
func expandArgs(s string, args map[string]string) string {
	return argRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := argRef.FindStringSubmatch(ref)
		name := m[1] + m[3]
		if v := args[name]; v != "" {
			return v
		}
		if m[2] != "" {
			return m[2]
		}
		return ref
	})
}

// baseImageProblem: a base image must be pinned, by a digest or by a tag that
// names a version or a date; a tag like bookworm-slim or nonroot moves.
func baseImageProblem(image string) string {
	if image == "scratch" || strings.Contains(image, "@sha256:") {
		return ""
	}
	if strings.Contains(image, "$") {
		return "an ARG that has no default; cannot tell whether it is pinned"
	}
	if msg := imageProblem(image); msg != "" {
		return msg
	}
	tag := image[strings.LastIndex(image, ":")+1:]
	if !strings.ContainsFunc(tag, unicode.IsDigit) {
		return "the tag " + tag + " moves; pin a version or a date, or a digest"
	}
	return ""
}

// parseAssignments returns the names (and values) an ARG or ENV instruction
// sets: `ARG a=1 b`, `ENV a=1 b="2 3"`, or the old `ENV a 1`.
func parseAssignments(cmd, args string) map[string]string {
	out := map[string]string{}
	words := shellWords(args)
	if cmd == "ENV" && len(words) > 0 && !strings.Contains(words[0], "=") {
		out[words[0]] = strings.Join(words[1:], " ")
		return out
	}
	for _, w := range words {
		name, value, _ := strings.Cut(w, "=")
		out[name] = value
	}
	return out
}

// shellWords splits on blanks outside quotes, dropping the quotes.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case unicode.IsSpace(r):
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

var secretWord = regexp.MustCompile(`(?i)SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL`)

// isSecretName: a credential setting of dragonfly, or any name that says it is
// a secret. Names ending in _FILE hold a path, DRAGONFLY_TOKEN_HEADER a header
// name; neither is secret.
func isSecretName(name string) bool {
	if slices.Contains(credentialSettings, name) {
		return true
	}
	if strings.HasSuffix(name, "_FILE") || strings.HasSuffix(name, "_HEADER") {
		return false
	}
	return secretWord.MatchString(name)
}

// commandOf parses ENTRYPOINT or CMD: the exec form (a JSON array), else the
// shell form, whose words are returned with shell true.
func commandOf(args string) (argv []string, shell bool) {
	if err := json.Unmarshal([]byte(args), &argv); err == nil {
		return argv, false
	}
	return strings.Fields(args), true
}

// runsDragonflyRun: the command holds the dragonfly binary followed by run.
func runsDragonflyRun(argv []string) bool {
	for i := 0; i+1 < len(argv); i++ {
		if path.Base(argv[i]) == "dragonfly" && argv[i+1] == "run" {
			return true
		}
	}
	return false
}

// TestDockerfileProblemsAreFound: a good Dockerfile passes, and each mistake
// is reported.
func TestDockerfileProblemsAreFound(t *testing.T) {
	good := `# syntax=docker/dockerfile:1
ARG GO_VERSION=1.26.8
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG VERSION=devel
RUN <<EOF
set -e
USER root
EOF
RUN go build \
    # a comment in a continuation
    -o /out/dragonfly ./cmd/dragonfly

FROM debian:bookworm-20250520-slim AS runtime
ENV DRAGONFLY_LOG_FORMAT=json DRAGONFLY_TOKEN_FILE=/run/secrets/token
COPY --from=build /out/dragonfly /usr/local/bin/dragonfly
USER 65532:65532
HEALTHCHECK --interval=30s CMD ["dragonfly", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/dragonfly"]
CMD ["run"]

FROM runtime
LABEL org.opencontainers.image.title=dragonfly
`
	if p := dockerfileProblems(good); len(p) > 0 {
		t.Fatalf("a good Dockerfile: %q", p)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"latest base", "debian:bookworm-20250520-slim", "debian:latest", "latest"},
		{"untagged base", "debian:bookworm-20250520-slim", "debian", "no tag"},
		{"moving tag", "debian:bookworm-20250520-slim", "debian:bookworm-slim", "moves"},
		{"unresolved ARG", "ARG GO_VERSION=1.26.8", "ARG GO_VERSION", "ARG"},
		{"root user", "USER 65532:65532", "USER root", "USER"},
		{"uid 0", "USER 65532:65532", "USER 0:0", "USER"},
		{"no user", "USER 65532:65532\n", "", "USER"},
		{"secret env", "ENV DRAGONFLY_LOG_FORMAT=json", "ENV DRAGONFLY_LOG_FORMAT=json DRAGONFLY_PASSWORD=x", "DRAGONFLY_PASSWORD"},
		{"secret env, old form", "ENV DRAGONFLY_LOG_FORMAT=json", "ENV DRAGONFLY_CLIENT_SECRET abc", "DRAGONFLY_CLIENT_SECRET"},
		{"secret build arg", "ARG VERSION=devel", "ARG VERSION=devel GITHUB_TOKEN", "GITHUB_TOKEN"},
		{"no healthcheck", `HEALTHCHECK --interval=30s CMD ["dragonfly", "healthcheck"]`, "", "HEALTHCHECK"},
		{"healthcheck off", `HEALTHCHECK --interval=30s CMD ["dragonfly", "healthcheck"]`, "HEALTHCHECK NONE", "HEALTHCHECK"},
		{"runs scan", `CMD ["run"]`, `CMD ["scan"]`, "dragonfly run"},
		{"entrypoint drops the cmd", "\nFROM runtime\n", "\nFROM runtime\nENTRYPOINT [\"dragonfly\"]\n", "dragonfly run"},
		{"shell entrypoint ignores cmd", `ENTRYPOINT ["/usr/local/bin/dragonfly"]`, "ENTRYPOINT dragonfly", "dragonfly run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(good, tc.old, tc.new, 1)
			if bad == good {
				t.Fatalf("%q is not in the good Dockerfile", tc.old)
			}
			got := dockerfileProblems(bad)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentions %q; problems: %q", tc.want, got)
			}
		})
	}
}
