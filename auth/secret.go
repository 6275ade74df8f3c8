package auth

import (
	"fmt"
	"strconv"
)

// redacted is what every printed form of a set Secret shows.
const redacted = "[redacted]"

// Secret is a credential value. Every way of printing it (fmt verbs
// including %#v and %x, JSON, text marshalling, zap fields, which use
// fmt.Stringer) shows "[redacted]", or nothing when it is unset, so that an
// operator can tell a missing secret from a present one without seeing it.
// Only Reveal gives the value; call it where the value goes on the wire.
//
// Secret deliberately does not implement zapcore.ObjectMarshaler: zap.Any
// prefers that interface to fmt.Stringer and would log the secret as a
// nested object ({"value":"[redacted]"}) rather than as the plain string
// "[redacted]". Through fmt.Stringer, zap.Any, zap.Stringer and the sugared
// logger all print the redacted string.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret holds a value.
func (s Secret) IsSet() bool { return s != "" }

// String returns "[redacted]", or "" when the secret is unset.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Format handles every verb, so that neither %v, %s, %q, %+v, %#v nor %x
// can print the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		_, _ = f.Write([]byte(strconv.Quote(s.String())))
	case 'v':
		if f.Flag('#') {
			_, _ = f.Write([]byte(s.GoString()))
			return
		}
		_, _ = f.Write([]byte(s.String()))
	default:
		_, _ = f.Write([]byte(s.String()))
	}
}

// MarshalJSON writes "[redacted]", or "" when unset.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalText writes [redacted], or nothing when unset.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
