package localscan

import (
	"path"
	"regexp"
	"strings"
)

// DistSuffixes are the file name endings of the distributions PyPI serves.
var DistSuffixes = []string{".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".whl", ".egg"}

// HasDistSuffix reports whether name ends like a distribution file.
func HasDistSuffix(name string) bool {
	for _, s := range DistSuffixes {
		if strings.HasSuffix(strings.ToLower(name), s) {
			return true
		}
	}
	return false
}

// ParseDistName reads the project name and version from a distribution's
// file name, following the wheel and egg naming rules (name-version-…) and
// the sdist rule (name-version.ext, where a legacy name may hold hyphens:
// the version starts after the last hyphen that is followed by a digit).
// The name is returned normalised as PEP 503 does, so that an sdist
// "discord.py-2.2.3.tar.gz" and a wheel "discord_py-2.2.3-….whl" group
// together. ok is false when the name cannot be parsed.
func ParseDistName(file string) (name, version string, ok bool) {
	base := path.Base(strings.ReplaceAll(file, "\\", "/"))
	lower := strings.ToLower(base)
	var stem, ext string
	for _, s := range DistSuffixes {
		if strings.HasSuffix(lower, s) {
			stem, ext = base[:len(base)-len(s)], s
			break
		}
	}
	if stem == "" {
		return "", "", false
	}
	switch ext {
	case ".whl":
		parts := strings.Split(stem, "-")
		if len(parts) != 5 && len(parts) != 6 {
			return "", "", false
		}
		name, version = parts[0], parts[1]
	case ".egg":
		parts := strings.Split(stem, "-")
		if len(parts) < 2 {
			return "", "", false
		}
		name, version = parts[0], parts[1]
	default:
		i := strings.LastIndexFunc(stem, func(r rune) bool { return r == '-' })
		for i > 0 && !(i+1 < len(stem) && stem[i+1] >= '0' && stem[i+1] <= '9') {
			i = strings.LastIndexByte(stem[:i], '-')
		}
		if i <= 0 {
			return "", "", false
		}
		name, version = stem[:i], stem[i+1:]
	}
	if name == "" || version == "" {
		return "", "", false
	}
	return NormalizeName(name), version, true
}

var nameSeparators = regexp.MustCompile(`[-_.]+`)

// NormalizeName is PEP 503's normalised project name.
func NormalizeName(name string) string {
	return strings.ToLower(nameSeparators.ReplaceAllString(name, "-"))
}
