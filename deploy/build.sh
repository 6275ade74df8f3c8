#!/usr/bin/env bash
# The build stage of deploy/Dockerfile, as a script so that CI, which has no
# container engine, runs exactly these commands for real: the same packages
# (scripts/setup-deps: libyara-dev, libisal-dev, pkg-config, gcc) and the
# same flags.
#
#   bash deploy/build.sh OUT_DIR      # writes OUT_DIR/dragonfly
#
# VERSION stamps the binary (default: git describe, else "devel").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
out=${1:?usage: deploy/build.sh OUT_DIR}

bash scripts/setup-deps
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
mkdir -p "$out"
# Dynamic linking against Debian's libyara (libyara9 at run time); cgo is
# required by go-yara. The tag isal inflates zip members and gzip streams
# with ISA-L (libisal2 at run time; about 2.5x the pure-Go inflate, which a
# build without the tag uses). -trimpath keeps build paths out of the binary.
CGO_ENABLED=1 go build -tags isal -trimpath -ldflags "-s -w -X main.version=${version}" -o "$out/dragonfly" ./cmd/dragonfly
"$out/dragonfly" version
