package apitest_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
)

func TestNoneModeIdentityIsTheUserAgent(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	s.AddJob("a", "1")
	s.AddJob("b", "1")
	newWorker(t, s, "User-Agent", "dragonfly-client-go/1.0 (worker-7)").leaseOne()
	newWorker(t, s, "User-Agent", "").leaseOne()
	leases := s.Leases()
	if leases[0].Identity != "dragonfly-client-go/1.0 (worker-7)" || leases[1].Identity != "anonymous" {
		t.Errorf("identities %q, %q", leases[0].Identity, leases[1].Identity)
	}
}

func TestStaticTokenHeaders(t *testing.T) {
	const good, bad = "good-token", "bad-token"
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	assertion := func(tok string) []string { return []string{"Cf-Access-Jwt-Assertion", tok} }
	both := func(a, b string) []string { return append(auth(a), assertion(b)...) }
	tests := []struct {
		name    string
		headers apitest.TokenHeaders
		send    []string
		status  int
		detail  string
	}{
		{"either: bearer", apitest.HeadersDefault, auth(good), 200, ""},
		{"either: assertion", apitest.HeadersEither, assertion(good), 200, ""},
		{"either: bad bearer, good assertion", apitest.HeadersEither, both(bad, good), 200, ""},
		{"either: good bearer, bad assertion", apitest.HeadersEither, both(good, bad), 200, ""},
		{"either: nothing", apitest.HeadersEither, nil, 401, "Requires authentication"},
		{"either: unknown", apitest.HeadersEither, auth(bad), 401, "Bad credentials"},
		{"either: lower-case scheme", apitest.HeadersEither, []string{"Authorization", "bearer " + good}, 200, ""},
		{"either: not bearer", apitest.HeadersEither, []string{"Authorization", "Token " + good}, 401, "Bad credentials"},
		{"either: no scheme", apitest.HeadersEither, []string{"Authorization", good}, 401, "Bad credentials"},
		{"authorization only: assertion ignored", apitest.HeadersAuthorization, assertion(good), 401, "Requires authentication"},
		{"authorization only: bearer", apitest.HeadersAuthorization, auth(good), 200, ""},
		{"assertion only: bearer ignored", apitest.HeadersAssertion, auth(good), 401, "Requires authentication"},
		{"assertion only: assertion", apitest.HeadersAssertion, assertion(good), 200, ""},
		{"assertion only: Bearer prefix is not stripped", apitest.HeadersAssertion, assertion("Bearer " + good), 401, "Bad credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthStatic, Headers: tc.headers}})
			s.AddToken(good, "w1")
			r := newWorker(t, s, tc.send...).do(http.MethodPost, "/jobs?batch=1", nil)
			if r.status != tc.status || r.detail() != tc.detail {
				t.Errorf("got %v, want %d %q", r, tc.status, tc.detail)
			}
			if tc.status == 200 {
				if id := s.Requests()[0].Identity; id != "w1" {
					t.Errorf("identity %q", id)
				}
			}
		})
	}
}

func TestStaticTokenRevocationAndKeyRotation(t *testing.T) {
	for _, tc := range []struct {
		era    apitest.Era
		status int
		detail string
	}{
		{apitest.Today, http.StatusUnauthorized, "Bad credentials"},
		{apitest.Era2023, http.StatusInternalServerError, "Unable to verify credentials"},
	} {
		t.Run(tc.era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: tc.era, Auth: apitest.AuthOptions{Mode: apitest.AuthStatic}})
			s.AddToken("t1", "w1")
			s.AddToken("t2", "w2")
			w1, w2 := bearer(t, s, "t1"), bearer(t, s, "t2")
			wantStatus(t, "valid", w1.do(http.MethodGet, "/rules", nil), http.StatusOK)

			s.RevokeToken("t2")
			r := w2.do(http.MethodGet, "/rules", nil)
			if r.status != http.StatusUnauthorized || r.detail() != "Bad credentials" {
				t.Errorf("revoked: %v", r)
			}
			// Static tokens do not expire with time or ExpireTokens.
			s.Advance(365 * 24 * time.Hour)
			s.ExpireTokens()
			wantStatus(t, "after a year", w1.do(http.MethodGet, "/rules", nil), http.StatusOK)

			s.RotateSigningKey()
			r = w1.do(http.MethodGet, "/rules", nil)
			if r.status != tc.status || r.detail() != tc.detail {
				t.Errorf("after rotation: %v, want %d %q", r, tc.status, tc.detail)
			}
			s.AddToken("t3", "w1")
			wantStatus(t, "new token after rotation", bearer(t, s, "t3").do(http.MethodGet, "/rules", nil), http.StatusOK)
		})
	}
}

