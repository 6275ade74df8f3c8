package localscan

import "testing"

func TestParseDistName(t *testing.T) {
	tests := []struct{ file, name, version string }{
		{"requests-2.19.1.tar.gz", "requests", "2.19.1"},
		{"dist/discord.py-2.2.3.tar.gz", "discord-py", "2.2.3"},
		{"discord_py-2.2.3-py3-none-any.whl", "discord-py", "2.2.3"},
		{"numpy-1.24.3-cp310-cp310-macosx_10_9_x86_64.whl", "numpy", "1.24.3"},
		{"pkg-1.0-1-py3-none-any.whl", "pkg", "1.0"}, // build tag
		{"django-2fa-0.1.tgz", "django-2fa", "0.1"},
		{"Foo_Bar-1.0.zip", "foo-bar", "1.0"},
		{"thing-0.3.tar.bz2", "thing", "0.3"},
		{"thing-0.3.TAR.XZ", "thing", "0.3"},
		{"setuptools-0.6c11-py2.7.egg", "setuptools", "0.6c11"},
		{`C:\dl\pkg-1.0.tar.gz`, "pkg", "1.0"},
	}
	for _, tt := range tests {
		name, version, ok := ParseDistName(tt.file)
		if !ok || name != tt.name || version != tt.version {
			t.Errorf("ParseDistName(%q) = %q, %q, %v; want %q, %q", tt.file, name, version, ok, tt.name, tt.version)
		}
	}
	for _, bad := range []string{"noversion.tar.gz", "README.md", "a-b-c.whl", "-1.0.tar.gz", ".tar.gz", "pkg-.zip"} {
		if name, version, ok := ParseDistName(bad); ok {
			t.Errorf("ParseDistName(%q) = %q, %q; want not ok", bad, name, version)
		}
	}
}
