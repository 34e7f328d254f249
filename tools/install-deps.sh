#!/usr/bin/env bash
# Installs Mesh's build and test dependencies from Debian 12's packages. Skips apt entirely
# when everything is already installed.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config binutils
  cppzmq-dev libzmq3-dev libmsgpack-cxx-dev libboost-dev libboost-filesystem-dev doctest-dev
  libspdlog-dev libcli11-dev nlohmann-json3-dev libexpected-dev libsodium-dev libcpp-httplib-dev
  dnsmasq-base iproute2 util-linux nftables
  python3 python3-zmq python3-msgpack
  clang libclang-rt-14-dev llvm-14
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo)
echo "installing: ${missing[*]}" >&2
"${sudo[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
