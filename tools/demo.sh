#!/usr/bin/env bash
# The README's main command: installs what is missing, builds only what it and the README's
# Quick start run (meshd, meshctl, the example plugins, the C++ client's example program; no
# tests, no mesh-bench), and starts the seed's three-host cluster on loopback with the example
# plugins:
#   node1 serves game; node2 serves chat; node3 serves game, chat and payment.
# Then it shows with meshctl which host serves which actor, whichever host is asked, and actors
# using the host services: a chat room fanning a post out to members on both chat hosts and
# gathering their statuses, a game world ticking on its own timer, an account transfer. The
# hosts keep serving until Ctrl-C (or pass --once to stop after the demo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MESH_BUILD_DIR:-$root/build}
once=false
[[ "${1:-}" == "--once" ]] && once=true

"$root/tools/install-deps.sh"
echo "building meshd, meshctl and the example plugins into $build (log: $build.log) ..."
MESH_BUILD_DIR=$build MESH_BUILD_TARGETS="meshd meshctl mesh_counter mesh_echo mesh_examples
  mesh-client-example" "$root/tools/build.sh" > "$build.log" 2>&1 || {
  tail -50 "$build.log"; echo "build failed (full log: $build.log)" >&2; exit 1; }

meshd="$build/host/meshd"
meshctl="$build/tools/meshctl/meshctl"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# name, request port, gossip port, capabilities
hosts=("node1 7100 7101 game" "node2 7110 7111 chat" "node3 7120 7121 game,chat,payment")
for h in "${hosts[@]}"; do
  read -r name port gport caps <<< "$h"
  "$meshd" --name "$name" --listen "tcp://127.0.0.1:$port" --gossip "tcp://127.0.0.1:$gport" \
    --seeds tcp://127.0.0.1:7101,tcp://127.0.0.1:7111,tcp://127.0.0.1:7121 \
    --capabilities "$caps" --ready-file "$work/$name.ready" 2> "$work/$name.log" &
  pids+=($!)
done
for h in "${hosts[@]}"; do
  read -r name _ <<< "$h"
  for _ in $(seq 100); do [[ -f "$work/$name.ready" ]] && break; sleep 0.1; done
  [[ -f "$work/$name.ready" ]] || { cat "$work/$name.log"; echo "$name did not start" >&2; exit 1; }
done
# Wait until every host sees all three.
for _ in $(seq 100); do
  n=$("$meshctl" --json --connect tcp://127.0.0.1:7100 members | grep -o '"status":"alive"' | wc -l)
  [[ "$n" -ge 3 ]] && break
  sleep 0.1
done

ctl() { "$meshctl" "$@" || true; }
echo
echo "== members, as node1 sees them"
ctl --connect tcp://127.0.0.1:7100 members
echo
echo "== who has what"
for cap in game chat payment; do ctl --connect tcp://127.0.0.1:7100 nodes-for "$cap"; done
echo
echo "== game actors live on node1 or node3, chat on node2 or node3, payment only on node3"
echo "   (each call enters through a different host; the reply says which host served it)"
entry=(7100 7110 7120)
i=0
for cap_mod in game:GameActor chat:ChatActor payment:PaymentActor; do
  cap=${cap_mod%%:*}; mod=${cap_mod##*:}
  for id in 1 2 3 4; do
    case $cap in
      game) payload='{"action":"move","x":1,"y":2}' ;;
      chat) payload='{"action":"post","user":"ana","text":"hi"}' ;;
      payment) payload='{"action":"balance"}' ;;
    esac
    port=${entry[$((i % 3))]}; i=$((i + 1))
    printf '%-8s %-10s via :%s -> ' "$cap" "${cap}_$id" "$port"
    ctl --connect "tcp://127.0.0.1:$port" call --capability "$cap" --module "$mod" \
      --id "${cap}_$id" --payload "$payload"
  done
done
echo
echo "== the same id lands on the same host and activation through every entry host"
for port in 7100 7110 7120; do
  ctl --connect "tcp://127.0.0.1:$port" call --capability game --module GameActor --id game_1 \
    --payload '{"action":"score","points":10}'
