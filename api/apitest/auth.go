package apitest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AuthMode is how the fake checks credentials: one per way the mainframe
// has been deployed (docs/contract.md § Authentication).
type AuthMode int

const (
	// AuthNone checks nothing: a development mainframe with auth off. The
	// worker identity is the User-Agent, or "anonymous".
	AuthNone AuthMode = iota
	// AuthStatic accepts the tokens registered with AddToken.
	AuthStatic
	// AuthAuth0 accepts tokens issued by the fake Auth0 token endpoint at
	// Auth0URL (password grant), plus any registered with AddToken.
	AuthAuth0
	// AuthCloudflare puts a fake Cloudflare Access edge in front of the
	// API: a service token's headers buy a CF_Authorization cookie.
	AuthCloudflare
)

// TokenHeaders selects which request headers carry a token in the
// AuthStatic and AuthAuth0 modes.
type TokenHeaders int

const (
	// HeadersDefault is HeadersEither for AuthStatic and
	// HeadersAuthorization for AuthAuth0 (the 2023 server read only
	// Authorization).
	HeadersDefault TokenHeaders = iota
	// HeadersEither accepts "Authorization: Bearer <token>" or the raw
	// token in Cf-Access-Jwt-Assertion; a valid token in either passes.
	HeadersEither
	// HeadersAuthorization accepts only "Authorization: Bearer <token>".
	HeadersAuthorization
	// HeadersAssertion accepts only Cf-Access-Jwt-Assertion: a mainframe
	// reached directly, without the Cloudflare edge.
	HeadersAssertion
)

// AuthOptions configure credentials. Unset credentials get fixed test
// defaults (see the Default... constants), so a test that does not care
// only sets Mode.
type AuthOptions struct {
	Mode    AuthMode
	Headers TokenHeaders

	// ClientID and ClientSecret are the Auth0 application's credentials in
	// AuthAuth0 mode, and the Cloudflare service token in AuthCloudflare
	// mode (more with AddServiceToken).
	ClientID, ClientSecret string
	// Audience, Username and Password are what the Auth0 token endpoint
	// expects (more users with AddUser).
	Audience           string
	Username, Password string

	// TokenTTL is the lifetime of an Auth0 token (its expires_in) and of a
	// CF_Authorization cookie (its exp claim), by the server's clock.
	// Default 24h.
	TokenTTL time.Duration
	// JWT makes the Auth0 token endpoint issue JWT-shaped tokens (three
	// base64url parts with iss, sub, aud, iat, exp, gty) instead of
	// opaque ones. Either way the server checks tokens by lookup.
	JWT bool

	// DenyStatus is what the Cloudflare edge answers a request without a
	// valid cookie or service token: http.StatusFound (the default, a
	// redirect to LoginURL on another host) or http.StatusForbidden.
	DenyStatus int
	// LoginURL is the Cloudflare login page the edge redirects to.
	LoginURL string
	// SecureCookie marks the CF_Authorization cookie Secure, as the real
	// edge does over https. Off by default: a cookie jar does not send a
	// Secure cookie to the plain-http loopback server.
	SecureCookie bool
}

// Defaults for unset AuthOptions.
const (
	DefaultClientID     = "apitest-client-id"
	DefaultClientSecret = "apitest-client-secret"
	DefaultAudience     = "https://dragonfly.vipyrsec.com"
	DefaultUsername     = "worker@apitest"
	DefaultPassword     = "apitest-password"
	DefaultLoginURL     = "https://vipyrsec.cloudflareaccess.com/cdn-cgi/access/login/dragonfly.vipyrsec.com"
)

func (o *AuthOptions) setDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.ClientID, DefaultClientID)
	def(&o.ClientSecret, DefaultClientSecret)
	def(&o.Audience, DefaultAudience)
	def(&o.Username, DefaultUsername)
	def(&o.Password, DefaultPassword)
	def(&o.LoginURL, DefaultLoginURL)
	if o.TokenTTL <= 0 {
		o.TokenTTL = 24 * time.Hour
	}
	if o.DenyStatus == 0 {
		o.DenyStatus = http.StatusFound
	}
	if o.Headers == HeadersDefault {
		o.Headers = HeadersEither
		if o.Mode == AuthAuth0 {
			o.Headers = HeadersAuthorization
		}
	}
}

// Subject returns the worker identity of a token issued by the fake Auth0
// for username, as Auth0 names a database user.
func Subject(username string) string { return "auth0|" + username }