// auth0Login posts a password grant and returns the answer.
func auth0Login(t *testing.T, s *apitest.Server, override map[string]any, header ...string) response {
	t.Helper()
	body := map[string]any{
		"client_id": apitest.DefaultClientID, "client_secret": apitest.DefaultClientSecret,
		"audience": apitest.DefaultAudience, "grant_type": "password",
		"username": apitest.DefaultUsername, "password": apitest.DefaultPassword,
	}
	for k, v := range override {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	w := newWorker(t, s)
	return w.do(http.MethodPost, s.Auth0URL+"/oauth/token", body, header...)
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   *int   `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

func auth0Token(t *testing.T, s *apitest.Server) string {
	t.Helper()
	r := auth0Login(t, s, nil)
	wantStatus(t, "token", r, http.StatusOK)
	var tok tokenAnswer
	json.Unmarshal(r.body, &tok)
	return tok.AccessToken
}

func TestAuth0TokenEndpoint(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0, TokenTTL: 5 * time.Minute}})
	if s.Auth0URL == "" || s.Auth0URL == s.URL || !strings.HasSuffix(s.Auth0URL, s.Auth0Domain) {
		t.Fatalf("Auth0URL %q, URL %q, domain %q", s.Auth0URL, s.URL, s.Auth0Domain)
	}

	r := auth0Login(t, s, nil)
	wantStatus(t, "login", r, http.StatusOK)
	var tok tokenAnswer
	if err := json.Unmarshal(r.body, &tok); err != nil || tok.AccessToken == "" || tok.ExpiresIn == nil ||
		*tok.ExpiresIn != 300 || tok.TokenType != "Bearer" {
		t.Fatalf("token answer %s", r.body)
	}

	for _, tc := range []struct {
		name     string
		override map[string]any
		header   []string
		status   int
		errCode  string
	}{
		{"wrong client secret", map[string]any{"client_secret": "nope"}, nil, 401, "access_denied"},
		{"unknown client", map[string]any{"client_id": "nope"}, nil, 401, "access_denied"},
		{"wrong password", map[string]any{"password": "nope"}, nil, 403, "invalid_grant"},
		{"unknown user", map[string]any{"username": "nobody"}, nil, 403, "invalid_grant"},
		{"client credentials grant", map[string]any{"grant_type": "client_credentials"}, nil, 403, "unsupported_grant_type"},
		{"wrong audience", map[string]any{"audience": "https://elsewhere"}, nil, 403, "access_denied"},
		{"missing username", map[string]any{"username": nil}, nil, 400, "invalid_request"},
		{"form encoded", nil, []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "invalid_request"},
	} {
		r := auth0Login(t, s, tc.override, tc.header...)
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(r.body, &e)
		if r.status != tc.status || e.Error != tc.errCode {
			t.Errorf("%s: %v, want %d %s", tc.name, r, tc.status, tc.errCode)
		}
	}
	if r := newWorker(t, s).do(http.MethodGet, s.Auth0URL+"/oauth/token", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET token endpoint: %v", r)
	}
	s.AddUser("second@apitest", "pw2")
	wantStatus(t, "added user", auth0Login(t, s, map[string]any{"username": "second@apitest", "password": "pw2"}), http.StatusOK)
	if n := s.TokenRequests(); n != 11 {
		t.Errorf("TokenRequests = %d, want 11", n)
	}
}

func TestAuth0TokensExpireByTheFakeClock(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0, TokenTTL: time.Minute}})
	s.AddJob("p", "1")
	tok := auth0Token(t, s)
	w := bearer(t, s, tok)
	j := w.leaseOne()
	if l := s.Leases()[0]; l.Identity != apitest.Subject(apitest.DefaultUsername) {
		t.Errorf("identity %q", l.Identity)
	}
	// The auth0 server reads only Authorization.
	r := newWorker(t, s, "Cf-Access-Jwt-Assertion", tok).do(http.MethodGet, "/rules", nil)
	wantStatus(t, "token in the assertion header", r, http.StatusUnauthorized)

	s.Advance(time.Minute)
	r = w.put(success(j, 1))
	if r.status != http.StatusUnauthorized || r.detail() != "Bad credentials" {
		t.Fatalf("expired token: %v", r)
	}
	// A new token from the same user is the same identity, so it may
	// deliver the result of the lease.
	w = bearer(t, s, auth0Token(t, s))
	wantStatus(t, "renewed token", w.put(success(j, 1)), http.StatusOK)

	s.ExpireTokens()
	wantStatus(t, "after ExpireTokens", w.do(http.MethodGet, "/rules", nil), http.StatusUnauthorized)
	wantStatus(t, "token issued after ExpireTokens", bearer(t, s, auth0Token(t, s)).do(http.MethodGet, "/rules", nil), http.StatusOK)
}

func TestAuth0RotatedKey2023(t *testing.T) {
	s := apitest.New(t, apitest.Options{Era: apitest.Era2023, Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0}})
	w := bearer(t, s, auth0Token(t, s))
	wantStatus(t, "before rotation", w.do(http.MethodGet, "/rules", nil), http.StatusOK)
	s.RotateSigningKey()
	r := w.do(http.MethodGet, "/rules", nil)
	if r.status != http.StatusInternalServerError || r.detail() != "Unable to verify credentials" {
		t.Fatalf("rotated key: %v", r)
	}
	wantStatus(t, "new token", bearer(t, s, auth0Token(t, s)).do(http.MethodGet, "/rules", nil), http.StatusOK)
}

func TestAuth0JWTTokens(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0, JWT: true, TokenTTL: 90 * time.Second}})
	tok := auth0Token(t, s)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not JWT-shaped", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
		Gty string `json:"gty"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.Sub != apitest.Subject(apitest.DefaultUsername) ||
		claims.Aud != apitest.DefaultAudience || claims.Exp-claims.Iat != 90 || claims.Gty != "password" {
		t.Errorf("claims %s", raw)
	}
	wantStatus(t, "JWT token", bearer(t, s, tok).do(http.MethodGet, "/rules", nil), http.StatusOK)
}

func TestAuth0IdentityProviderDown(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0}})
	s.SetIdPDown(true)
	wantStatus(t, "down", auth0Login(t, s, nil), http.StatusServiceUnavailable)
	s.SetIdPDown(false)
	s.DropNext(apitest.EndpointToken, 1, true)
	if r := auth0Login(t, s, nil); r.err == nil {
		t.Errorf("dropped token request answered %v", r)
	}
	s.FailNextRetryAfter(apitest.EndpointToken, 1, http.StatusTooManyRequests, "3")
	if r := auth0Login(t, s, nil); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "3" {
		t.Errorf("429: %v %v", r, r.header)
	}
	wantStatus(t, "up again", auth0Login(t, s, nil), http.StatusOK)
	if n := s.TokenRequests(); n != 4 {
		t.Errorf("TokenRequests = %d, want 4", n)
	}
}

