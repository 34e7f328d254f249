#!/usr/bin/env bash
# Runs the fault scenarios (docs/RELIABILITY.md) outside CTest: at full length with --full, and
# --repeat N times each, printing every figure and a count of passes per scenario at the end.
# Needs root (network namespaces, nftables). Builds what it needs into build/ (or $MESH_BUILD_DIR).
#
#   tools/faults.sh [--full] [--busy] [--repeat N] [S1 L1 ...]   (default: every scenario once,
#                                                                CI length, on a quiet machine)
# --busy: busy loops compete with the hosts for every core (faults.py --busy).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MESH_BUILD_DIR:-$root/build}
full=()
busy=()
repeat=1
scenarios=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --full) full=(--full); shift ;;
    --busy) busy=(--busy); shift ;;
    --repeat) repeat=$2; shift 2 ;;
    S* | L*) scenarios+=("$1"); shift ;;
    *) echo "usage: tools/faults.sh [--full] [--busy] [--repeat N] [S1 L1 ...]" >&2; exit 2 ;;
  esac
done
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(S1 S2 S3 S4 S5 S6 S7 S8 S9 S10 S11 S13 S14 L1)

[[ -f $build/build.ninja ]] || cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j "${MESH_JOBS:-2}" --target mesh_faults_parts

declare -A passed
failed=0
for s in "${scenarios[@]}"; do
  passed[$s]=0
  for ((i = 1; i <= repeat; i++)); do
    echo "--- $s run $i/$repeat ---"
    if /usr/bin/python3 "$root/tests/faults/faults.py" "$s" "${full[@]}" "${busy[@]}" \
        --meshd "$build/host/meshd" --load "$build/tests/faults/mesh-faults-load" \
        --plugins "$build/tests/faults/plugins" --work "$build/tests/faults/runs/$s${busy:+-busy}-$i"; then
      passed[$s]=$((passed[$s] + 1))
    else
      failed=1
    fi
  done
done
echo "--- passes ---"
for s in "${scenarios[@]}"; do echo "$s ${passed[$s]}/$repeat"; done
exit $failed
