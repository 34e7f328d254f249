#!/usr/bin/env bash
# Builds tests/outoftree against an installed Mesh SDK, the way a user would, and optionally
# serves the result with a real meshd:
#   run.sh <mesh source dir> <mesh build dir> <work dir> [<meshd> <meshctl>]
# installs <build> into <work>/prefix, configures and builds tests/outoftree into <work>/build
# with CMAKE_PREFIX_PATH=<work>/prefix, and checks that <work>/build/liboutoftree_hello.so exists
# and exports the plugin entry points. Given <meshd> and <meshctl>, it then starts that meshd on
# tcp://127.0.0.1:* with a temporary plugin directory holding only that plugin, calls module
# Hello through meshctl and through hello_client (a program built against the installed
# Mesh::client), and stops the host with SIGTERM (SIGKILL if it does not exit in time).
# Every wait is bounded and the host is stopped on every exit path. Prints the plugin's path on
# success; exits non-zero with a message naming the failed step otherwise.
set -uo pipefail

fail() {
  echo "outoftree: FAILED: $*" >&2
  exit 1
}

[[ $# -eq 3 || $# -eq 5 ]] ||
  fail "usage: $0 <mesh source dir> <mesh build dir> <work dir> [<meshd> <meshctl>]"
source_dir=$1
build_dir=$2
work_dir=$3
meshd=${4:-}
meshctl=${5:-}
if [[ -n "$meshd" ]]; then
  [[ -x "$meshd" ]] || fail "$meshd is not an executable meshd"
  [[ -x "$meshctl" ]] || fail "$meshctl is not an executable meshctl"
fi

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

if [[ -z "$meshd" ]]; then
  echo "$plugin"
  exit 0
fi

# --- Serve the plugin with a real meshd ------------------------------------------------------

serve_dir=$(mktemp -d "${TMPDIR:-/tmp}/mesh-outoftree-XXXXXX") || fail "mktemp -d"
meshd_pid=""

# True while process $1 runs (a zombie does not count).
alive() {
  kill -0 "$1" 2> /dev/null || return 1
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2> /dev/null) || return 1
  [[ "$state" != Z ]]
}

# Waits up to $2 tenths of a second for process $1 to end.
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}

# Stops the meshd this script started (and only that one), then removes the temporary files.
cleanup() {
  if [[ -n "$meshd_pid" ]]; then
    if alive "$meshd_pid"; then
      kill -TERM "$meshd_pid" 2> /dev/null
      wait_gone "$meshd_pid" 100 || kill -KILL "$meshd_pid" 2> /dev/null
    fi
    wait "$meshd_pid" 2> /dev/null
    meshd_pid=""
  fi
  rm -rf "$serve_dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

serve_fail() {
  echo "outoftree: FAILED: $*" >&2
  if [[ -f "$serve_dir/meshd.log" ]]; then
    echo "--- meshd log ---" >&2
    cat "$serve_dir/meshd.log" >&2
  fi
  exit 1
}

mkdir "$serve_dir/plugins" || serve_fail "mkdir $serve_dir/plugins"
# Copy under a temporary name, then rename, so that the host never sees half a file.
cp "$plugin" "$serve_dir/plugins/liboutoftree_hello.so.part" &&
  mv "$serve_dir/plugins/liboutoftree_hello.so.part" "$serve_dir/plugins/liboutoftree_hello.so" ||
  serve_fail "copying $plugin into $serve_dir/plugins"

ready="$serve_dir/ready"
"$meshd" --listen 'tcp://127.0.0.1:*' --plugins "$serve_dir/plugins" --ready-file "$ready" \
  > "$serve_dir/meshd.log" 2>&1 < /dev/null &
meshd_pid=$!

for ((i = 0; i < 300; i++)); do  # up to 30 s
  [[ -s "$ready" ]] && break
  alive "$meshd_pid" || serve_fail "meshd exited before it was ready"
  sleep 0.1
done
[[ -s "$ready" ]] || serve_fail "meshd did not write its ready file within 30 s"
endpoint=$(< "$ready")
[[ "$endpoint" == tcp://127.0.0.1:* ]] || serve_fail "unexpected endpoint in ready file: $endpoint"

ctl() { timeout -s KILL 60 "$meshctl" --json --connect "$endpoint" "$@"; }

caps=$(ctl capabilities --timeout-ms 10000) || serve_fail "meshctl capabilities exited $?: $caps"
grep -qF '"capabilities":["hello"]' <<< "$caps" ||
  serve_fail "meshd serves something other than the plugin's capability: $caps"
grep -qF '"modules":[{"module":"Hello","capability":"hello","plugin":"liboutoftree_hello.so"}]' \
  <<< "$caps" || serve_fail "meshd does not list module Hello from the plugin: $caps"

reply=$(ctl call --capability hello --module Hello --id bob --payload '{"name":"bob"}' \
  --timeout-ms 10000) || serve_fail "meshctl call exited $?: $reply"
grep -qF '"ok":true' <<< "$reply" || serve_fail "meshctl call did not succeed: $reply"
grep -qF '"reply":{"hello":"bob"}' <<< "$reply" ||
  serve_fail "the reply does not contain \"hello\":\"bob\": $reply"

# The client program built against the installed Mesh::client calls the same actor.
client_out=$(timeout -s KILL 60 "$plugin_build/hello_client" "$endpoint" carol 2>&1) ||
  serve_fail "hello_client (built against Mesh::client) exited $?: $client_out"
grep -qF '{"hello":"carol"}' <<< "$client_out" ||
  serve_fail "hello_client did not get {\"hello\":\"carol\"}: $client_out"

kill -TERM "$meshd_pid" 2> /dev/null
wait_gone "$meshd_pid" 150 || serve_fail "meshd did not exit within 15 s of SIGTERM"
wait "$meshd_pid"
status=$?
meshd_pid=""
[[ $status -eq 0 ]] || serve_fail "meshd exited with status $status after SIGTERM"

echo "$plugin"
echo "$reply"
echo "$client_out"
