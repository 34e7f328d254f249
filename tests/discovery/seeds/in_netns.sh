#!/bin/sh
# in_netns.sh <test binary> [doctest arguments...]
#
# Runs a discovery test binary in a fresh network namespace whose only interface is a loopback
# with multicast enabled and a route for 224.0.0.0/4, so that multicast beacons stay inside it.
# Needs root (or CAP_SYS_ADMIN), unshare (util-linux) and ip (iproute2). When the namespace
# cannot be made, prints "skipped: <reason>" and runs the binary with the multicast suite
# excluded; the other suites need nothing but 127.0.0.1.
set -u

setup='ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo'

# Listing test cases (CTest discovery at build time) needs no namespace.
for arg in "$@"; do
  case "$arg" in
    --list-test-cases|-ltc|--list-test-suites|-lts|--help|-h|--version|-v) exec "$@" ;;
  esac
done

reason=
if ! command -v unshare >/dev/null 2>&1; then
  reason="unshare (util-linux) is not installed"
elif ! command -v ip >/dev/null 2>&1; then
  reason="ip (iproute2) is not installed"
elif ! err=$(unshare -n sh -c "$setup" 2>&1); then
  reason="cannot set up a network namespace (needs root or CAP_SYS_ADMIN): $(echo "$err" | head -n 1)"
fi

if [ -n "$reason" ]; then
  echo "skipped: multicast discovery tests: $reason"
  exec "$@" --test-suite-exclude=multicast
fi

MESH_TEST_NETNS=1 exec unshare -n sh -c "$setup"' && exec "$@"' in_netns "$@"
