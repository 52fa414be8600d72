#!/usr/bin/env bash
# Installs pymesos (the v1 scheduler client `mesos-hyper deploy` uses) into a virtualenv.
#   scripts/install-pymesos.sh [VENV]      (default: .venv of the repo)
#
# `pip install pymesos` fails on Python 3.11 for one reason: its dependency http-parser
# 0.9.0 ships a C file made by an old Cython, which includes <longintrepr.h> (gone in
# 3.11). We fetch that exact sdist (checked against its sha256), make the C file again
# with a current Cython from the .pyx it ships, and install the result; then pymesos.
# Idempotent: nothing is done when both import already.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${1:-.venv}
PY=$VENV/bin/python
HTTP_PARSER=http-parser==0.9.0
HTTP_PARSER_SHA256=441d3a57c6227230f98aa97539da006fda0f8f4880bc4c5cd895ff2138a52621
PYMESOS=pymesos==0.3.15
say() { printf '==> %s\n' "$*" >&2; }

if "$PY" -c 'import pymesos, http_parser.parser' 2>/dev/null; then
  say "pymesos: installed"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "pymesos: building $HTTP_PARSER from source with a current Cython"
"$VENV/bin/pip" download -q --no-deps --no-binary :all: -d "$work" "$HTTP_PARSER"
sdist=$(echo "$work"/http-parser-*.tar.gz)
echo "$HTTP_PARSER_SHA256  $sdist" | sha256sum -c --quiet -
tar -xzf "$sdist" -C "$work"
src=$(echo "$work"/http-parser-*/)
"$VENV/bin/pip" install -q "cython>=3,<4"
cython=$(realpath "$VENV/bin/cython")
(cd "$src" && "$cython" -2 http_parser/parser.pyx >"$work/cython.log" 2>&1) ||
  { cat "$work/cython.log" >&2; exit 1; }
"$VENV/bin/pip" install -q "$src"
say "pymesos: installing $PYMESOS"
"$VENV/bin/pip" install -q "$PYMESOS"
"$PY" -c 'import pymesos, http_parser.parser'
