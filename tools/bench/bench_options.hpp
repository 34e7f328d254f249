// What a mesh-bench run is asked to do: counts, pipelining depths, time limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace mesh::bench {

/// The suite's workloads (W1-W8 and growth) and their sizes: the performance issue's, shrunk by
/// make_quick().
struct suite_options {
  /// Workloads to run ("W1".."W8", "growth"); empty runs them all.
  std::set<std::string> only;
  uint64_t w1_actors = 50'000;
  size_t w1_inflight = 500;
  uint64_t w2_calls = 10'000;
  size_t w2_inflight = 200;
  uint64_t w3_actors = 30'000;
  size_t w3_inflight = 500;
  uint64_t w4_calls = 20'000;
  uint64_t w4_actors = 5'000;
  size_t w4_inflight = 300;
  uint64_t w5_calls = 1'000;
  uint64_t w6_actors = 85'000;
  uint64_t w7_actors = 40'000;
  uint64_t w7_calls = 50'000;
  size_t w7_inflight = 500;
  /// Growth: live actors at each step; calls at each step are max(growth_calls, actors), so
  /// every actor is called at least once.
  std::vector<uint64_t> growth_actors = {10'000, 100'000, 1'000'000};
  uint64_t growth_calls = 200'000;
  size_t growth_inflight = 300;
  /// Bound of each growth phase (activating a million actors over ZeroMQ on a loaded machine).
  std::chrono::milliseconds growth_limit{120'000};

  bool selected(const std::string& workload) const { return only.empty() || only.count(workload); }
};

/// `mesh-bench actors`: actor-to-actor calls and timers through the host services (ABI 1.2),
/// measured with the bench plugin (bench_actors.cpp), beside CAF when mesh-bench-caf is built.
struct actor_options {
  /// Parts to run ("local", "remote", "timers", "firing"); empty runs them all.
  std::set<std::string> only;
  /// Local shapes to run ("one": one pair, one call in flight; "window": one pair, `window`
  /// calls in flight; "pairs": `pairs` pairs, one call in flight each); empty runs all three.
  std::set<std::string> shapes;
  /// Local: leave CAF out (under valgrind, say), even when mesh-bench-caf is built.
  bool without_caf = false;
  /// Local round trips: each round of each shape runs this long (or until `count`).
  std::chrono::milliseconds round{1000};
  /// Rounds of each shape; Mesh (SDK, C table) and CAF (1 thread, one per core) alternate.
  uint64_t rounds = 3;
  /// Round trips one pinger makes in a round at most (bounds a round under callgrind).
  uint64_t count = 1'000'000'000;
  /// The many-pairs shape: this many pinger/ponger pairs, one call in flight each.
  uint64_t pairs = 1'000;
  /// The windowed one-pair shape: calls one pinger keeps in flight.
  uint64_t window = 64;
  /// Remote: sequential calls of each path (actor on A -> actor on B; smart client -> B).
  uint64_t remote_calls = 2'000;
  /// Timers armed for the memory figure: this many actors, each with `timers_per_actor`.
  uint64_t timer_actors = 1'000;
  uint64_t timers_per_actor = 1'000;
  /// Timers fired all at once for the firing figure: actors, and one-shot timers each.
  uint64_t fire_actors = 1'000;
  uint64_t fires_per_actor = 1'000;
  /// The firing phase arms its timers due this long after it starts arming them.
  std::chrono::milliseconds fire_lead{4'000};

  bool selected(const std::string& part) const { return only.empty() || only.count(part); }
};

/// Everything the command line sets. Defaults are the full benchmark; make_quick() shrinks it.
struct bench_options {
  /// Worker threads of the runtime (local) or of the meshd the bench starts (client).
  unsigned workers = 2;
  /// Actors created by the activation phase (each with one call); also the memory sample.
  uint64_t activations = 100'000;
  /// Existing actors the spread phase calls round-robin.
  uint64_t spread_actors = 5'000;
  /// Sequential calls of the latency phase.
  uint64_t latency_calls = 10'000;
  size_t activation_inflight = 500;
  size_t hot_inflight = 200;
  size_t spread_inflight = 500;
  /// Cluster mode: sequential calls of each latency phase (forwarded, direct to the owner).
  uint64_t cluster_latency_calls = 2'000;
  /// Cluster mode: calls of each pipelined phase, spread over `cluster_actors` actors.
  uint64_t cluster_calls = 20'000;
  uint64_t cluster_actors = 1'000;
  size_t cluster_inflight = 200;
  /// Cluster mode: each phase alternates this many Mesh and raw rounds (shared-machine drift).
  uint64_t cluster_rounds = 4;
  /// How long each open-ended throughput phase (hot, spread) runs.
  std::chrono::milliseconds duration{3000};
  /// Upper bound for phases defined by a count (activations, latency): they stop early and
  /// report what they did when it passes, so a slow machine still finishes.
  std::chrono::milliseconds phase_limit{30'000};
  /// A phase in which nothing completes for this long has failed (a bug, not slowness).
  std::chrono::milliseconds stall_limit{10'000};
  /// Client mode: the host to measure; empty starts a meshd child process.
  std::string connect;
  /// Client mode: the meshd child runs with a cluster key and the calls use CURVE
  /// (docs/SECURITY.md); the keys below are then filled in by the bench.
  bool curve = false;
  std::string curve_server_key, curve_public_key, curve_secret_key;
  suite_options suite;
  actor_options actors;
  bool quick = false;
  bool json = false;
};

/// Tiny counts that finish in a few seconds: proves the benchmark works, measures nothing.
inline void make_quick(bench_options& o) {
  o.quick = true;
  o.activations = 2'000;
  o.spread_actors = 500;
  o.latency_calls = 300;
  o.cluster_latency_calls = 200;
  o.cluster_calls = 2'000;
  o.cluster_actors = 100;
  o.duration = std::chrono::milliseconds(250);
  o.phase_limit = std::chrono::milliseconds(10'000);
  suite_options& s = o.suite;
  s.w1_actors = 2'000;
  s.w2_calls = 1'000;
  s.w3_actors = 1'500;
  s.w4_calls = 2'000;
  s.w4_actors = 500;
  s.w5_calls = 200;
  s.w6_actors = 3'000;
  s.w7_actors = 2'000;
  s.w7_calls = 4'000;
  s.growth_actors = {1'000, 5'000, 20'000};
  s.growth_calls = 5'000;
  s.growth_limit = std::chrono::milliseconds(20'000);
  actor_options& a = o.actors;
  a.round = std::chrono::milliseconds(100);
  a.rounds = 1;
  a.pairs = 50;
  a.window = 8;
  a.remote_calls = 100;
  a.timer_actors = 20;
  a.timers_per_actor = 100;
  a.fire_actors = 20;
  a.fires_per_actor = 100;
  a.fire_lead = std::chrono::milliseconds(1'500);
}

}  // namespace mesh::bench
