package redact

import "testing"

func TestQuery(t *testing.T) {
	for in, want := range map[string]string{
		"/jobs?batch=1":                       "/jobs",
		"https://h/x-1.0.tar.gz?sig=s3cret#f": "https://h/x-1.0.tar.gz",
		"https://h/x-1.0.tar.gz#frag":         "https://h/x-1.0.tar.gz",
		"plain/path.whl":                      "plain/path.whl",
	} {
		if got := Query(in); got != want {
			t.Errorf("Query(%q) = %q, want %q", in, got, want)
		}
	}
}
