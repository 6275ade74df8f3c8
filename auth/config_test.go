package auth

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "auto" || c.Auth0Domain != "vipyrsec.us.auth0.com" || c.Audience != "https://dragonfly.vipyrsec.com" {
		t.Errorf("defaults = %+v", c)
	}
	if c.ClientID.IsSet() || c.Token.IsSet() || c.TokenHeader != "" {
		t.Errorf("unexpected values: %+v", c)
	}
}

// TestResolve covers every auto rule, every explicit mode and each
// missing-variable message.
func TestResolve(t *testing.T) {
	full := map[string]string{
		"DRAGONFLY_CLIENT_ID": "id", "DRAGONFLY_CLIENT_SECRET": "secret",
		"DRAGONFLY_USERNAME": "user", "DRAGONFLY_PASSWORD": "pass",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Kind
		errHas  []string // all must appear
		errLack []string // none may appear
	}{
		{name: "auto token", env: map[string]string{"DRAGONFLY_TOKEN": "t"}, want: Token},
		{name: "auto token wins over auth0", env: with(full, "DRAGONFLY_TOKEN", "t"), want: Token},
		{name: "auto auth0", env: full, want: Auth0},
		{name: "auto auth0 missing client", env: map[string]string{"DRAGONFLY_USERNAME": "u", "DRAGONFLY_PASSWORD": "p"},
			errHas: []string{"auth0", "DRAGONFLY_CLIENT_ID", "DRAGONFLY_CLIENT_SECRET"}, errLack: []string{"DRAGONFLY_USERNAME", "DRAGONFLY_PASSWORD,"}},
		{name: "auto auth0 missing password", env: map[string]string{"DRAGONFLY_USERNAME": "u", "DRAGONFLY_CLIENT_ID": "i", "DRAGONFLY_CLIENT_SECRET": "s"},
			errHas: []string{"auth0", "DRAGONFLY_PASSWORD"}, errLack: []string{"DRAGONFLY_CLIENT_ID"}},
		{name: "auto cloudflare", env: map[string]string{"DRAGONFLY_CLIENT_ID": "i", "DRAGONFLY_CLIENT_SECRET": "s"}, want: Cloudflare},
		{name: "auto cloudflare missing secret", env: map[string]string{"DRAGONFLY_CLIENT_ID": "i"},
			errHas: []string{"cloudflare", "DRAGONFLY_CLIENT_SECRET"}},
		{name: "auto nothing", env: map[string]string{},
			errHas: []string{"DRAGONFLY_TOKEN", "DRAGONFLY_USERNAME", "DRAGONFLY_CLIENT_ID", "auth0", "cloudflare", "token", "DRAGONFLY_AUTH_MODE=none"}},
		{name: "explicit auth0", env: with(full, "DRAGONFLY_AUTH_MODE", "auth0"), want: Auth0},
		{name: "explicit mode any case", env: with(full, "DRAGONFLY_AUTH_MODE", " Auth0 "), want: Auth0},
		{name: "explicit auth0 missing all", env: map[string]string{"DRAGONFLY_AUTH_MODE": "auth0"},
			errHas: []string{"DRAGONFLY_CLIENT_ID", "DRAGONFLY_CLIENT_SECRET", "DRAGONFLY_USERNAME", "DRAGONFLY_PASSWORD"}},
		{name: "explicit cloudflare ignores user", env: with(full, "DRAGONFLY_AUTH_MODE", "cloudflare"), want: Cloudflare},
		{name: "explicit cloudflare missing", env: map[string]string{"DRAGONFLY_AUTH_MODE": "cloudflare", "DRAGONFLY_TOKEN": "t"},
			errHas: []string{"DRAGONFLY_CLIENT_ID", "DRAGONFLY_CLIENT_SECRET"}},
		{name: "explicit token missing", env: with(full, "DRAGONFLY_AUTH_MODE", "token"), errHas: []string{"DRAGONFLY_TOKEN"}},
		{name: "explicit token", env: map[string]string{"DRAGONFLY_AUTH_MODE": "token", "DRAGONFLY_TOKEN": "t", "DRAGONFLY_TOKEN_HEADER": "X-Api-Key"}, want: Token},
		{name: "bad token header", env: map[string]string{"DRAGONFLY_TOKEN": "t", "DRAGONFLY_TOKEN_HEADER": "Bad Header:"},
			errHas: []string{"DRAGONFLY_TOKEN_HEADER"}},
		{name: "explicit none", env: map[string]string{"DRAGONFLY_AUTH_MODE": "none"}, want: None},
		{name: "unknown mode", env: map[string]string{"DRAGONFLY_AUTH_MODE": "oauth"},
			errHas: []string{"DRAGONFLY_AUTH_MODE", `"oauth"`, "auto, auth0, cloudflare, token, none"}},
		{name: "bad auth0 domain", env: with(full, "DRAGONFLY_AUTH0_DOMAIN", "ftp://x.example"), errHas: []string{"DRAGONFLY_AUTH0_DOMAIN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(tt.env)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			got, err := c.Resolve()
			if tt.errHas == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve = %q, %v; want %q", got, err, tt.want)
				}
				if _, err := New(c, Options{}); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve = %q, want an error", got)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig: %v", err)
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			for _, s := range tt.errLack {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q names %q", err, s)
				}
			}
			if _, err := New(c, Options{}); err == nil {
				t.Error("New accepted the configuration")
			}
		})
	}
}

func TestLoadConfigFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := LoadConfig(map[string]string{
		"DRAGONFLY_CLIENT_ID_FILE":     write("id", "file-id\n"),
		"DRAGONFLY_CLIENT_SECRET_FILE": write("secret", "file-secret\r\n"),
		"DRAGONFLY_USERNAME_FILE":      write("user", "file-user"),
		"DRAGONFLY_PASSWORD_FILE":      write("pass", "file pass with spaces \n\n"),
		"DRAGONFLY_TOKEN_FILE":         write("token", "file-token\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.ClientID.Reveal(), c.ClientSecret.Reveal(), c.Username.Reveal(), c.Password.Reveal(), c.Token.Reveal()}
	want := []string{"file-id", "file-secret", "file-user", "file pass with spaces ", "file-token"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d = %q, want %q", i, got[i], want[i])
		}
	}
	if k, err := c.Resolve(); err != nil || k != Token {
		t.Errorf("Resolve = %q, %v", k, err)
	}

	secretFile := write("leaky", "TOPSECRET-CONTENT\n")
	for _, name := range []string{"DRAGONFLY_CLIENT_ID", "DRAGONFLY_CLIENT_SECRET", "DRAGONFLY_USERNAME", "DRAGONFLY_PASSWORD", "DRAGONFLY_TOKEN"} {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				name   string
				env    map[string]string
				errHas []string
			}{
				{"both set", map[string]string{name: "direct-VALUE", name + "_FILE": secretFile}, []string{name + " and " + name + "_FILE"}},
				{"unreadable", map[string]string{name + "_FILE": filepath.Join(dir, "missing")}, []string{name + "_FILE", "missing"}},
				{"a folder", map[string]string{name + "_FILE": dir}, []string{name + "_FILE"}},
				{"empty", map[string]string{name + "_FILE": write("empty", "\n")}, []string{name + "_FILE", "empty"}},
			}
			for _, tt := range tests {
				_, err := LoadConfig(tt.env)
				if err == nil {
					t.Fatalf("%s: no error", tt.name)
				}
				if !errors.Is(err, ErrConfig) {
					t.Errorf("%s: error does not wrap ErrConfig: %v", tt.name, err)
				}
				for _, s := range tt.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s: error %q lacks %q", tt.name, err, s)
					}
				}
				if strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), "direct-VALUE") {
					t.Errorf("%s: error reveals a secret: %v", tt.name, err)
				}
			}
		})
	}
}

func TestLoadConfigProcessEnvironment(t *testing.T) {
	t.Setenv("DRAGONFLY_AUTH_MODE", "token")
	t.Setenv("DRAGONFLY_TOKEN", "from-process")
	c, err := LoadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "token" || c.Token.Reveal() != "from-process" {
		t.Errorf("LoadConfig(nil) = %+v", c)
	}
}

func TestTokenURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"vipyrsec.us.auth0.com", "https://vipyrsec.us.auth0.com/oauth/token"},
		{"vipyrsec.us.auth0.com/", "https://vipyrsec.us.auth0.com/oauth/token"},
		{"https://tenant.example", "https://tenant.example/oauth/token"},
		{"http://127.0.0.1:8081/", "http://127.0.0.1:8081/oauth/token"},
		{"ftp://x", ""},
		{"https://x/some/path", ""},
		{"https://user:pw@x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := tokenURL(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("tokenURL(%q) = %q, want an error", tt.in, got)
			} else if strings.Contains(err.Error(), "pw@") {
				t.Errorf("tokenURL error shows URL credentials: %v", err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("tokenURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestRedacted(t *testing.T) {
	c, err := LoadConfig(map[string]string{
		"DRAGONFLY_CLIENT_ID": "id-VALUE", "DRAGONFLY_PASSWORD": "pw-VALUE", "DRAGONFLY_TOKEN_HEADER": "X-Key",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	want := map[string]string{
		"DRAGONFLY_AUTH_MODE": "auto", "DRAGONFLY_AUTH0_DOMAIN": "vipyrsec.us.auth0.com",
		"DRAGONFLY_CLIENT_ID": "[redacted]", "DRAGONFLY_PASSWORD": "[redacted]", "DRAGONFLY_CLIENT_SECRET": "",
		"DRAGONFLY_TOKEN": "", "DRAGONFLY_TOKEN_HEADER": "X-Key", "DRAGONFLY_PASSWORD_FILE": "",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("Redacted()[%s] = %q, want %q", k, r[k], v)
		}
	}
	if len(r) != 14 {
		t.Errorf("Redacted has %d variables, want 14", len(r))
	}

	// Every field documents itself for `dragonfly config`.
	for _, f := range fieldsOf(Config{}) {
		if f.env == "" || f.doc == "" {
			t.Errorf("field %s lacks an env or doc tag", f.name)
		}
	}

	buf := &bufferLogger{}
	buf.Logger().Info("config", zap.Object("auth", c), zap.Any("raw", c))
	js, _ := json.Marshal(c)
	for _, out := range []string{buf.String(), string(js)} {
		if strings.Contains(out, "id-VALUE") || strings.Contains(out, "pw-VALUE") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if !strings.Contains(buf.String(), `"DRAGONFLY_PASSWORD":"[redacted]"`) {
		t.Errorf("zap.Object output: %s", buf.String())
	}
}