func cloudflare(t *testing.T, o apitest.AuthOptions) *apitest.Server {
	o.Mode = apitest.AuthCloudflare
	return apitest.New(t, apitest.Options{Auth: o})
}

func serviceHeaders(id, secret string) []string {
	return []string{"CF-Access-Client-Id", id, "CF-Access-Client-Secret", secret}
}

func TestCloudflareEdgeDenies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		deny   int
		header []string
	}{
		{"no credentials, redirect", 0, nil},
		{"wrong secret, redirect", 0, serviceHeaders(apitest.DefaultClientID, "wrong")},
		{"bearer token means nothing to the edge", 0, []string{"Authorization", "Bearer x"}},
		{"no credentials, 403", http.StatusForbidden, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := cloudflare(t, apitest.AuthOptions{DenyStatus: tc.deny})
			s.AddJob("p", "1")
			w := newWorker(t, s, tc.header...)
			for _, path := range []string{"/jobs?batch=1", "/nope", "/jobs/"} {
				r := w.do(http.MethodPost, path, nil)
				switch tc.deny {
				case http.StatusForbidden:
					if r.status != http.StatusForbidden {
						t.Errorf("%s: %v", path, r)
					}
				default:
					loc, err := url.Parse(r.header.Get("Location"))
					if r.status != http.StatusFound || err != nil || loc.Host != "vipyrsec.cloudflareaccess.com" ||
						!strings.HasPrefix(loc.Path, "/cdn-cgi/access/login/") {
						t.Errorf("%s: %v Location %q", path, r, r.header.Get("Location"))
					}
				}
			}
			if len(s.Leases()) != 0 {
				t.Error("a denied request leased a job")
			}
			// GET / and files stay open.
			wantStatus(t, "GET /", w.do(http.MethodGet, "/", nil), http.StatusOK)
			wantStatus(t, "file", w.do(http.MethodGet, s.AddFile("f", []byte("x")), nil), http.StatusOK)
		})
	}
}

