package api_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/api/apitest"
)

func auth0Environ(s *apitest.Server) map[string]string {
	return map[string]string{
		"DRAGONFLY_AUTH0_DOMAIN":  s.Auth0URL,
		"DRAGONFLY_AUDIENCE":      apitest.DefaultAudience,
		"DRAGONFLY_CLIENT_ID":     apitest.DefaultClientID,
		"DRAGONFLY_CLIENT_SECRET": apitest.DefaultClientSecret,
		"DRAGONFLY_USERNAME":      apitest.DefaultUsername,
		"DRAGONFLY_PASSWORD":      apitest.DefaultPassword,
	}
}

func TestAuth0OneTokenForConcurrentCallsAndRenewalWhenItExpires(t *testing.T) {
	for _, era := range []apitest.Era{apitest.Today, apitest.Era2023} {
		t.Run(era.String(), func(t *testing.T) {
			s := apitest.New(t, apitest.Options{Era: era, Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0}})
			w := newWorker(t, s, auth0Environ(s))
			ctx := ctxFor(t, 20*time.Second)
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					if _, err := w.client.Rules(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n := s.TokenRequests(); n != 1 {
				t.Fatalf("%d token requests for 20 concurrent calls", n)
			}
			s.ExpireTokens() // the server now refuses the cached token
			if _, err := w.client.Rules(ctx); err != nil {
				t.Fatal(err)
			}
			s.RotateSigningKey() // 2023: 500 "Unable to verify credentials"; today: 401
			if _, err := w.client.Rules(ctx); err != nil {
				t.Fatal(err)
			}
			if n := s.TokenRequests(); n != 3 {
				t.Fatalf("%d token requests, want 3 (first, after expiry, after key rotation)", n)
			}
			if !w.creds.Ready() {
				t.Fatal("not ready after a successful renewal")
			}
		})
	}
}

func TestAuth0IdentityProviderDownForAWhile(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0}})
	w := newWorker(t, s, auth0Environ(s))
	s.SetIdPDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := w.client.Rules(ctx)
		done <- err
	}()
	// Let a few token requests fail, then bring the provider back.
	if err := s.WaitUntil(ctx, func() bool { return s.TokenRequests() >= 3 }); err != nil {
		t.Fatal(err)
	}
	if w.creds.Ready() {
		t.Error("ready while the identity provider fails")
	}
	s.SetIdPDown(false)
	if err := <-done; err != nil {
		t.Fatalf("the call did not recover: %v", err)
	}
	if !w.creds.Ready() {
		t.Error("not ready after recovery")
	}
}

func TestCloudflareCookieIsKeptAndRenewedAfterExpiry(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthCloudflare, TokenTTL: time.Hour}})
	w := newWorker(t, s, map[string]string{"DRAGONFLY_CLIENT_ID": apitest.DefaultClientID, "DRAGONFLY_CLIENT_SECRET": apitest.DefaultClientSecret})
	if w.creds.Kind() != "cloudflare" {
		t.Fatalf("auto chose %s", w.creds.Kind())
	}
	ctx := ctxFor(t, 10*time.Second)
	s.AddJob("p", "1", s.FileURL("p-1.whl"))
	for range 3 {
		if _, err := w.client.Rules(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.CookiesIssued(); n != 1 {
		t.Fatalf("%d cookies issued for 3 calls", n)
	}
	s.Advance(2 * time.Hour) // the edge no longer honours the cookie
	jobs, err := w.client.Lease(ctx, 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("%v %v", jobs, err)
	}
	if _, err := w.client.Submit(ctx, jobs[0].Result("h", verdictOf(0))); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stored("p", "1"); st.Identity != apitest.DefaultClientID {
		t.Fatalf("stored as %q", st.Identity)
	}
}

func TestRejectedStaticTokenWaitsAndIsNotReady(t *testing.T) {
	s := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthStatic}})
	s.AddToken("tok-s3cret", "volunteer")
	w := newWorker(t, s, map[string]string{"DRAGONFLY_TOKEN": "tok-s3cret"})
	ctx := ctxFor(t, 10*time.Second)
	if _, err := w.client.Rules(ctx); err != nil {
		t.Fatal(err)
	}
	s.RevokeToken("tok-s3cret")
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	before := len(s.RequestsTo(apitest.EndpointRules))
	_, err := w.client.Rules(short)
	if err == nil || w.creds.Ready() {
		t.Fatalf("err %v, ready %v", err, w.creds.Ready())
	}
	// The gate doubles its wait up to 5 ms here (5 min in production):
	// a hot loop would make thousands of requests in 300 ms.
	if n := len(s.RequestsTo(apitest.EndpointRules)) - before; n > 150 {
		t.Fatalf("%d requests with a rejected token in 300ms", n)
	}
	s.AddToken("tok-s3cret", "volunteer")
	if _, err := w.client.Rules(ctx); err != nil || !w.creds.Ready() {
		t.Fatalf("after the token was accepted again: %v, ready %v", err, w.creds.Ready())
	}
}

// TestNoSecretInLogs runs every kind of credentials through acceptance,
// rejection and renewal and searches all log output for the secrets.
func TestNoSecretInLogs(t *testing.T) {
	secrets := []string{apitest.DefaultClientSecret, apitest.DefaultPassword, "tok-s3cret"}
	var all strings.Builder
	ctx := ctxFor(t, 20*time.Second)

	a0 := apitest.New(t, apitest.Options{Era: apitest.Era2023, Auth: apitest.AuthOptions{Mode: apitest.AuthAuth0}})
	w := newWorker(t, a0, auth0Environ(a0))
	w.client.Rules(ctx)
	a0.RotateSigningKey()
	w.client.Rules(ctx)
	a0.SetIdPDown(true)
	a0.ExpireTokens()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	w.client.Rules(short)
	cancel()
	all.WriteString(w.logs.String())

	cf := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthCloudflare, DenyStatus: 403}})
	w = newWorker(t, cf, map[string]string{"DRAGONFLY_CLIENT_ID": apitest.DefaultClientID, "DRAGONFLY_CLIENT_SECRET": apitest.DefaultClientSecret})
	w.client.Rules(ctx)
	all.WriteString(w.logs.String())
	w = newWorker(t, cf, map[string]string{"DRAGONFLY_CLIENT_ID": apitest.DefaultClientID, "DRAGONFLY_CLIENT_SECRET": "tok-s3cret"})
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	w.client.Rules(short)
	cancel()
	all.WriteString(w.logs.String())

	st := apitest.New(t, apitest.Options{Auth: apitest.AuthOptions{Mode: apitest.AuthStatic}})
	w = newWorker(t, st, map[string]string{"DRAGONFLY_TOKEN": "tok-s3cret", "DRAGONFLY_TOKEN_HEADER": "Cf-Access-Jwt-Assertion"})
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := w.client.Rules(short)
	cancel()
	all.WriteString(w.logs.String())
	if err != nil {
		all.WriteString(err.Error())
	}

	if all.Len() == 0 {
		t.Fatal("no logs captured: the test would prove nothing")
	}
	for _, s := range secrets {
		if strings.Contains(all.String(), s) {
			t.Errorf("secret %q found in the logs:\n%s", s, all.String())
		}
	}
}
