package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrRejected marks a final answer of the mainframe (404, 409, 422, other
// 4xx): retrying the same request would get the same answer.
var ErrRejected = errors.New("rejected by the mainframe")

// StatusError is an HTTP answer of the mainframe that was not a success. It
// carries the server's "detail" (short, never a whole body) so that an
// operator can read why.
type StatusError struct {
	Method, Path string
	Status       int
	Detail       string
	Final        bool          // per docs/contract.md § Status handling and retries
	RetryAfter   time.Duration // the server's Retry-After, 0 when none
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is makes errors.Is(err, ErrRejected) true for final answers.
func (e *StatusError) Is(target error) bool { return target == ErrRejected && e.Final }

// maxDetail bounds the part of a server's error body that reaches logs.
const maxDetail = 300

// detailOf extracts FastAPI's {"detail": ...} from an error body: a string as
// is, a validation list as compact JSON. Anything else is summarised by
// length, never quoted, since a body of an unknown proxy may echo anything.
func detailOf(body []byte) string {
	var v struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Detail) == 0 {
		if len(body) == 0 {
			return ""
		}
		return fmt.Sprintf("(%d bytes, not a mainframe error body)", len(body))
	}
	var s string
	if json.Unmarshal(v.Detail, &s) != nil {
		s = string(v.Detail)
	}
	return clip(s, maxDetail)
}

// clip shortens s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
