#!/usr/bin/env bash
# Configures and builds Mesh into build/ (or $MESH_BUILD_DIR). Extra arguments go to cmake.
# MESH_BUILD_TARGETS (space-separated) builds only those targets and what they need; the
# default is everything, tests included.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MESH_BUILD_DIR:-$root/build}
jobs=${MESH_JOBS:-$(nproc)}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${MESH_BUILD_TYPE:-RelWithDebInfo} "$@"
targets=()
[[ -n "${MESH_BUILD_TARGETS:-}" ]] && targets=(--target ${MESH_BUILD_TARGETS})
cmake --build "$build" -j "$jobs" "${targets[@]}"
