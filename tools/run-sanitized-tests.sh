#!/usr/bin/env bash
# Builds the suite (host, meshctl, clients, plugins, fixture plugins, tests) with gcc and
# AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ (or $MESH_ASAN_BUILD_DIR) and runs
# the tests whose processes run Mesh's own C++ code. Any leak, memory error or undefined
# behaviour aborts the process that has it, which fails the test. Incremental: delete the build
# directory for a build from scratch.
#
# What it leaves to the normal phase (docs/RELIABILITY.md, "What the sanitizer phase repeats"):
#   faults     the fault scenarios judge timings, which sanitized processes (2-3x slower) miss
#   outoftree  configures and builds a project of its own against the installed SDK: it checks
#              the package; its one-handler plugin and its client run through the same SDK and
#              client code that the sanitized example plugins and client tests run
#   bench      mesh-bench is not even built: its figures mean nothing here, and the host code it
#              drives is what the integration tests drive
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
  -DMESH_SANITIZE="$sanitizers" -DMESH_BUILD_BENCH=OFF
cmake --build "$build" -j "$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

cd "$build"
# Sanitized processes are 2-3x slower: give each test twice the normal suite's bound.
ctest -j "$(nproc)" --output-on-failure --timeout 600 -LE 'faults|outoftree|bench' "$@"
