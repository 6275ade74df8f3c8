package localscan

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vipyrsec/dragonfly-client-go/internal/redact"
)

// ExpandTargets replaces each folder by the distribution files under it,
// in lexical order. Files named explicitly are taken whatever their name:
// the format is sniffed from their bytes. URLs are kept as given.
func ExpandTargets(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if IsURL(a) {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && HasDistSuffix(d.Name()) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: no distribution files (%s) in this folder", a, strings.Join(DistSuffixes, " "))
		}
	}
	return out, nil
}

// IsURL reports whether a target is an http(s) URL rather than a path.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// ShownTarget is a target as logs and reports name it: a URL without its
// query string and fragment, which may hold a signature and are no part of
// a file name; a path as given ("?" and "#" are file name characters).
func ShownTarget(s string) string {
	if IsURL(s) {
		return redact.Query(s)
	}
	return s
}