func cfCookieClaims(t *testing.T, hc *http.Client, base string) (value string, exp int64) {
	t.Helper()
	u, _ := url.Parse(base)
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == "CF_Authorization" {
			parts := strings.Split(c.Value, ".")
			if len(parts) != 3 {
				t.Fatalf("cookie %q is not a JWT", c.Value)
			}
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var claims struct {
				Exp int64 `json:"exp"`
			}
			if err := json.Unmarshal(raw, &claims); err != nil || claims.Exp == 0 {
				t.Fatalf("cookie claims %s", raw)
			}
			return c.Value, claims.Exp
		}
	}
	return "", 0
}

func TestCloudflareServiceTokenAndCookie(t *testing.T) {
	s := cloudflare(t, apitest.AuthOptions{TokenTTL: 10 * time.Minute})
	s.AddJob("p", "1")
	s.AddJob("q", "1")

	w := newWorker(t, s, serviceHeaders(apitest.DefaultClientID, apitest.DefaultClientSecret)...)
	w.hc = newJarHTTP(t)
	j := w.leaseOne()
	cookie, exp := cfCookieClaims(t, w.hc, s.URL)
	if cookie == "" {
		t.Fatal("no CF_Authorization cookie")
	}
	if want := s.Now().Add(10 * time.Minute).Unix(); exp < want-2 || exp > want+2 {
		t.Errorf("exp %d, want about %d", exp, want)
	}
	if l := s.Leases()[0]; l.Identity != apitest.DefaultClientID {
		t.Errorf("identity %q", l.Identity)
	}

	// The cookie alone passes, and no new cookie is issued.
	w.header = http.Header{}
	wantStatus(t, "cookie only", w.put(success(j, 0)), http.StatusOK)
	if n := s.CookiesIssued(); n != 1 {
		t.Errorf("CookiesIssued = %d", n)
	}

	// An expired cookie is no cookie.
	s.Advance(10 * time.Minute)
	wantStatus(t, "expired cookie", w.do(http.MethodPost, "/jobs?batch=1", nil), http.StatusFound)
	w.header = http.Header{}
	for i := 0; i < 4; i += 2 {
		h := serviceHeaders(apitest.DefaultClientID, apitest.DefaultClientSecret)
		w.header.Set(h[i], h[i+1])
	}
	w.leaseOne()
	if n := s.CookiesIssued(); n != 2 {
		t.Errorf("CookiesIssued = %d after renewal", n)
	}
	s.ExpireTokens()
	w.header = http.Header{}
	wantStatus(t, "cookie after ExpireTokens", w.do(http.MethodGet, "/rules", nil), http.StatusFound)
}

