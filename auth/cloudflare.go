package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// cfCookie is the cookie the Cloudflare edge sets once a service token was
// accepted; sending it back spares the edge a service-token check per call.
const cfCookie = "CF_Authorization"

// cloudflare sends a Cloudflare Access service token on every call and
// keeps the CF_Authorization cookie the edge answers with until its JWT's
// exp (minus the margin). The edge rejects a stale cookie with a 302 to its
// login page or a 403; the transport then drops the cookie (invalidate) and
// resends with the service token alone, which earns a fresh cookie.
type cloudflare struct {
	c          *creds
	id, secret Secret

	mu     sync.Mutex
	cookie *cookie // nil: none held
}

// cookie is a held CF_Authorization value; its pointer identifies it for
// invalidate.
type cookie struct {
	value   string
	renewAt time.Time
}

func (cf *cloudflare) authorize(_ context.Context, out *http.Request) (any, error) {
	out.Header.Set("CF-Access-Client-Id", cf.id.Reveal())
	out.Header.Set("CF-Access-Client-Secret", cf.secret.Reveal())
	cf.mu.Lock()
	ck := cf.cookie
	if ck != nil && !cf.c.now().Before(ck.renewAt) {
		cf.cookie, ck = nil, nil // past its exp minus the margin: drop it
	}
	cf.mu.Unlock()
	if ck == nil {
		return nil, nil
	}
	out.AddCookie(&http.Cookie{Name: cfCookie, Value: ck.value})
	return ck, nil
}

// observe keeps a CF_Authorization cookie the edge sets, and drops the held
// one when the edge deletes it.
func (cf *cloudflare) observe(resp *http.Response) {
	for _, hc := range resp.Cookies() {
		if hc.Name != cfCookie {
			continue
		}
		now := cf.c.now()
		if hc.Value == "" || hc.MaxAge < 0 {
			cf.mu.Lock()
			cf.cookie = nil
			cf.mu.Unlock()
			continue
		}
		exp, err := jwtExpiry(hc.Value)
		if err != nil || !exp.After(now) {
			// Without a usable exp the cookie's life is unknown: rely on
			// the service token alone.
			cf.c.log.Debug("ignoring a CF_Authorization cookie without a future exp claim", zap.NamedError("reason", err))
			continue
		}
		renewAt := exp.Add(-cf.c.marginFor(exp.Sub(now)))
		cf.mu.Lock()
		fresh := cf.cookie == nil || cf.cookie.value != hc.Value
		if fresh {
			cf.cookie = &cookie{value: hc.Value, renewAt: renewAt}
		}
		cf.mu.Unlock()
		if fresh {
			cf.c.renewed(true)
			cf.c.log.Debug("kept a new CF_Authorization cookie", zap.Time("renew_at", renewAt))
		}
	}
}

func (cf *cloudflare) invalidate(used any) {
	ck, _ := used.(*cookie)
	if ck == nil {
		return
	}
	cf.mu.Lock()
	if cf.cookie == ck {
		cf.cookie = nil
	}
	cf.mu.Unlock()
}

func (*cloudflare) renewable() bool { return true }

// jwtExpiry reads the exp claim of a JWT's payload. The signature is not
// checked: the edge checks it; the client only needs to know when the
// cookie stops being worth sending. Errors never quote the token.
func jwtExpiry(jwt string) (time.Time, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("not a JWT (want three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, errors.New("JWT payload is not base64url")
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, errors.New("JWT payload is not a JSON object")
	}
	if claims.Exp == nil {
		return time.Time{}, errors.New("JWT has no exp claim")
	}
	f, err := claims.Exp.Float64()
	if err != nil {
		return time.Time{}, errors.New("JWT exp claim is not a number")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}