type authState struct {
	tokens   map[string]*token
	users    map[string]string // Auth0 username → password
	services map[string]string // Cloudflare service token id → secret

	keyGen      int    // signing key generation; RotateSigningKey bumps it
	seq         uint64 // issue counter of tokens and cookies
	expiredUpTo uint64 // ExpireTokens: everything issued up to here is expired

	idpDown       bool
	cookiesIssued int
	cookieKey     []byte // signs CF_Authorization cookies
}

type token struct {
	subject string
	expires time.Time // zero: never (tokens added with AddToken)
	gen     int
	seq     uint64
}

func (a *authState) init(o AuthOptions) {
	a.tokens = map[string]*token{}
	a.users = map[string]string{o.Username: o.Password}
	a.services = map[string]string{o.ClientID: o.ClientSecret}
	a.cookieKey = make([]byte, 32)
	rand.Read(a.cookieKey)
}

// AddToken makes tok valid for subject, the worker identity, until
// RevokeToken. It never expires: a static token is renewed by nobody.
func (s *Server) AddToken(tok, subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth.tokens[tok] = &token{subject: subject, gen: s.auth.keyGen}
}

// RevokeToken makes a token (added or issued) unknown: it answers 401.
func (s *Server) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.auth.tokens, tok)
}

// AddUser lets username log in at the Auth0 token endpoint.
func (s *Server) AddUser(username, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth.users[username] = password
}

// AddServiceToken registers a Cloudflare Access service token; the worker
// identity of requests made with it is id.
func (s *Server) AddServiceToken(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth.services[id] = secret
}

// ExpireTokens expires every Auth0 token and CF_Authorization cookie issued
// so far, as if their lifetime had run out. Tokens added with AddToken are
// not affected (use RevokeToken).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth.expiredUpTo = s.auth.seq
}

// RotateSigningKey makes every token known so far signed by a retired key.
// The 2023 server could not find such a key and answered 500 "Unable to
// verify credentials"; today's server answers 401. New tokens are valid.
func (s *Server) RotateSigningKey() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth.keyGen++
}

// SetIdPDown makes the Auth0 token endpoint answer 503 (down) or work
// again. To drop its connections instead, use DropNext(EndpointToken, ...).
func (s *Server) SetIdPDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth.idpDown = down
}

// TokenRequests counts the requests that reached the Auth0 token endpoint,
// whatever they were answered.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenReqs
}

// CookiesIssued counts the CF_Authorization cookies the edge handed out: a
// client that keeps its cookie needs one per cookie lifetime, not one per
// request.
func (s *Server) CookiesIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auth.cookiesIssued
}

// identify names the worker behind a request without judging it, for the
// open endpoints' records.
func (s *Server) identify(r *http.Request) string {
	switch s.opts.Auth.Mode {
	case AuthNone:
		return anonymous(r)
	case AuthCloudflare:
		s.mu.Lock()
		defer s.mu.Unlock()
		if id, ok := s.cookieIdentityLocked(r); ok {
			return id
		}
		if id := r.Header.Get("CF-Access-Client-Id"); id != "" && s.serviceOKLocked(id, r.Header.Get("CF-Access-Client-Secret")) {
			return id
		}
		return ""
	default:
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.tokenCandidates(r) {
			if t, problem := s.lookupTokenLocked(c); problem == "" {
				return t.subject
			}
		}
		return ""
	}
}

func anonymous(r *http.Request) string {
	if ua := r.UserAgent(); ua != "" {
		return ua
	}
	return "anonymous"
}