func TestCloudflareTamperedCookieAndSecondServiceToken(t *testing.T) {
	s := cloudflare(t, apitest.AuthOptions{SecureCookie: true})
	s.AddServiceToken("second-id", "second-secret")
	s.AddJob("p", "1")

	w := newWorker(t, s, serviceHeaders("second-id", "second-secret")...)
	r := w.do(http.MethodPost, "/jobs?batch=1", nil)
	wantStatus(t, "second service token", r, http.StatusOK)
	setCookie := r.header.Get("Set-Cookie")
	if !strings.Contains(setCookie, "Secure") || !strings.HasPrefix(setCookie, "CF_Authorization=") {
		t.Errorf("Set-Cookie %q", setCookie)
	}
	if id := s.Leases()[0].Identity; id != "second-id" {
		t.Errorf("identity %q", id)
	}

	value := strings.TrimPrefix(strings.SplitN(setCookie, ";", 2)[0], "CF_Authorization=")
	parts := strings.Split(value, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":99999999999,"common_name":"second-id"}`)) + "." + parts[2]
	for name, c := range map[string]string{"valid": value, "forged": forged, "garbage": "x.y"} {
		r := newWorker(t, s, "Cookie", "CF_Authorization="+c).do(http.MethodGet, "/rules", nil)
		want := http.StatusFound
		if name == "valid" {
			want = http.StatusOK
		}
		if r.status != want {
			t.Errorf("%s cookie: %v, want %d", name, r, want)
		}
	}
}

// TestPutWithRejectedCredentials is the credentials rows of the PUT status
// table: the result never reaches the endpoint and the job stays leased.
func TestPutWithRejectedCredentials(t *testing.T) {
	static := apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthStatic}}
	auth0 := apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0}}
	auth0in2023 := apitest.Options{Era: apitest.Era2023, Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0}}
	cf := apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthCloudflare}}
	cf403 := apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthCloudflare, DenyStatus: http.StatusForbidden}}

	// login makes a worker with valid credentials for the mode.
	login := func(t *testing.T, s *apitest.Server) *worker {
		switch s.Options().Auth.Mode {
		case apitest.AuthStatic:
			s.AddToken("tok", "w1")
			return bearer(t, s, "tok")
		case apitest.AuthAuth0:
			return bearer(t, s, auth0Token(t, s))
		default:
			w := newWorker(t, s, serviceHeaders(apitest.DefaultClientID, apitest.DefaultClientSecret)...)
			w.hc = newJarHTTP(t)
			return w
		}
	}
	for _, tc := range []struct {
		name string
		opts apitest.Options
		// spoil returns the worker whose PUT is refused.
		spoil  func(t *testing.T, s *apitest.Server, w *worker) *worker
		status int
	}{
		{"static: no token", static, func(t *testing.T, s *apitest.Server, _ *worker) *worker { return newWorker(t, s) },
			http.StatusUnauthorized},
		{"static: revoked token", static, func(_ *testing.T, s *apitest.Server, w *worker) *worker { s.RevokeToken("tok"); return w },
			http.StatusUnauthorized},
		{"auth0: expired token", auth0, func(_ *testing.T, s *apitest.Server, w *worker) *worker { s.ExpireTokens(); return w },
			http.StatusUnauthorized},
		{"auth0 2023: rotated key", auth0in2023, func(_ *testing.T, s *apitest.Server, w *worker) *worker { s.RotateSigningKey(); return w },
			http.StatusInternalServerError},
		{"cloudflare: no credentials", cf, func(t *testing.T, s *apitest.Server, _ *worker) *worker { return newWorker(t, s) },
			http.StatusFound},
		{"cloudflare: expired cookie, no service token, 403", cf403, func(_ *testing.T, s *apitest.Server, w *worker) *worker {
			s.ExpireTokens()
			w.header = http.Header{}
			return w
		}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := apitest.New(t, tc.opts)
			s.AddJob("p", "1")
			holder := login(t, s)
			j := holder.leaseOne()
			r := tc.spoil(t, s, holder).put(success(j, 1))
			wantStatus(t, "PUT", r, tc.status)
			if st, _ := s.State("p", "1"); st != apitest.StatePending || len(s.Results()) != 0 {
				t.Errorf("state %s, results %+v", st, s.Results())
			}
		})
	}
}
