#!/usr/bin/python3
"""refscan.py: the in-memory reference scanner of dfbench (reference B of issue 6).

A plain scanner of Python distributions, written the way anyone would with
the standard library and yara-python: read each distribution into memory,
walk its members with tarfile and zipfile, match every member with YARA and
score the matches. It exists to be measured against `dragonfly scan`, so it
applies the same rules as the Go scanner (see docs/usage.md "Scoring",
scan/ and internal/archive/):

- the format is read from magic bytes, never from the file name;
- a rule with `filetype` metadata (space-separated path suffixes) counts for
  a file only when the file's path ends with one of them: a plain suffix
  test, so "setup.py" also counts for "pkg/test_setup.py";
- zip members and gzip/bzip2/xz-compressed or plain ustar tars found inside
  are opened, up to depth 5, their files named "outer/inner.zip/path"; the
  nested archive's own bytes are matched too; a nested archive that does
  not open is a note, not a failure;
- a tar link that resolves to files of the same archive counts the targets'
  matches under its own name (pip installs it under that name);
- the rules files are compiled as one source in key order (file name
  without extension, sorted), in one namespace, as dragonfly does;
- a rule's weight is its integer `weight` metadata, else 0; a distribution's
  score is the sum over the distinct rules that counted anywhere in it.

Its output has the shape of the distributions of `dragonfly scan --format
json`, so that dfbench compares findings field by field. It enforces the
limits on files, file size and expanded size, but not the compression ratio
or the archive size (the benchmark corpus stays far from them; a difference
would show in the comparison).

Run it with Debian's /usr/bin/python3, which has python3-yara:

    /usr/bin/python3 scripts/bench/refscan.py --rules internal/builtin --procs 2 --out out.json DIR...
"""

import argparse
import bz2
import gzip
import hashlib
import io
import json
import lzma
import multiprocessing
import os
import sys
import tarfile
import zipfile

import yara

DIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".whl", ".egg")
MAX_DEPTH = 5
MAX_FILES = 200000
MAX_FILE_SIZE = 268435456
MAX_EXPANDED = 2147483648
TIMEOUT = 10  # seconds per file, as DRAGONFLY_YARA_TIMEOUT
TAR_BLOCK = 512

# Set in the parent before the pool forks, so that the workers share them.
RULES = None
META = {}  # rule name -> (weight, filetype suffixes)


class Failure(Exception):
    """A distribution failure; str() starts with its class, like dragonfly's reasons."""

    cls = "malformed"

    def __str__(self):
        return f"{self.cls}: {self.args[0] if self.args else ''}"


class TooLarge(Failure):
    cls = "too large"


class Malformed(Failure):
    cls = "malformed"


class Unsupported(Failure):
    cls = "unsupported"


class Timeout(Failure):
    cls = "timeout"


# --- rules -----------------------------------------------------------------


def load_rules(rules_dir):
    """Compile every .yar/.yara file of rules_dir as one source, in key order.

    yara.compile(sources={...}) would put each file in a namespace of its own;
    dragonfly adds them all to the default namespace, where a rule may use the
    rules of files sorted before it and a name defined twice is an error.
    Concatenating the sources in key order gives exactly that.
    """
    sources = {}
    for entry in os.listdir(rules_dir):
        key, ext = os.path.splitext(entry)
        if ext in (".yar", ".yara") and os.path.isfile(os.path.join(rules_dir, entry)):
            if key in sources:
                raise SystemExit(f"refscan: two rules files with the key {key!r}")
            with open(os.path.join(rules_dir, entry), "rb") as f:
                sources[key] = f.read()
    if not sources:
        raise SystemExit(f"refscan: no .yar or .yara files in {rules_dir}")
    keys = sorted(sources, key=lambda k: k.encode("utf-8", "surrogateescape"))
    digest = hashlib.sha256()
    for k in keys:
        digest.update(k.encode("utf-8", "surrogateescape") + b"\0" + sources[k] + b"\0")
    joined = b"\n".join(sources[k] for k in keys).decode("utf-8", "surrogateescape")
    rules = yara.compile(source=joined)
    meta = {}
    for rule in rules:
        weight = rule.meta.get("weight")
        if type(weight) is not int:  # booleans and strings count 0, as in dragonfly
            weight = 0
        filetype = rule.meta.get("filetype")
        suffixes = tuple(filetype.split()) if isinstance(filetype, str) else ()
        meta[rule.identifier] = (weight, suffixes)
    return rules, meta, digest.hexdigest(), keys


