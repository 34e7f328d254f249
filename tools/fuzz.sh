#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang into build-fuzz/ (or $MESH_FUZZ_BUILD_DIR)
# and runs each for N seconds (default 30: the short run CI does; `tools/fuzz.sh 3600` for a long
# one). Each target starts from its committed corpus and crash inputs; what it discovers goes to
# build-fuzz/corpus/<target>/ (kept between runs, never into the source tree) and any crashing
# input to build-fuzz/crashes/<target>/. Exits non-zero when any target crashed, leaked, timed out
# or ran out of memory. Extra arguments after N go to every fuzzer (e.g. -max_len=65536).
#
#   MESH_FUZZ_TARGETS="request_envelope gossip_message"   run only these targets
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
shift || true
build=${MESH_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${MESH_JOBS:-$(nproc)}
read -r -a targets <<< "${MESH_FUZZ_TARGETS:-request_envelope reply_envelope forward_header \
gossip_message discovery_beacon client_json}"

mkdir -p "$build"
CC=${MESH_FUZZ_CC:-clang} CXX=${MESH_FUZZ_CXX:-clang++} \
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMESH_FUZZ=ON \
  > "$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j "$jobs" --target mesh_fuzz

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[[ -n "$symbolizer" ]] && export ASAN_SYMBOLIZER_PATH=$symbolizer

failed=()
printf '%-18s %8s %10s %8s %s\n' target seconds execs/s corpus result
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  crashes="$build/crashes/$t"
  mkdir -p "$work" "$crashes"
  log="$build/fuzz-$t.log"
  # -max_len: room for the decoders' limits to be crossed (the default would be 4096 at most).
  status=0
  "$build/tests/fuzz/fuzz_$t" "$work" "$root/tests/fuzz/corpus/$t" "$root/tests/fuzz/crashes/$t" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=5 -max_len=8192 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$@" > "$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -1)
  size=$(find "$work" -type f | wc -l)
  if [[ $status -eq 0 ]]; then
    result=ok
  else
    result="FAILED (exit $status; see $log; inputs in $crashes)"
    failed+=("$t")
  fi
  printf '%-18s %8s %10s %8s %s\n' "$t" "$seconds" "${execs:-?}" "$size" "$result"
  if [[ $status -ne 0 ]]; then
    grep -E 'ERROR|SUMMARY|==[0-9]+==|runtime error|property|terminate|#[0-9]+ ' "$log" | head -40 >&2
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  echo "fuzz: commit each input to tests/fuzz/crashes/<target>/ with its fix" >&2
  exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets x ${seconds}s"
