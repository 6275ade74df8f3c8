package scan

import (
	"fmt"
	"net/url"
	"strings"
)

// InspectorBase returns the inspector.pypi.io page of a distribution: the
// URL's path under /project/{name}/{version}/, with a trailing slash. Name
// and version are used as the job gave them. Only http(s) URLs have one.
func InspectorBase(distURL, name, version string) (string, error) {
	u, err := url.Parse(distURL)
	if err != nil {
		return "", fmt.Errorf("inspector: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("inspector: %q is not an http(s) URL", u.Redacted())
	}
	var b strings.Builder
	b.WriteString("https://inspector.pypi.io/project/")
	b.WriteString(escapePath(name, false))
	b.WriteByte('/')
	b.WriteString(escapePath(version, false))
	b.WriteByte('/')
	b.WriteString(escapePath(strings.TrimPrefix(u.Path, "/"), true))
	b.WriteByte('/')
	return b.String(), nil
}

// InspectorURL returns the inspector page of the file at filePath inside
// the distribution at distURL.
func InspectorURL(distURL, name, version, filePath string) (string, error) {
	base, err := InspectorBase(distURL, name, version)
	if err != nil {
		return "", err
	}
	return base + escapePath(filePath, true), nil
}

// escapePath percent-encodes every byte that may not stand in a URL path
// (RFC 3986 pchar, plus "/" when keepSlash) and leaves the rest as it is,
// so that ordinary names read the same in the URL. Non-UTF-8 bytes are
// escaped one by one.
func escapePath(s string, keepSlash bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isPathChar(c) || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0
}