// tokenCandidates are the tokens a request carries in the headers that
// count; "" stands for a malformed Authorization header.
func (s *Server) tokenCandidates(r *http.Request) []string {
	var out []string
	h := s.opts.Auth.Headers
	if h != HeadersAssertion {
		if v := r.Header.Get("Authorization"); v != "" {
			// As the real server: exactly two words, the first "bearer" in
			// any case.
			f := strings.Fields(v)
			if len(f) == 2 && strings.EqualFold(f[0], "bearer") {
				out = append(out, f[1])
			} else {
				out = append(out, "")
			}
		}
	}
	if h != HeadersAuthorization {
		if v := r.Header.Get("Cf-Access-Jwt-Assertion"); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Token problems, worst last.
const (
	tokenBad     = "bad"     // unknown, expired, malformed: 401
	tokenRetired = "retired" // signed by a rotated key
)

func (s *Server) lookupTokenLocked(tok string) (*token, string) {
	t, ok := s.auth.tokens[tok]
	switch {
	case tok == "" || !ok:
		return nil, tokenBad
	case t.gen != s.auth.keyGen:
		return nil, tokenRetired
	case !t.expires.IsZero() && (!s.nowLocked().Before(t.expires) || t.seq <= s.auth.expiredUpTo):
		return nil, tokenBad
	}
	return t, ""
}

// checkCredentials is the application's own check (the mainframe's
// validate_token dependency) in the none, static and Auth0 modes.
func (s *Server) checkCredentials(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.opts.Auth.Mode == AuthNone {
		return anonymous(r), true
	}
	s.mu.Lock()
	cands := s.tokenCandidates(r)
	worst := ""
	for _, c := range cands {
		t, problem := s.lookupTokenLocked(c)
		if problem == "" {
			s.mu.Unlock()
			return t.subject, true
		}
		if worst != tokenRetired {
			worst = problem
		}
	}
	s.mu.Unlock()
	switch {
	case len(cands) == 0:
		writeDetail(w, http.StatusUnauthorized, "Requires authentication")
	case worst == tokenRetired && s.opts.Era == Era2023:
		writeDetail(w, http.StatusInternalServerError, "Unable to verify credentials")
	default:
		writeDetail(w, http.StatusUnauthorized, "Bad credentials")
	}
	return "", false
}

// Cloudflare Access edge.

const cfCookie = "CF_Authorization"

// edge lets a request through to the API when it carries a valid
// CF_Authorization cookie, or a valid service token (then it sets a fresh
// cookie, as the real edge does). Otherwise it answers the login redirect
// or 403 and the API never sees the request.
func (s *Server) edge(w http.ResponseWriter, r *http.Request) (string, bool) {
	s.mu.Lock()
	if id, ok := s.cookieIdentityLocked(r); ok {
		s.mu.Unlock()
		return id, true
	}
	id := r.Header.Get("CF-Access-Client-Id")
	if id != "" && s.serviceOKLocked(id, r.Header.Get("CF-Access-Client-Secret")) {
		cookie := s.issueCookieLocked(id)
		s.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: cfCookie, Value: cookie, Path: "/", HttpOnly: true,
			Secure: s.opts.Auth.SecureCookie, SameSite: http.SameSiteNoneMode})
		return id, true
	}
	s.mu.Unlock()

	if s.opts.Auth.DenyStatus == http.StatusForbidden {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte("<!DOCTYPE html><title>Forbidden</title><h1>Forbidden</h1><p>You don't have permission to view this application.</p>"))
		return "", false
	}
	loc := s.opts.Auth.LoginURL + "?kid=apitest&redirect_url=" + url.QueryEscape(r.URL.RequestURI())
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(s.opts.Auth.DenyStatus)
	w.Write([]byte(`<a href="` + loc + `">Found</a>.`))
	return "", false
}

func (s *Server) serviceOKLocked(id, secret string) bool {
	want, ok := s.auth.services[id]
	return ok && hmac.Equal([]byte(want), []byte(secret))
}

// cfClaims is the part of Cloudflare Access's application token that the
// fake uses; common_name carries the service token's client id.
type cfClaims struct {
	Aud        []string `json:"aud"`
	Exp        int64    `json:"exp"`
	Iat        int64    `json:"iat"`
	Nbf        int64    `json:"nbf"`
	Iss        string   `json:"iss"`
	Type       string   `json:"type"`
	Sub        string   `json:"sub"`
	CommonName string   `json:"common_name"`
	Jti        string   `json:"jti"`
}

func (s *Server) issueCookieLocked(id string) string {
	s.auth.seq++
	s.auth.cookiesIssued++
	now := s.nowLocked()
	claims := cfClaims{
		Aud: []string{"apitest"}, Iat: now.Unix(), Nbf: now.Unix(),
		Exp: now.Add(s.opts.Auth.TokenTTL).Unix(),
		Iss: "https://vipyrsec.cloudflareaccess.com", Type: "app", CommonName: id,
		Jti: strconv.FormatUint(s.auth.seq, 10),
	}
	head := b64json(map[string]string{"alg": "HS256", "kid": "apitest", "typ": "JWT"})
	signing := head + "." + b64json(claims)
	return signing + "." + base64.RawURLEncoding.EncodeToString(s.cookieMAC(signing))
}

