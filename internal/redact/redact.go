// Package redact removes from URLs and paths what must not reach a log, a
// report or an error message.
package redact

import "strings"

// Query drops everything from the first "?" or "#" of s: a URL's query
// string and fragment may hold a signature, and are no part of a path or a
// file name.
func Query(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}
