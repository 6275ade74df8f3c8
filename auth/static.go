package auth

import (
	"context"
	"net/http"
	"strings"
)

// jwtAssertionHeader is what a mainframe reached without the Cloudflare
// edge reads the caller's token from.
const jwtAssertionHeader = "Cf-Access-Jwt-Assertion"

// static sends a pre-issued token. It cannot be renewed: a rejection closes
// the gate until an accepted call opens it again.
type static struct {
	token  Secret
	header string // DRAGONFLY_TOKEN_HEADER, as given
}

// authorize places the token as DRAGONFLY_TOKEN_HEADER says (the name
// matched without regard to case): Authorization gets "Bearer <token>",
// another name the raw token, and unset both Authorization and
// Cf-Access-Jwt-Assertion, which works against either era of mainframe.
func (s static) authorize(_ context.Context, out *http.Request) (any, error) {
	tok := s.token.Reveal()
	switch {
	case s.header == "":
		out.Header.Set("Authorization", "Bearer "+tok)
		out.Header.Set(jwtAssertionHeader, tok)
	case strings.EqualFold(s.header, "Authorization"):
		out.Header.Set("Authorization", "Bearer "+tok)
	default:
		out.Header.Set(s.header, tok)
	}
	return nil, nil
}

func (static) observe(*http.Response) {}
func (static) invalidate(any)         {}
func (static) renewable() bool        { return false }

// none adds nothing, for a development mainframe with auth turned off.
type none struct{}

func (none) authorize(context.Context, *http.Request) (any, error) { return nil, nil }
func (none) observe(*http.Response)                                {}
func (none) invalidate(any)                                        {}
func (none) renewable() bool                                       { return false }
