package report

import "testing"

func TestSARIFTargetURI(t *testing.T) {
	for in, want := range map[string]string{
		"dist/evil-1.0.tar.gz":     "dist/evil-1.0.tar.gz",
		"pkg-1.0+local.tar.gz":     "pkg-1.0+local.tar.gz",
		"a:b-1.0.tar.gz":           "./a:b-1.0.tar.gz",
		"dir/a:b-1.0.tar.gz":       "dir/a:b-1.0.tar.gz",
		"100%-1.0.tar.gz":          "100%25-1.0.tar.gz",
		"x [1]-1.0.zip":            "x%20%5B1%5D-1.0.zip",
		"/tmp/x y/evil-1.0.tar.gz": "file:///tmp/x%20y/evil-1.0.tar.gz",
		"https://files.example/p/évil-1.0.tar.gz?sig=s3cret#frag": "https://files.example/p/%C3%A9vil-1.0.tar.gz",
		"https://h/a%20b-1.0.tar.gz":                              "https://h/a%20b-1.0.tar.gz",
		"https://h/a b-1.0.tar.gz":                                "https://h/a%20b-1.0.tar.gz",
		"https://h/100%-1.0.tar.gz":                               "https://h/100%25-1.0.tar.gz",
		"http://[::1]:8080/x-1.0.whl":                             "http://[::1]:8080/x-1.0.whl",
	} {
		if got := sarifTargetURI(in); got != want {
			t.Errorf("sarifTargetURI(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"pkg/a.py":         "/pkg/a.py",
		"/etc/passwd":      "/etc/passwd",
		"//host/x":         "/host/x", // never an authority
		"pkg/caf\xe9.py":   "/pkg/caf%E9.py",
		"o.zip/i#1?.py":    "/o.zip/i%231%3F.py",
		"pkg/a\\b\x00c.py": "/pkg/a%5Cb%00c.py",
	} {
		if got := sarifNestedURI(in); got != want {
			t.Errorf("sarifNestedURI(%q) = %q, want %q", in, got, want)
		}
	}
}