# --- paths, as Go's path package and scan/tar.go treat them ------------------


def go_clean(p):
    """Go's path.Clean: the shortest equivalent path, lexically."""
    rooted = p.startswith("/")
    parts = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


def go_dir(p):
    """Go's path.Dir."""
    return go_clean(p[: p.rfind("/") + 1])


def go_join(*elems):
    """Go's path.Join."""
    elems = [e for e in elems if e]
    return go_clean("/".join(elems)) if elems else ""


def clean_name(name):
    """The key under which a tar member is found by links."""
    return go_clean(name[2:] if name.startswith("./") else name)


def link_target(member):
    """The archive name a tar link refers to, or None when it points outside."""
    t = member.linkname
    if member.issym():
        if t.startswith("/"):
            return None
        t = go_join(go_dir(clean_name(member.name)), t)
    t = clean_name(t)
    if t in ("..", ".") or t.startswith("../") or t.startswith("/"):
        return None
    return t


def display(name):
    """A path as dragonfly's report shows it: as is when printable UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(name.encode("utf-8", "surrogateescape").decode("latin-1"))
    return name if name.isprintable() else json.dumps(name)


# --- formats ------------------------------------------------------------------


def sniff_compression(data):
    if data[:2] == b"\x1f\x8b":
        return "gz"
    if data[:3] == b"BZh" and len(data) > 3 and 0x31 <= data[3] <= 0x39:
        return "bz2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    return None


def is_zip(data):
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def is_tar_header(block, allow_empty):
    """A tar header by its checksum (signed or unsigned), as scan/sniff.go tests it."""
    if len(block) < TAR_BLOCK:
        return False
    block = block[:TAR_BLOCK]
    if block.count(0) == TAR_BLOCK:
        return allow_empty
    b = bytearray(block)
    b[148:156] = b" " * 8  # the checksum field counts as spaces
    unsigned = sum(b)
    signed = unsigned - 256 * sum(1 for x in b if x >= 128)
    field = block[148:156].strip(b" \x00")
    try:
        want = int(field, 8)
    except ValueError:
        return False
    return want in (unsigned, signed)


def is_ustar(data):
    return len(data) >= TAR_BLOCK and data[257:262] == b"ustar" and is_tar_header(data, False)


def open_stream(comp, data):
    """A reader of the decompressed stream (every member of a multistream file)."""
    src = io.BytesIO(data)
    if comp == "gz":
        return gzip.GzipFile(fileobj=src, mode="rb")
    if comp == "bz2":
        return bz2.BZ2File(src)
    return lzma.LZMAFile(src)


def tar_head(comp, data):
    """The first block of a compressed stream, or raises on a broken stream."""
    with open_stream(comp, data) as s:
        return s.read(TAR_BLOCK)


TAR_FORMATS = {"gz": "tar.gz", "bz2": "tar.bz2", "xz": "tar.xz"}
SKIPPED_TAR_TYPES = (tarfile.DIRTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE)


# --- one distribution ---------------------------------------------------------


class Dist:
    """The walk and the findings of one distribution."""

    def __init__(self):
        self.format = ""
        self.files_scanned = 0
        self.bytes_expanded = 0
        self.notes = []
        self.raw = {}  # path -> names of the rules that matched, before filetype
        self.counted = {}  # rule name -> weight, for every rule that counted
        self.files = []  # [path, score, [rules]] for files where a rule counted

    def admit(self, path, size):
        self.files_scanned += 1
        if self.files_scanned > MAX_FILES:
            raise TooLarge(f"number of files {self.files_scanned} > limit {MAX_FILES}")
        if size > MAX_FILE_SIZE:
            raise TooLarge(f"file {display(path)} of {size} > limit {MAX_FILE_SIZE}")
        self.bytes_expanded += size
        if self.bytes_expanded > MAX_EXPANDED:
            raise TooLarge(f"expanded size {self.bytes_expanded} > limit {MAX_EXPANDED}")

    def record(self, path, names):
        entry = None
        for name in names:
            weight, suffixes = META[name]
            if suffixes and not path.endswith(suffixes):
                continue
            if entry is None:
                entry = [path, 0, []]
                self.files.append(entry)
            if name in entry[2]:
                continue  # a link whose targets repeat a rule
            entry[2].append(name)
            entry[1] += weight
            self.counted[name] = weight

    def match(self, path, data):
        too_many = []

        def warn(message, detail):
            if message == yara.CALLBACK_TOO_MANY_MATCHES:
                too_many.append(detail)
            return yara.CALLBACK_CONTINUE

        try:
            names = [m.rule for m in RULES.match(data=data, timeout=TIMEOUT, warnings_callback=warn)]
        except yara.TimeoutError:
            raise Timeout(f"{display(path)}: matching took longer than {TIMEOUT}s") from None
        if names:
            self.raw.setdefault(path, []).extend(names)
        self.record(path, names)
        if too_many:
            raise Timeout(f"{display(path)}: a string of rule {too_many[0].rule} reached libyara's match limit")

    def top(self, data):
        if is_zip(data):
            self.format = "zip"
            return self.walk_zip(data, "", 0)
        comp = sniff_compression(data)
        if comp:
            self.format = TAR_FORMATS[comp]
            try:
                head = tar_head(comp, data)
            except Exception as e:
                raise Malformed(f"{self.format}: {e}") from None
            if len(head) < TAR_BLOCK or not is_tar_header(head, True):
                raise Unsupported(f"format not recognised: a {self.format} stream that holds no tar archive")
            return self.walk_tar(open_stream(comp, data), "", 0)
        if is_ustar(data) or is_tar_header(data, False):
            self.format = "tar"
            return self.walk_tar(io.BytesIO(data), "", 0)
        if not data:
            raise Unsupported("format not recognised: the file is empty")
        raise Unsupported(f"format not recognised (starts with {data[:8]!r})")

    def nested_archive(self, data):
        if is_zip(data) or is_ustar(data):
            return True
        comp = sniff_compression(data)
        if not comp:
            return False
        try:
            head = tar_head(comp, data)
        except Exception:
            return False  # a broken stream is scanned as it is
        return len(head) == TAR_BLOCK and is_tar_header(head, True)

    def walk_nested(self, data, prefix, depth):
        if is_zip(data):
            return self.walk_zip(data, prefix, depth)
        if is_ustar(data):
            return self.walk_tar(io.BytesIO(data), prefix, depth)
        return self.walk_tar(open_stream(sniff_compression(data), data), prefix, depth)

    def file(self, path, data, depth):
        archive = self.nested_archive(data)
        if archive and depth + 1 > MAX_DEPTH:
            raise TooLarge(f"nesting depth of {display(path)}: {depth + 1} > limit {MAX_DEPTH}")
        self.match(path, data)
        if not archive:
            return
        try:
            self.walk_nested(data, path + "/", depth + 1)
        except (TooLarge, Timeout):
            raise
        except Exception as e:  # a nested archive that does not open is a note
            self.notes.append({"path": display(path), "reason": str(e) if isinstance(e, Failure) else f"malformed: {e}"})

    def walk_zip(self, data, prefix, depth):
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except Exception as e:
            raise Malformed(f"zip: {e}") from None
        for info in zf.infolist():
            raw = info.orig_filename
            if raw.endswith("/") and info.file_size == 0 and info.compress_size == 0:
                continue  # a folder
            name = prefix + raw
            if info.flag_bits & 0x1:
                raise Unsupported(f"encrypted zip entry {display(name)}")
            self.admit(name, info.file_size)
            try:
                body = zf.read(info)
            except NotImplementedError as e:
                raise Unsupported(f"zip: {display(name)}: {e}") from None
            except Exception as e:
                raise Malformed(f"zip: reading {display(name)}: {e}") from None
            self.file(name, body, depth)

    def walk_tar(self, stream, prefix, depth):
        try:
            tf = tarfile.open(fileobj=stream, mode="r|")
        except Exception as e:
            raise Malformed(f"tar: {e}") from None
        by_key = {}  # cleaned name -> full names of the files so named
        links = []
        while True:
            try:
                member = tf.next()
            except Exception as e:
                raise Malformed(f"tar: {e}") from None
            if member is None:
                break
            if member.type in SKIPPED_TAR_TYPES:
                continue
            if member.islnk() or member.issym():
                links.append(member)
                continue
            # Regular files and every type tarfile does not know: pip
            # extracts them all as files.
            name = prefix + member.name
            self.admit(name, member.size)
            try:
                f = tf.extractfile(member)
                body = f.read() if f is not None else b""
            except Exception as e:
                raise Malformed(f"tar: reading {display(name)}: {e}") from None
            if len(body) != member.size:
                raise Malformed(f"tar: reading {display(name)}: unexpected EOF")
            by_key.setdefault(clean_name(member.name), []).append(name)
            self.file(name, body, depth)
        self.tar_links(links, by_key, prefix)

    def tar_links(self, links, by_key, prefix):
        """Count each link that resolves to files of the archive under its own name."""
        targets = {}
        for link in links:
            t = link_target(link)
            if t is not None:
                targets[clean_name(link.name)] = t
        dirs = None
        for link in links:
            name = prefix + link.name
            self.admit(name, 0)
            t = link_target(link)
            hops = 0
            while t is not None and t not in by_key and hops < 32:
                t = targets.get(t)
                hops += 1
            if t is not None and t in by_key:
                union = []
                for raw_name in by_key[t]:
                    union.extend(self.raw.get(raw_name, ()))
                self.record(name, union)
                continue
            if dirs is None:
                dirs = set()
                for key in by_key:
                    d = go_dir(key)
                    while d not in (".", "/") and d not in dirs:
                        dirs.add(d)
                        d = go_dir(d)
            if t is not None and t in dirs:
                continue
            self.notes.append({"path": display(name), "reason": f"link to {display(link.linkname)} names no file inside the archive; not followed"})


def scan_target(target):
    """Scan one distribution file; a failure keeps the findings made before it."""
    d = Dist()
    reason = ""
    try:
        with open(target, "rb") as f:
            data = f.read()
        d.top(data)
    except Failure as e:
        reason = str(e)
    except Exception as e:
        reason = f"malformed: {type(e).__name__}: {e}"
    return {
        "target": target,
        "format": d.format,
        "status": "failed" if reason else "complete",
        "reason": reason,
        "score": sum(d.counted.values()),
        "bytes_expanded": d.bytes_expanded,
        "files_scanned": d.files_scanned,
        "rules": [{"name": n, "weight": d.counted[n]} for n in sorted(d.counted)],
        "files": [{"path": display(p), "score": s, "rules": r} for p, s, r in d.files],
        "notes": d.notes,
    }


def expand_targets(args):
    """Files as given; folders searched recursively for distribution files, in
    the order Go's filepath.WalkDir visits them (names sorted per folder)."""
    out = []

    def walk(folder):
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path)
            elif entry.name.lower().endswith(DIST_SUFFIXES):
                out.append(entry.path)

    for a in args:
        if os.path.isdir(a):
            walk(a)
        else:
            out.append(a)
    return out


def main():
    global RULES, META
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", required=True, help="folder of .yar/.yara files (dragonfly's built-in rules: internal/builtin)")
    ap.add_argument("--procs", type=int, default=1, help="worker processes (1: scan in this process)")
    ap.add_argument("--out", default="-", help="where to write the JSON output (default stdout)")
    ap.add_argument("targets", nargs="+")
    args = ap.parse_args()

    RULES, META, rules_hash, keys = load_rules(args.rules)
    targets = expand_targets(args.targets)
    if args.procs <= 1:
        results = [scan_target(t) for t in targets]
    else:
        # fork: the workers inherit the compiled rules instead of compiling again.
        with multiprocessing.get_context("fork").Pool(args.procs) as pool:
            results = list(pool.imap(scan_target, targets, chunksize=1))
    doc = {
        "tool": "refscan.py",
        "python": sys.version.split()[0],
        "yara": yara.YARA_VERSION,
        "procs": max(1, args.procs),
        "rules_hash": rules_hash,
        "rules_files": keys,
        "distributions": results,
    }
    if args.out == "-":
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
