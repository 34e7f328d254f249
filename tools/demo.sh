#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, starts a Mesh host with the
# example plugins on 127.0.0.1:7100, and shows calls being served with meshctl. The host keeps
# serving until Ctrl-C (or pass --once to stop after the demo calls).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MESH_BUILD_DIR:-$root/build}
endpoint=${MESH_DEMO_ENDPOINT:-tcp://127.0.0.1:7100}
once=false
[[ "${1:-}" == "--once" ]] && once=true

"$root/tools/install-deps.sh"
MESH_BUILD_DIR=$build "$root/tools/build.sh" > "$build.log" 2>&1 || {
  tail -50 "$build.log"; echo "build failed (full log: $build.log)" >&2; exit 1; }

meshd="$build/host/meshd"
meshctl="$build/tools/meshctl/meshctl"
work=$(mktemp -d)
"$meshd" --listen "$endpoint" --ready-file "$work/ready" 2> "$work/meshd.log" &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
for _ in $(seq 100); do [[ -f "$work/ready" ]] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
[[ -f "$work/ready" ]] || { cat "$work/meshd.log"; echo "meshd did not start" >&2; exit 1; }
cat "$work/meshd.log"

run() {
  echo "\$ meshctl $*"
  "$meshctl" --connect "$endpoint" "$@" || true
  echo
}
run capabilities
run call --capability counter --module Counter --id visits --payload '{"op":"incr"}' --init-arg '{"start":100}'
run call --capability counter --module Counter --id visits --payload '{"op":"incr","by":5}'
run call --capability game --module GameActor --id player_1 --payload '{"action":"move","x":1,"y":2}' --init-arg '{"level":3}'
run call --capability game --module GameActor --id player_1 --payload '{"action":"score","points":10}'
run call --capability chat --module ChatActor --id lobby --payload '{"action":"post","user":"ana","text":"hi"}'
run call --capability chat --module ChatActor --id lobby --payload '{"action":"history","last":5}'
run call --capability payment --module PaymentActor --id acct_1 --payload '{"action":"charge","amount":30,"request_id":"r1"}' --init-arg '{"balance":100}'
run call --capability payment --module PaymentActor --id acct_1 --payload '{"action":"charge","amount":30,"request_id":"r1"}'
run call --capability game --module GameActor --id player_1 --payload '{"action":"crash"}'
run call --capability game --module GameActor --id player_1 --payload '{"action":"get"}'
run call --capability game --module Nope --id x --payload '{}'
run shard player_1

if $once; then exit 0; fi
echo "meshd is serving on $endpoint with the example plugins ($build/lib/mesh-plugins)."
echo "Try: $meshctl call --capability counter --module Counter --id c1 --payload '{\"op\":\"incr\"}'"
echo "Ctrl-C stops it."
wait "$pid"
