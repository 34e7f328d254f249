#!/usr/bin/env bash
# Builds tests/outoftree against an installed Mesh SDK, the way a user would:
#   run.sh <mesh source dir> <mesh build dir> <work dir>
# installs <build> into <work>/prefix, configures and builds tests/outoftree into <work>/build
# with CMAKE_PREFIX_PATH=<work>/prefix, and checks that <work>/build/liboutoftree_hello.so exists
# and exports the plugin entry points. Prints the plugin's path on success; exits non-zero with
# a message naming the failed step otherwise.
set -uo pipefail

fail() {
  echo "outoftree: FAILED: $*" >&2
  exit 1
}

[[ $# -eq 3 ]] || fail "usage: $0 <mesh source dir> <mesh build dir> <work dir>"
source_dir=$1
build_dir=$2
work_dir=$3

[[ -f "$source_dir/tests/outoftree/CMakeLists.txt" ]] ||
  fail "$source_dir is not a Mesh source tree (no tests/outoftree/CMakeLists.txt)"
[[ -f "$build_dir/CMakeCache.txt" ]] || fail "$build_dir is not a configured Mesh build tree"
mkdir -p "$work_dir" || fail "cannot create work dir $work_dir"
work_dir=$(cd "$work_dir" && pwd)
prefix="$work_dir/prefix"
plugin_build="$work_dir/build"

generator=()
if command -v ninja > /dev/null; then generator=(-G Ninja); fi

cmake --install "$build_dir" --prefix "$prefix" > "$work_dir/install.log" 2>&1 ||
  fail "cmake --install $build_dir --prefix $prefix (see $work_dir/install.log)"

cmake -S "$source_dir/tests/outoftree" -B "$plugin_build" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  > "$work_dir/configure.log" 2>&1 ||
  fail "configuring the out-of-tree plugin with find_package(Mesh) (see $work_dir/configure.log)"

cmake --build "$plugin_build" > "$work_dir/build.log" 2>&1 ||
  fail "building the out-of-tree plugin (see $work_dir/build.log)"

plugin="$plugin_build/liboutoftree_hello.so"
[[ -f "$plugin" ]] || fail "$plugin was not produced"

exported=$(nm -D --defined-only "$plugin") || fail "nm -D $plugin"
for symbol in mesh_plugin_abi_version mesh_plugin_init; do
  grep -qw "$symbol" <<< "$exported" || fail "$plugin does not export $symbol"
done

echo "$plugin"
