// The runtime in-process, driven by runtime_load (the bench thread is the dispatcher).
#include "local_bench.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "runtime_load.hpp"

namespace mesh::bench {
namespace {

std::vector<uint8_t> msgpack_of(const nlohmann::json& value) {
  return nlohmann::json::to_msgpack(value);
}

std::string fixed(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

wire::bytes_view view(const std::vector<uint8_t>& bytes) { return {bytes.data(), bytes.size()}; }

}  // namespace

void run_local(const bench_options& o, bench_report& report) {
  const std::string mode = "local";
  report.note("local_workers", o.workers);
  report.note("local_plugins", example_plugin_dir().string());
  const std::vector<std::shared_ptr<host::loaded_plugin>> plugins = {
      load_example_plugin("libmesh_counter.so"), load_example_plugin("libmesh_echo.so")};

  const auto incr = msgpack_of({{"op", "incr"}, {"by", 1}});
  const auto echo_payload = msgpack_of({{"seq", 1}, {"data", "0123456789abcdef"}});

  // (a) activations and (e) memory per idle actor: one fresh runtime, K new Counter actors,
  // each activated by one call; the RSS and heap deltas over them, left idle, give the bytes
  // per actor.
  {
    runtime_load h(plugins, o);
    host::actor_module& counter = h.module("counter", "Counter");
    host::actor_module& echo = h.module("bench", "Echo");
    // Warm up both workers, both plugins' thread-local scratch and the allocator arenas, so that
    // the memory baseline below holds everything but the actors themselves.
    const auto warm = make_ids("warm-", 2'000);
    h.pipeline(echo, warm, view(echo_payload), o.activation_inflight, warm.size(), o.phase_limit);
    h.pipeline(counter, warm, view(incr), o.activation_inflight, warm.size(), o.phase_limit);
    const auto ids = make_ids("act-", o.activations);
    const uint64_t rss_before = resident_bytes();
    const uint64_t heap_before = heap_in_use_bytes();
    progress(mode, "activations: " + thousands(static_cast<double>(ids.size())) +
                       " new Counter actors, " + std::to_string(o.activation_inflight) +
                       " in flight, " + std::to_string(o.workers) + " workers");
    const run_result r =
        h.pipeline(counter, ids, view(incr), o.activation_inflight, ids.size(), o.phase_limit);
    const uint64_t rss_after = resident_bytes();
    const uint64_t heap_after = heap_in_use_bytes();
    progress(mode, "  " + thousands(r.rate()) + " activations/s, " + fixed(r.cpu_us(), 2) + " us CPU each (" +
                       thousands(static_cast<double>(r.completed)) + " in " +
                       fixed(r.seconds, 3) + " s)");
    report.add({mode, "activations_per_s", "activations/s (new Counter, " + std::to_string(o.activation_inflight) + " in flight)", r.rate(),
                "/s", true, std::nullopt, 500'000.0, r.completed, r.seconds, r.cpu_us()});
    const double n = static_cast<double>(r.completed);
    const double rss_per = (static_cast<double>(rss_after) - static_cast<double>(rss_before)) / n;
    const double heap_per =
        (static_cast<double>(heap_after) - static_cast<double>(heap_before)) / n;
    progress(mode, "  memory per idle actor: " + thousands(rss_per) + " B RSS, " +
                       thousands(heap_per) + " B heap (" +
                       thousands(static_cast<double>(h.runtime().live_actors())) + " live)");
    report.add({mode, "rss_per_idle_actor_bytes", "RSS per idle actor (Counter)", rss_per, "B",
                false, std::nullopt, 1024.0, r.completed, 0});
    report.add({mode, "heap_per_idle_actor_bytes", "heap in use per idle actor (Counter)",
                heap_per, "B", false, std::nullopt, 1024.0, r.completed, 0});
  }

  // (b) one hot actor: every call queues behind the previous ones in one mailbox.
  {
    runtime_load h(plugins, o);
    host::actor_module& echo = h.module("bench", "Echo");
    const std::vector<std::string> hot = {"hot"};
    h.pipeline(echo, hot, view(echo_payload), o.hot_inflight, 10'000, o.phase_limit);
    progress(mode, "hot actor: Echo, " + std::to_string(o.hot_inflight) + " in flight, " +
                       std::to_string(o.duration.count()) + " ms");
    const run_result r =
        h.pipeline(echo, hot, view(echo_payload), o.hot_inflight, UINT64_MAX, o.duration);
    progress(mode, "  " + thousands(r.rate()) + " calls/s, " + fixed(r.cpu_us(), 2) +
                       " us CPU per call");
    report.add({mode, "calls_hot_per_s", "calls/s, one hot Echo actor, " + std::to_string(o.hot_inflight) + " in flight", r.rate(),
                "/s", true, std::nullopt, std::nullopt, r.completed, r.seconds, r.cpu_us()});
  }

  // (c) calls spread over existing actors and (d) sequential latency.
  {
    runtime_load h(plugins, o);
    host::actor_module& counter = h.module("counter", "Counter");
    const auto ids = make_ids("spread-", o.spread_actors);
    h.pipeline(counter, ids, view(incr), o.spread_inflight, ids.size(), o.phase_limit);
    progress(mode, "spread: " + thousands(static_cast<double>(ids.size())) +
                       " existing Counter actors, " + std::to_string(o.spread_inflight) +
                       " in flight, " + std::to_string(o.duration.count()) + " ms");
    const run_result r =
        h.pipeline(counter, ids, view(incr), o.spread_inflight, UINT64_MAX, o.duration);
    progress(mode, "  " + thousands(r.rate()) + " calls/s, " + fixed(r.cpu_us(), 2) +
                       " us CPU per call");
    report.add({mode, "calls_spread_per_s", "calls/s, " + thousands(static_cast<double>(ids.size())) + " Counter actors, " +
                    std::to_string(o.spread_inflight) + " in flight",
                r.rate(), "/s", true, std::nullopt, 1'000'000.0, r.completed, r.seconds, r.cpu_us()});

    progress(mode, "latency: " + thousands(static_cast<double>(o.latency_calls)) +
                       " sequential calls to one warm Counter actor");
    const std::span<const std::string> one(ids.data(), 1);
    const double cpu_start = cpu_seconds();
    auto samples = h.sequential(counter, one, view(incr), o.latency_calls, o.phase_limit);
    const uint64_t calls = samples.size();
    const double cpu_us =
        calls > 0 ? (cpu_seconds() - cpu_start) * 1e6 / static_cast<double>(calls) : 0;
    const percentiles p = percentiles_of(samples);
    progress(mode, "  p50 " + fixed(p.p50) + " us, p99 " + fixed(p.p99) + " us");
    report.add({mode, "latency_p50_us", "latency p50, sequential calls", p.p50, "us", false,
                std::nullopt, std::nullopt, calls, 0, cpu_us});
    report.add({mode, "latency_p95_us", "latency p95, sequential calls", p.p95, "us", false,
                std::nullopt, std::nullopt, calls, 0});
    report.add({mode, "latency_p99_us", "latency p99, sequential calls", p.p99, "us", false,
                std::nullopt, std::nullopt, calls, 0});
  }
}

}  // namespace mesh::bench
