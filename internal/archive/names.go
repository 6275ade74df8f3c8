package archive

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DisplayName returns name as it is when it is printable UTF-8, and quoted
// with Go escapes otherwise, so that hostile bytes in a file name can
// neither vanish in a report nor forge one.
func DisplayName(name string) string {
	if utf8.ValidString(name) && !strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return name
	}
	return strconv.Quote(name)
}
