package rulescheck

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
)

// SyntheticSamples returns a generated, deterministic corpus of about
// 300 KB that looks like an ordinary Python package: modules built from
// everyday idioms (subprocess, requests, base64, sockets, json, regular
// expressions, setuptools), a setup.py, metadata, and a data module with a
// long base64 literal and escaped bytes, the shapes that make loose
// regular expressions slow. It is what the rules check times rules on when
// no sample is at hand. Nothing in it is malicious.
func SyntheticSamples() []Sample {
	rng := rand.New(rand.NewPCG(0x64726167, 0x6f6e666c))
	words := []string{"cache", "config", "client", "record", "parser", "loader", "session", "report",
		"widget", "buffer", "stream", "bucket", "ledger", "thumb", "token", "entry", "worker", "queue"}
	word := func() string { return words[rng.IntN(len(words))] }
	name := func() string { return word() + "_" + word() }

	snippets := []func(b *strings.Builder){
		func(b *strings.Builder) {
			fmt.Fprintf(b, "def %s(path, encoding=\"utf-8\"):\n    \"\"\"Read %s entries from path, skipping comments.\"\"\"\n", name(), word())
			fmt.Fprintf(b, "    out = []\n    with open(path, encoding=encoding) as f:\n        for line in f:\n")
			fmt.Fprintf(b, "            line = line.strip()\n            if not line or line.startswith(\"#\"):\n                continue\n")
			fmt.Fprintf(b, "            key, _, value = line.partition(\"=\")\n            out.append((key.strip(), value.strip()))\n    return out\n\n\n")
		},
		func(b *strings.Builder) {
			c := strings.ToUpper(word()[:1]) + word()[1:] + "Client"
			fmt.Fprintf(b, "class %s:\n    def __init__(self, base_url, token=None, timeout=10):\n", c)
			fmt.Fprintf(b, "        self.base_url = base_url.rstrip(\"/\")\n        self.session = requests.Session()\n        self.timeout = timeout\n")
			fmt.Fprintf(b, "        if token:\n            self.session.headers[\"Authorization\"] = f\"Bearer {token}\"\n\n")
			fmt.Fprintf(b, "    def get_%s(self, ident):\n        r = self.session.get(f\"{self.base_url}/%s/{ident}\", timeout=self.timeout)\n", word(), word())
			fmt.Fprintf(b, "        r.raise_for_status()\n        return r.json()\n\n")
			fmt.Fprintf(b, "    def post_%s(self, payload):\n        r = self.session.post(f\"{self.base_url}/%s\", json=payload, timeout=self.timeout)\n", word(), word())
			fmt.Fprintf(b, "        r.raise_for_status()\n        return r.json()[\"id\"]\n\n\n")
		},
		func(b *strings.Builder) {
			fmt.Fprintf(b, "def %s(args, cwd=\".\"):\n    proc = subprocess.run([\"git\", *args], cwd=cwd, capture_output=True, text=True, check=False)\n", name())
			fmt.Fprintf(b, "    if proc.returncode != 0:\n        log.warning(\"git %%s failed: %%s\", \" \".join(args), proc.stderr)\n        return None\n")
			fmt.Fprintf(b, "    return proc.stdout.strip()\n\n\n")
		},
		func(b *strings.Builder) {
			fmt.Fprintf(b, "def encode_%s(data: bytes) -> str:\n    return base64.b64encode(zlib.compress(data)).decode(\"ascii\")\n\n\n", word())
			fmt.Fprintf(b, "def decode_%s(text: str) -> bytes:\n    return zlib.decompress(base64.b64decode(text))\n\n\n", word())
		},
		func(b *strings.Builder) {
			fmt.Fprintf(b, "%s_RE = re.compile(r\"^(?P<%s>[A-Za-z_][\\w.-]*)\\s*(?P<op>[<>=!~]=?)\\s*(?P<version>[\\w.*+!-]+)$\")\n\n\n", strings.ToUpper(word()), word())
		},
		func(b *strings.Builder) {
			fmt.Fprintf(b, "def %s(host=\"127.0.0.1\", port=0):\n    with socket.create_connection((host, port), timeout=3) as s:\n", name())
			fmt.Fprintf(b, "        s.sendall(b\"PING\\r\\n\")\n        return s.recv(1024).decode(\"latin-1\")\n\n\n")
		},
		func(b *strings.Builder) {
			n := name()
			fmt.Fprintf(b, "def test_%s():\n    data = {\"%s\": %d, \"items\": [%d, %d, %d], \"name\": \"%s\"}\n", n, word(), rng.IntN(1000), rng.IntN(99), rng.IntN(99), rng.IntN(99), word())
			fmt.Fprintf(b, "    text = json.dumps(data, sort_keys=True)\n    assert json.loads(text) == data\n    assert len(text) > %d\n\n\n", rng.IntN(20))
		},
		func(b *strings.Builder) {
			fmt.Fprintf(b, "DEFAULTS = {\n")
			for range 6 + rng.IntN(8) {
				fmt.Fprintf(b, "    \"%s\": %q,\n", name(), fmt.Sprintf("%s-%d", word(), rng.IntN(10000)))
			}
			fmt.Fprintf(b, "}\n\n\n")
		},
		func(b *strings.Builder) {
			fmt.Fprintf(b, "def main(argv=None):\n    parser = argparse.ArgumentParser(prog=\"%s\")\n", word())
			fmt.Fprintf(b, "    parser.add_argument(\"--%s\", default=os.environ.get(\"%s\", \"\"))\n", word(), strings.ToUpper(name()))
			fmt.Fprintf(b, "    parser.add_argument(\"paths\", nargs=\"*\")\n    args = parser.parse_args(argv)\n")
			fmt.Fprintf(b, "    for p in args.paths:\n        print(os.path.abspath(p), os.path.getsize(p))\n    return 0\n\n\n")
		},
	}
	header := "import argparse\nimport base64\nimport json\nimport logging\nimport os\nimport re\nimport socket\nimport subprocess\nimport zlib\n\nimport requests\n\nlog = logging.getLogger(__name__)\n\n\n"

	var out []Sample
	for i := range 36 {
		var b strings.Builder
		fmt.Fprintf(&b, "\"\"\"%s helpers, module %d.\"\"\"\n", word(), i)
		b.WriteString(header)
		for b.Len() < 6000+rng.IntN(4000) {
			snippets[rng.IntN(len(snippets))](&b)
		}
		out = append(out, Sample{Path: fmt.Sprintf("synthetic-1.0/synthetic/%s_%d.py", word(), i), Data: []byte(b.String())})
	}

	out = append(out, Sample{Path: "synthetic-1.0/setup.py", Data: []byte(`import os
import re

from setuptools import find_packages, setup

here = os.path.abspath(os.path.dirname(__file__))
with open(os.path.join(here, "synthetic", "__init__.py")) as f:
    version = re.search(r'__version__ = "(.+?)"', f.read()).group(1)

setup(
    name="synthetic",
    version=version,
    description="Generated sample package",
    url="https://example.com/synthetic",
    packages=find_packages(exclude=["tests"]),
    install_requires=["requests>=2.25"],
    entry_points={"console_scripts": ["synthetic=synthetic.cli:main"]},
)
`)})
	out = append(out, Sample{Path: "synthetic-1.0/PKG-INFO", Data: []byte(
		"Metadata-Version: 2.1\nName: synthetic\nVersion: 1.0\nSummary: Generated sample package\n" +
			"Requires-Dist: requests>=2.25\n\n" + strings.Repeat("A generated package used to time YARA rules. ", 40) + "\n")})

	// Data shapes: a long base64 literal, escaped bytes, a long numeric table.
	blob := make([]byte, 24000)
	for i := range blob {
		blob[i] = byte(rng.IntN(256))
	}
	var d strings.Builder
	d.WriteString("import base64\n\nICON = base64.b64decode(\n    \"")
	d.WriteString(base64.StdEncoding.EncodeToString(blob))
	d.WriteString("\"\n)\n\nTABLE = b\"")
	for _, c := range blob[:6000] {
		fmt.Fprintf(&d, "\\x%02x", c)
	}
	d.WriteString("\"\n\nWEIGHTS = [\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&d, "    %d.%04d,\n", rng.IntN(10), rng.IntN(10000))
	}
	d.WriteString("]\n")
	out = append(out, Sample{Path: "synthetic-1.0/synthetic/_data.py", Data: []byte(d.String())})
	return out
}
