#!/usr/bin/env bash
# Builds the whole suite (host, tools, plugins, fixture plugins, tests) with gcc and AddressSanitizer
# + UndefinedBehaviorSanitizer into build-asan/ (or $MESH_ASAN_BUILD_DIR) and runs every CTest test.
# Any leak, memory error or undefined behaviour aborts the process that has it, which fails the
# test. Incremental: delete the build directory for a build from scratch.
#
#   MESH_SANITIZERS=address,undefined   what -fsanitize= gets (the default)
#   MESH_JOBS=N                         build jobs (default: nproc)
#   extra arguments go to ctest (e.g. -R wire)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MESH_ASAN_BUILD_DIR:-$root/build-asan}
sanitizers=${MESH_SANITIZERS:-address,undefined}
jobs=${MESH_JOBS:-$(nproc)}

CC=${MESH_ASAN_CC:-gcc} CXX=${MESH_ASAN_CXX:-g++} \
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMESH_SANITIZE="$sanitizers"
cmake --build "$build" -j "$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# The out-of-tree plugin test configures and builds its own project against the installed SDK:
# CMake takes its first flags from the environment, so that plugin is instrumented like meshd.
export CXXFLAGS="-fsanitize=$sanitizers -fno-omit-frame-pointer"
export LDFLAGS="-fsanitize=$sanitizers"

cd "$build"
# Sanitized processes are 2-3x slower: give each test twice the normal suite's bound. The fault
# scenarios (label faults) time their figures against the clock: they run in the normal suite.
ctest -j "$(nproc)" --output-on-failure --timeout 600 -LE faults "$@"