done
echo
echo "== a crash gives a fresh actor on the next call"
ctl --connect tcp://127.0.0.1:7100 call --capability game --module GameActor --id game_1 --payload '{"action":"crash"}'
ctl --connect tcp://127.0.0.1:7100 call --capability game --module GameActor --id game_1 --payload '{"action":"get"}'
echo
echo "== a capability nobody has"
ctl --connect tcp://127.0.0.1:7100 call --capability bench --module Echo --id x --payload '{}'
echo
echo "== chat fan-out across hosts: room lobby, one member on each chat host"
# A member is a PlayerActor (capability chat, like the rooms): ask where each name would live
# and take one living on node2 and one on node3.
owner_of() {
  "$meshctl" --json --connect tcp://127.0.0.1:7100 owner "$1" --capability chat 2>/dev/null |
    grep -o '"owner":"[^"]*"' | cut -d'"' -f4 || true
}
members=()
for want in node2 node3; do
  for name in ana bea cai dov eli fay gus hal ivy jon kim lea max nia oli pam; do
    if [[ " ${members[*]} " != *" $name "* && "$(owner_of "$name")" == "$want" ]]; then
      members+=("$name")
      break
    fi
  done
done
chat() { ctl --connect "tcp://127.0.0.1:$1" call --capability chat --module "$2" --id "$3" --payload "$4"; }
for m in "${members[@]}"; do chat 7110 ChatActor lobby "{\"action\":\"join\",\"player\":\"$m\"}"; done
echo "-- a post entering through node1 (no chat there: it forwards to the room's host)"
chat 7100 ChatActor lobby '{"action":"post","user":"ana","text":"hello, every host"}'
echo "-- the room cast it to each member's PlayerActor; their inboxes, each on its own host"
for m in "${members[@]}"; do
  # The deliveries are casts the post did not wait for: give them a moment (bounded).
  for _ in $(seq 30); do
    out=$("$meshctl" --json --connect tcp://127.0.0.1:7120 call --capability chat \
      --module PlayerActor --id "$m" --payload '{"action":"inbox"}' 2>/dev/null || true)
    [[ $out == *'"received":1'* ]] && break
    sleep 0.1
  done
  chat 7120 PlayerActor "$m" '{"action":"inbox"}'
done
echo "-- who: the room calls every member for its status and answers once all are back"
[[ ${#members[@]} -gt 0 ]] && chat 7110 PlayerActor "${members[0]}" '{"action":"set_status","status":"afk"}'
chat 7120 ChatActor lobby '{"action":"who"}'
echo
echo "== a game world ticking on its own timer (every 100 ms), players moving by their velocity"
game() { ctl --connect tcp://127.0.0.1:7100 call --capability game --module GameActor --id world_1 --payload "$1"; }
game '{"action":"spawn","player":"p1","x":0,"y":0,"vx":1,"vy":0.5}' > /dev/null
game '{"action":"spawn","player":"p2","x":100,"y":0,"vx":-2,"vy":0}' > /dev/null
game '{"action":"start","period_ms":100}'
sleep 0.5
game '{"action":"state"}'
sleep 0.5
game '{"action":"state"}'
echo "-- pause cancels the timer: the tick count stays where it was"
game '{"action":"pause"}'
sleep 0.3
game '{"action":"state"}'
echo
echo "== a transfer: account_a pays account_b, answered once account_b has taken the credit;"
echo "   the retry with the same request_id is applied once on each side"
pay() { ctl --connect tcp://127.0.0.1:7110 call --capability payment --module PaymentActor "$@"; }
pay --id account_a --payload '{"action":"balance"}' --init-arg '{"balance":100}'
pay --id account_a --payload '{"action":"transfer","to":"account_b","amount":30,"request_id":"demo-1"}'
pay --id account_a --payload '{"action":"transfer","to":"account_b","amount":30,"request_id":"demo-1"}'
pay --id account_b --payload '{"action":"balance"}'
echo
echo "== live actors on node3, and its counters"
ctl --connect tcp://127.0.0.1:7100 actors --host node3 --limit 5
ctl --connect tcp://127.0.0.1:7120 stats | head -n 12

if $once; then exit 0; fi
echo
echo "The cluster is serving: node1 tcp://127.0.0.1:7100, node2 :7110, node3 :7120 (logs in $work)."
echo "Try: $meshctl --connect tcp://127.0.0.1:7110 owner player_1 --capability game"
echo "Ctrl-C stops all three."
wait
