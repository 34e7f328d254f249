// Phase marks for callgrind: under `valgrind --tool=callgrind`, zero the counters where a
// measured phase starts and dump them (to callgrind.out.<pid>.<n>, named by the phase) where it
// ends, so that each phase's instructions can be read on their own. Outside valgrind (or where
// valgrind's header is not installed) each mark is a few instructions that do nothing.
#pragma once

#if __has_include(<valgrind/callgrind.h>)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#include <valgrind/callgrind.h>
#pragma GCC diagnostic pop
#define MESH_BENCH_HAVE_CALLGRIND 1
#endif

namespace mesh::bench {

/// Zeroes callgrind's counters: a measured phase starts.
inline void callgrind_phase_start() noexcept {
#ifdef MESH_BENCH_HAVE_CALLGRIND
  CALLGRIND_ZERO_STATS;
#endif
}

/// Dumps callgrind's counters under `phase`: the measured phase ended.
inline void callgrind_phase_end(const char* phase) noexcept {
#ifdef MESH_BENCH_HAVE_CALLGRIND
  CALLGRIND_DUMP_STATS_AT(phase);
#else
  (void)phase;
#endif
}

}  // namespace mesh::bench
