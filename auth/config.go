package auth

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/caarlos0/env/v11"
	"go.uber.org/zap/zapcore"
)

// Kind names a way of authenticating to the mainframe.
type Kind string

// The kinds of credentials (values of DRAGONFLY_AUTH_MODE besides auto).
const (
	Auth0      Kind = "auth0"
	Cloudflare Kind = "cloudflare"
	Token      Kind = "token"
	None       Kind = "none"
)

// modeAuto picks the kind from the credentials that are set.
const modeAuto = "auto"

// allowedModes is the list every mode error shows.
const allowedModes = "auto, auth0, cloudflare, token, none"

// ErrConfig is wrapped by every configuration error of this package, so that
// the command can tell a start-up mistake (exit 2) from a runtime failure.
var ErrConfig = errors.New("auth configuration")

// Config is the authentication part of the worker's environment. Each field
// carries a one-line `doc` tag, from which `dragonfly config` prints the
// variables; the *File fields are the mounted-secret forms of the secrets.
type Config struct {
	Mode        string `env:"DRAGONFLY_AUTH_MODE" envDefault:"auto" doc:"how to authenticate: auto, auth0, cloudflare, token or none"`
	Auth0Domain string `env:"DRAGONFLY_AUTH0_DOMAIN" envDefault:"vipyrsec.us.auth0.com" doc:"Auth0 tenant domain (https), or an http(s)://host[:port] base URL"`
	Audience    string `env:"DRAGONFLY_AUDIENCE" envDefault:"https://dragonfly.vipyrsec.com" doc:"Auth0 audience of the mainframe API"`

	ClientID         Secret `env:"DRAGONFLY_CLIENT_ID" doc:"Auth0 client ID, or the Cloudflare Access service token's client ID"`
	ClientIDFile     string `env:"DRAGONFLY_CLIENT_ID_FILE" doc:"file holding DRAGONFLY_CLIENT_ID (a mounted secret)"`
	ClientSecret     Secret `env:"DRAGONFLY_CLIENT_SECRET" doc:"Auth0 client secret, or the Cloudflare Access service token's client secret"`
	ClientSecretFile string `env:"DRAGONFLY_CLIENT_SECRET_FILE" doc:"file holding DRAGONFLY_CLIENT_SECRET (a mounted secret)"`
	Username         Secret `env:"DRAGONFLY_USERNAME" doc:"Auth0 user of the password grant"`
	UsernameFile     string `env:"DRAGONFLY_USERNAME_FILE" doc:"file holding DRAGONFLY_USERNAME (a mounted secret)"`
	Password         Secret `env:"DRAGONFLY_PASSWORD" doc:"Auth0 password of the password grant"`
	PasswordFile     string `env:"DRAGONFLY_PASSWORD_FILE" doc:"file holding DRAGONFLY_PASSWORD (a mounted secret)"`
	Token            Secret `env:"DRAGONFLY_TOKEN" doc:"a pre-issued token, sent as it is (not renewable)"`
	TokenFile        string `env:"DRAGONFLY_TOKEN_FILE" doc:"file holding DRAGONFLY_TOKEN (a mounted secret)"`
	TokenHeader      string `env:"DRAGONFLY_TOKEN_HEADER" doc:"header for DRAGONFLY_TOKEN: Authorization (Bearer), another name (raw), unset (both Authorization and Cf-Access-Jwt-Assertion)"`
}

// maxSecretFile bounds a _FILE read: a secret is short, and a path pointing
// at something huge by mistake should fail rather than fill memory.
const maxSecretFile = 64 << 10

