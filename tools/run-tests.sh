#!/usr/bin/env bash
# The README's test command: installs what is missing, builds from scratch into build-test/
# (or $MESH_BUILD_DIR), and runs every test with CTest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export MESH_BUILD_DIR=${MESH_BUILD_DIR:-$root/build-test}
"$root/tools/install-deps.sh"
rm -rf "$MESH_BUILD_DIR"
"$root/tools/build.sh"
cd "$MESH_BUILD_DIR"
ctest -j "$(nproc)" --output-on-failure --timeout 300
