#!/usr/bin/env bash
# Regenerates mesos_hyper/proto/*_pb2.py(i) from the .proto files next to them.
# Usage: scripts/gen-protos.sh [OUTPUT_ROOT]   (default: the repository root)
# Needs grpcio-tools in .venv (or $PYTHON); tests/test_protos.py runs this into a
# temporary directory and compares, so rerun it after any .proto change.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.}"
python="${PYTHON:-.venv/bin/python}"
mkdir -p "$out"
"$python" -m grpc_tools.protoc \
    --proto_path=. \
    --python_out="$out" \
    --pyi_out="$out" \
    mesos_hyper/proto/mesos.proto \
    mesos_hyper/proto/containerizer.proto
