#!/usr/bin/env bash
# Builds the demo distributions of samples/src into samples/dist:
#
#   NAME-VERSION.tar.gz               an sdist, every file under NAME-VERSION/
#   NAME-VERSION-py3-none-any.whl     a wheel: the package directories plus
#                                     NAME-VERSION.dist-info/{METADATA,WHEEL,RECORD}
#
# Each directory samples/nested/NAME-VERSION/<path>.zip/ becomes the zip
# archive <path>.zip inside that distribution, so that the samples show how
# nested archives are scanned.
#
# The output is byte-for-byte reproducible: names are sorted, times, owners
# and modes are fixed, and gzip stores no name or time. Run it from anywhere;
# it needs bash, GNU tar, gzip and python3.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
here=$(pwd)
dist="$here/dist"
export LC_ALL=C TZ=UTC

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# zip and wheel writing, with a fixed timestamp and fixed file attributes.
pyhelper() {
	python3 - "$@" <<'PY'
import base64
import hashlib
import os
import sys
import zipfile

DATE = (2024, 1, 1, 0, 0, 0)


def add(zf, name, data):
    info = zipfile.ZipInfo(name, DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so that external_attr holds a mode
    info.external_attr = 0o100644 << 16
    zf.writestr(info, data, compresslevel=9)


def files_under(root, sub=""):
    found = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, sub)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in filenames:
            if not f.endswith((".pyc", ".pyo")):
                found.append(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
    return sorted(found)


def read(root, rel):
    with open(os.path.join(root, rel), "rb") as f:
        return f.read()


def make_zip(src, out):
    with zipfile.ZipFile(out, "w") as zf:
        for rel in files_under(src):
            add(zf, rel, read(src, rel))


def make_wheel(root, name, version, out):
    packages = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "__init__.py")))
    if not packages:
        sys.exit(f"build.sh: no package directory in {root}")
    entries = [(rel, read(root, rel)) for pkg in packages for rel in files_under(root, pkg)]
    info = f"{name}-{version}.dist-info"
    entries.append((f"{info}/METADATA", read(root, "PKG-INFO")))
    entries.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: samples/build.sh\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    record = []
    for rel, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{rel},sha256={digest},{len(data)}\n")
    record.append(f"{info}/RECORD,,\n")
    entries.append((f"{info}/RECORD", "".join(record).encode()))
    with zipfile.ZipFile(out, "w") as zf:
        for rel, data in entries:
            add(zf, rel, data)


mode, args = sys.argv[1], sys.argv[2:]
if mode == "zip":
    make_zip(*args)
elif mode == "wheel":
    make_wheel(*args)
else:
    sys.exit(f"build.sh: unknown helper mode {mode}")
PY
}

mkdir -p "$dist"
rm -f "$dist"/*.tar.gz "$dist"/*.whl

for src in "$here"/src/*/; do
	base=$(basename "$src") # NAME-VERSION
	name=${base%-*}
	version=${base##*-}
	if [[ $name == "$base" || ! -f $src/PKG-INFO ]]; then
		echo "build.sh: $src should be named NAME-VERSION and hold a PKG-INFO" >&2
		exit 1
	fi
	root="$stage/$base"
	cp -R "$src" "$root"

	if [[ -d $here/nested/$base ]]; then
		while IFS= read -r -d '' dir; do
			rel=${dir#"$here/nested/$base/"}
			mkdir -p "$(dirname "$root/$rel")"
			pyhelper zip "$dir" "$root/$rel"
		done < <(find "$here/nested/$base" -type d -name '*.zip' -print0 | sort -z)
	fi

	tar --create --file=- --directory="$stage" \
		--format=gnu --sort=name --mtime='2024-01-01 00:00Z' \
		--owner=0 --group=0 --numeric-owner --mode='u=rwX,go=rX' \
		--exclude='__pycache__' --exclude='*.pyc' \
		"$base" | gzip -n -9 >"$dist/$base.tar.gz"
	pyhelper wheel "$root" "$name" "$version" "$dist/$name-$version-py3-none-any.whl"
done

cd "$dist"
sha256sum -- *.tar.gz *.whl
