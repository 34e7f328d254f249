#!/usr/bin/env bash
# The README's test command (what CI runs): installs what is missing, builds from scratch into
# build-test/ (or $MESH_BUILD_DIR) and runs every test with CTest; once that passes, runs the
# whole suite again under ASan/UBSan (tools/run-sanitized-tests.sh, build-asan/) and fuzzes
# every decoder for $MESH_FUZZ_SECONDS seconds each (tools/fuzz.sh, build-fuzz/). Prints the
# time of each phase at the end.
#
#   MESH_SKIP_SANITIZERS=1   skip the sanitizer phase
#   MESH_SKIP_FUZZ=1         skip the fuzz phase
#   MESH_FUZZ_SECONDS=N      seconds per fuzz target (default 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export MESH_BUILD_DIR=${MESH_BUILD_DIR:-$root/build-test}

phases=()
phase_start=$SECONDS
# Records how long the phase that just ended took.
end_phase() {
  local took=$((SECONDS - phase_start))
  phases+=("$(printf '%-40s %4dm%02ds' "$1" $((took / 60)) $((took % 60)))")
  phase_start=$SECONDS
}
summary() {
  local status=$?
  [[ ${#phases[@]} -gt 0 ]] || return 0
  echo "--- phases (exit $status) ---"
  printf '%s\n' "${phases[@]}"
  printf '%-40s %4dm%02ds\n' total $((SECONDS / 60)) $((SECONDS % 60))
}
trap summary EXIT

"$root/tools/install-deps.sh"
rm -rf "$MESH_BUILD_DIR"
"$root/tools/build.sh"
end_phase "install + build (build-test/)"
(cd "$MESH_BUILD_DIR" && ctest -j "$(nproc)" --output-on-failure --timeout 300)
end_phase "tests"

if [[ ${MESH_SKIP_SANITIZERS:-0} != 1 ]]; then
  "$root/tools/run-sanitized-tests.sh"
  end_phase "sanitized build + tests (build-asan/)"
fi
if [[ ${MESH_SKIP_FUZZ:-0} != 1 ]]; then
  "$root/tools/fuzz.sh" "${MESH_FUZZ_SECONDS:-30}"
  end_phase "fuzz (build-fuzz/)"
fi
