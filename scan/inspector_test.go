package scan

import "testing"

func TestInspectorBaseUpstreamVectors(t *testing.T) {
	tests := []struct{ name, version, in, want string }{
		{"numpy", "1.24.3",
			"https://files.pythonhosted.org/packages/f3/23/7cc851bae09cf4db90d42a701dfe525780883ada86bece45e3da7a07e76b/numpy-1.24.3-cp310-cp310-macosx_10_9_x86_64.whl/numpy/__init__.pyi",
			"https://inspector.pypi.io/project/numpy/1.24.3/packages/f3/23/7cc851bae09cf4db90d42a701dfe525780883ada86bece45e3da7a07e76b/numpy-1.24.3-cp310-cp310-macosx_10_9_x86_64.whl/numpy/__init__.pyi/"},
		{"discord-py", "2.2.3",
			"https://files.pythonhosted.org/packages/36/ce/3ad5a63240b504722dada49d880f9f6250ab861baaba5d27df4f4cb3e34a/discord.py-2.2.3.tar.gz/discord.py-2.2.3/discord/app_commands/checks.py",
			"https://inspector.pypi.io/project/discord-py/2.2.3/packages/36/ce/3ad5a63240b504722dada49d880f9f6250ab861baaba5d27df4f4cb3e34a/discord.py-2.2.3.tar.gz/discord.py-2.2.3/discord/app_commands/checks.py/"},
		{"requests", "2.19.1",
			"https://files.pythonhosted.org/packages/54/1f/782a5734931ddf2e1494e4cd615a51ff98e1879cbe9eecbdfeaf09aa75e9/requests-2.19.1.tar.gz/requests-2.19.1/LICENSE",
			"https://inspector.pypi.io/project/requests/2.19.1/packages/54/1f/782a5734931ddf2e1494e4cd615a51ff98e1879cbe9eecbdfeaf09aa75e9/requests-2.19.1.tar.gz/requests-2.19.1/LICENSE/"},
		// A test server's URL: port, query and fragment do not carry over.
		{"demo", "1.0", "http://127.0.0.1:8080/files/demo-1.0.tar.gz?sig=secret#x",
			"https://inspector.pypi.io/project/demo/1.0/files/demo-1.0.tar.gz/"},
	}
	for _, tt := range tests {
		got, err := InspectorBase(tt.in, tt.name, tt.version)
		if err != nil || got != tt.want {
			t.Errorf("InspectorBase(%s) =\n %q, %v\nwant\n %q", tt.name, got, err, tt.want)
		}
	}
}

func TestInspectorURLOfAFile(t *testing.T) {
	dist := "https://files.pythonhosted.org/packages/54/1f/782a5734931ddf2e1494e4cd615a51ff98e1879cbe9eecbdfeaf09aa75e9/requests-2.19.1.tar.gz"
	tests := []struct{ file, want string }{
		{"requests-2.19.1/setup.py", "requests-2.19.1/setup.py"},
		{"pkg/a b#c?.py", "pkg/a%20b%23c%3F.py"},
		{"pkg/caf\xe9.py", "pkg/caf%E9.py"},          // not UTF-8: escaped byte by byte
		{"pkg/100%.py", "pkg/100%25.py"},             // a lone % is not valid in a path
		{"pkg/it's(1)+@:=.py", "pkg/it's(1)+@:=.py"}, // valid path characters stay
		{"pkg/日本.py", "pkg/%E6%97%A5%E6%9C%AC.py"},
	}
	for _, tt := range tests {
		got, err := InspectorURL(dist, "requests", "2.19.1", tt.file)
		want := "https://inspector.pypi.io/project/requests/2.19.1/packages/54/1f/782a5734931ddf2e1494e4cd615a51ff98e1879cbe9eecbdfeaf09aa75e9/requests-2.19.1.tar.gz/" + tt.want
		if err != nil || got != want {
			t.Errorf("InspectorURL(%q) = %q, %v; want %q", tt.file, got, err, want)
		}
	}
}

func TestInspectorRejectsNonHTTP(t *testing.T) {
	for _, in := range []string{"samples/dist/x-1.0.tar.gz", "file:///tmp/x.whl", "://bad", "https://"} {
		if got, err := InspectorBase(in, "x", "1.0"); err == nil {
			t.Errorf("InspectorBase(%q) = %q, want an error", in, got)
		}
	}
}