func (s *Server) cookieMAC(signing string) []byte {
	m := hmac.New(sha256.New, s.auth.cookieKey)
	m.Write([]byte(signing))
	return m.Sum(nil)
}

// cookieIdentityLocked checks the CF_Authorization cookie: signed by this
// edge, not expired by the server's clock nor by ExpireTokens. An invalid
// cookie counts as no cookie.
func (s *Server) cookieIdentityLocked(r *http.Request) (string, bool) {
	c, err := r.Cookie(cfCookie)
	if err != nil {
		return "", false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return "", false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, s.cookieMAC(parts[0]+"."+parts[1])) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var claims cfClaims
	if json.Unmarshal(raw, &claims) != nil {
		return "", false
	}
	seq, _ := strconv.ParseUint(claims.Jti, 10, 64)
	if s.nowLocked().Unix() >= claims.Exp || seq <= s.auth.expiredUpTo {
		return "", false
	}
	return claims.CommonName, true
}

func b64json(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Auth0 token endpoint.

// serveIdP is the fake Auth0 tenant: POST /oauth/token with the password
// grant, as the contract describes it (a JSON body). Its errors have Auth0's
// shape, {"error", "error_description"}.
func (s *Server) serveIdP(w http.ResponseWriter, r *http.Request, _ *reqInfo) {
	oauthErr := func(status int, code, desc string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if r.URL.Path != "/oauth/token" {
		writeJSON(w, http.StatusNotFound, map[string]any{"statusCode": 404, "error": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthErr(http.StatusMethodNotAllowed, "invalid_request", "Method not allowed")
		return
	}
	s.mu.Lock()
	down := s.auth.idpDown
	s.mu.Unlock()
	if down {
		oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "The service is temporarily unavailable")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		oauthErr(http.StatusBadRequest, "invalid_request", "Content-Type must be application/json")
		return
	}
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request", "Invalid JSON body")
		return
	}
	field := func(k string) string { v, _ := req[k].(string); return v }
	for _, k := range []string{"client_id", "client_secret", "audience", "grant_type", "username", "password"} {
		if field(k) == "" {
			oauthErr(http.StatusBadRequest, "invalid_request", "Missing required parameter: "+k)
			return
		}
	}
	o := s.opts.Auth
	if field("client_id") != o.ClientID || !hmac.Equal([]byte(field("client_secret")), []byte(o.ClientSecret)) {
		oauthErr(http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	if g := field("grant_type"); g != "password" {
		oauthErr(http.StatusForbidden, "unsupported_grant_type", "Grant type '"+g+"' not allowed for the client.")
		return
	}
	if a := field("audience"); a != o.Audience {
		oauthErr(http.StatusForbidden, "access_denied", "Service not found: "+a)
		return
	}

	s.mu.Lock()
	pw, ok := s.auth.users[field("username")]
	if !ok || !hmac.Equal([]byte(pw), []byte(field("password"))) {
		s.mu.Unlock()
		oauthErr(http.StatusForbidden, "invalid_grant", "Wrong email or password.")
		return
	}
	now := s.nowLocked()
	s.auth.seq++
	t := &token{subject: Subject(field("username")), expires: now.Add(o.TokenTTL), gen: s.auth.keyGen, seq: s.auth.seq}
	access := s.newAccessToken(t, now)
	s.auth.tokens[access] = t
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"expires_in":   int64(o.TokenTTL / time.Second),
		"token_type":   "Bearer",
	})
}

// newAccessToken makes an opaque token, or a JWT-shaped one whose claims
// tell the truth (a client may read exp) and whose signature is random: the
// server checks tokens by lookup, not by signature.
func (s *Server) newAccessToken(t *token, now time.Time) string {
	random := make([]byte, 24)
	rand.Read(random)
	if !s.opts.Auth.JWT {
		return "apitest-" + hex.EncodeToString(random)
	}
	o := s.opts.Auth
	head := b64json(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "apitest-" + strconv.Itoa(t.gen)})
	claims := b64json(map[string]any{
		"iss": "https://" + s.Auth0Domain + "/", "sub": t.subject, "aud": o.Audience,
		"iat": now.Unix(), "exp": t.expires.Unix(), "gty": "password",
	})
	return head + "." + claims + "." + base64.RawURLEncoding.EncodeToString(random)
}