// LoadConfig reads the configuration from environ (nil: the process
// environment) and resolves the _FILE forms of the secrets. It does not
// check that the credentials fit the mode; Resolve does.
func LoadConfig(environ map[string]string) (Config, error) {
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	for _, s := range c.secretFiles() {
		if err := s.resolve(); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// secretFile pairs a secret with its _FILE form.
type secretFile struct {
	name  string // the variable, e.g. DRAGONFLY_PASSWORD
	value *Secret
	path  string
}

func (c *Config) secretFiles() []secretFile {
	return []secretFile{
		{"DRAGONFLY_CLIENT_ID", &c.ClientID, c.ClientIDFile},
		{"DRAGONFLY_CLIENT_SECRET", &c.ClientSecret, c.ClientSecretFile},
		{"DRAGONFLY_USERNAME", &c.Username, c.UsernameFile},
		{"DRAGONFLY_PASSWORD", &c.Password, c.PasswordFile},
		{"DRAGONFLY_TOKEN", &c.Token, c.TokenFile},
	}
}

// resolve loads the secret from its file. Errors name the variable and the
// path (not secret), never the content.
func (s secretFile) resolve() error {
	if s.path == "" {
		return nil
	}
	fileVar := s.name + "_FILE"
	if s.value.IsSet() {
		return fmt.Errorf("%w: %s and %s are both set; set one", ErrConfig, s.name, fileVar)
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("%w: %s: cannot read the file: %v", ErrConfig, fileVar, pathError(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return fmt.Errorf("%w: %s: cannot read the file: %v", ErrConfig, fileVar, pathError(err))
	}
	if len(b) > maxSecretFile {
		return fmt.Errorf("%w: %s: file %s is larger than %d bytes", ErrConfig, fileVar, s.path, maxSecretFile)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return fmt.Errorf("%w: %s: file %s is empty", ErrConfig, fileVar, s.path)
	}
	*s.value = Secret(v)
	return nil
}

// pathError keeps an *os.PathError's operation, path and cause; other errors
// pass through (a read error never carries the bytes read).
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %v", pe.Op, pe.Path, pe.Err)
	}
	return err
}

// Resolve applies DRAGONFLY_AUTH_MODE (docs/contract.md § Authentication) and
// checks that the chosen kind has every credential it needs. In auto mode:
// DRAGONFLY_TOKEN → token; DRAGONFLY_USERNAME or DRAGONFLY_PASSWORD → auth0
// (which also needs the client ID and secret); otherwise the client ID or
// secret → cloudflare; nothing → an error listing the choices, since none
// must be chosen explicitly. Errors name every missing variable.
func (c Config) Resolve() (Kind, error) {
	mode := strings.ToLower(strings.TrimSpace(c.Mode))
	var k Kind
	switch mode {
	case modeAuto, "":
		switch {
		case c.Token.IsSet():
			k = Token
		case c.Username.IsSet() || c.Password.IsSet():
			k = Auth0
		case c.ClientID.IsSet() || c.ClientSecret.IsSet():
			k = Cloudflare
		default:
			return "", fmt.Errorf("%w: no credentials set (DRAGONFLY_AUTH_MODE=auto); set one of: "+
				"DRAGONFLY_TOKEN (token); DRAGONFLY_USERNAME, DRAGONFLY_PASSWORD, DRAGONFLY_CLIENT_ID and DRAGONFLY_CLIENT_SECRET (auth0); "+
				"DRAGONFLY_CLIENT_ID and DRAGONFLY_CLIENT_SECRET (cloudflare); or DRAGONFLY_AUTH_MODE=none for a mainframe without auth",
				ErrConfig)
		}
	case string(Auth0), string(Cloudflare), string(Token), string(None):
		k = Kind(mode)
	default:
		return "", fmt.Errorf("%w: DRAGONFLY_AUTH_MODE=%q is not one of %s", ErrConfig, c.Mode, allowedModes)
	}
	if missing := c.missing(k); len(missing) > 0 {
		return "", fmt.Errorf("%w: auth mode %s needs %s (or the _FILE form)", ErrConfig, k, strings.Join(missing, ", "))
	}
	switch k {
	case Auth0:
		if _, err := tokenURL(c.Auth0Domain); err != nil {
			return "", err
		}
	case Token:
		if c.TokenHeader != "" && !validHeaderName(c.TokenHeader) {
			return "", fmt.Errorf("%w: DRAGONFLY_TOKEN_HEADER=%q is not a valid header name", ErrConfig, c.TokenHeader)
		}
	}
	return k, nil
}

// missing lists the unset variables kind k needs.
func (c Config) missing(k Kind) []string {
	var need []secretFile
	all := c.secretFiles()
	switch k {
	case Auth0:
		need = all[:4]
	case Cloudflare:
		need = all[:2]
	case Token:
		need = all[4:]
	}
	var out []string
	for _, s := range need {
		if !s.value.IsSet() {
			out = append(out, s.name)
		}
	}
	return out
}

// tokenURL turns DRAGONFLY_AUTH0_DOMAIN into the token endpoint: a bare
// domain means https; an http(s)://host[:port] base is used as given (tests
// point it at a loopback server).
func tokenURL(domain string) (string, error) {
	d := strings.TrimRight(strings.TrimSpace(domain), "/")
	if !strings.Contains(d, "://") {
		d = "https://" + d
	}
	u, err := url.Parse(d)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		shown := fmt.Sprintf("=%q", domain)
		if strings.Contains(domain, "@") {
			shown = " (not shown: it holds user information)"
		}
		return "", fmt.Errorf("%w: DRAGONFLY_AUTH0_DOMAIN%s must be a domain such as vipyrsec.us.auth0.com or an http(s)://host[:port] URL", ErrConfig, shown)
	}
	return u.Scheme + "://" + u.Host + "/oauth/token", nil
}

// validHeaderName reports whether s is an RFC 9110 token, the syntax of a
// header field name.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// Redacted returns the effective configuration by variable name, for
// printing at start-up: secrets show as [redacted], or "" when unset.
func (c Config) Redacted() map[string]string {
	out := make(map[string]string)
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("env")
		if name == "" {
			continue
		}
		// Secret's String redacts; plain strings print as they are.
		out[name] = fmt.Sprint(v.Field(i).Interface())
	}
	return out
}

// MarshalLogObject logs the effective configuration with secrets redacted,
// so zap.Object("auth", cfg) is safe.
func (c Config) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	r := c.Redacted()
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		enc.AddString(k, r[k])
	}
	return nil
}
