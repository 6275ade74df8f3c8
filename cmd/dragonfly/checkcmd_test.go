package main

import (
	"net"
	"strings"
	"testing"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
)

// checkEnv points the check at s with a Cloudflare service token.
func checkEnv(t *testing.T, s *apitest.Server, secret string) {
	t.Chdir(t.TempDir()) // no stray .env
	t.Setenv("DRAGONFLY_BASE_URL", s.URL)
	t.Setenv("DRAGONFLY_CLIENT_ID", apitest.DefaultClientID)
	t.Setenv("DRAGONFLY_CLIENT_SECRET", secret)
}

func TestCheckAllWell(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthCloudflare}})
	s.SetRules("abc123", map[string]string{
		"one": `rule one { meta: weight = 1 strings: $a = "x1" condition: $a }`,
		"two": `private rule helper { condition: true } rule two { meta: weight = 2 condition: helper }`,
	})
	checkEnv(t, s, apitest.DefaultClientSecret)
	code, stdout, stderr := runCLI(t, "check")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"configuration  ok", "limits", "mainframe      ok  server commit", "credentials    ok  cloudflare, accepted",
		"rules          ok  hash abc123: 2 files, 2 rules, 0 compiler warnings"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if n := len(s.RequestsTo(apitest.EndpointJobs)); n != 0 {
		t.Errorf("check leased jobs (%d requests)", n)
	}
	if strings.Contains(stdout+stderr, apitest.DefaultClientSecret) {
		t.Error("the secret was printed")
	}
}

func TestCheckNamesTheFailingStep(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthCloudflare, DenyStatus: 403}})
	broken := apitest.New(t, apitest.Options{})
	broken.SetRules("bad", map[string]string{"x": "rule broken { condition: }"})
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := "http://" + closed.Addr().String()
	closed.Close()

	tests := []struct {
		name string
		env  func(t *testing.T)
		want string
	}{
		{"bad setting", func(t *testing.T) {
			checkEnv(t, s, apitest.DefaultClientSecret)
			t.Setenv("DRAGONFLY_BULK_SIZE", "many")
		},
			"configuration  FAILED  DRAGONFLY_BULK_SIZE"},
		{"no credentials", func(t *testing.T) { checkEnv(t, s, ""); t.Setenv("DRAGONFLY_CLIENT_ID", "") },
			"configuration  FAILED"},
		{"mainframe unreachable", func(t *testing.T) { checkEnv(t, s, apitest.DefaultClientSecret); t.Setenv("DRAGONFLY_BASE_URL", gone) },
			"mainframe      FAILED"},
		{"wrong secret", func(t *testing.T) { checkEnv(t, s, "wrong-secret") }, "credentials    FAILED  cloudflare credentials"},
		{"rules do not compile", func(t *testing.T) {
			checkEnv(t, broken, apitest.DefaultClientSecret)
			t.Setenv("DRAGONFLY_AUTH_MODE", "none")
		},
			"rules          FAILED  hash bad does not compile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env(t)
			code, stdout, stderr := runCLI(t, "check", "--timeout", "10s")
			if code != 1 || !strings.Contains(stdout, tt.want) {
				t.Fatalf("exit %d, want 1 and %q:\n%s%s", code, tt.want, stdout, stderr)
			}
			if testing.Verbose() {
				t.Log(stdout)
			}
			if strings.Contains(stdout, "wrong-secret") {
				t.Error("the secret was printed")
			}
		})
	}
}
