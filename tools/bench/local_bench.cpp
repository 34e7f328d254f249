// The bench thread is the dispatcher: it alone calls runtime::submit and shutdown. Finished tasks
// come back through a batch_queue it drains, exactly as they do in the server, and are
// resubmitted at once so that a fixed number stay in flight. Tasks and payloads are allocated
// before the clock starts, so the figures are the runtime's (and the plugin's), not the bench's.
#include "local_bench.hpp"

#include <poll.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "plugin/module_table.hpp"
#include "plugin/plugin_loader.hpp"
#include "runtime/runtime.hpp"
#include "runtime/task_queue.hpp"

namespace mesh::bench {
namespace {

using host::clock;
using namespace std::chrono_literals;

const std::filesystem::path plugin_dir(MESH_EXAMPLE_PLUGIN_DIR);

double seconds_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::shared_ptr<host::loaded_plugin> load(const std::string& file) {
  auto plugin = host::load_plugin(plugin_dir / file);
  if (!plugin) throw std::runtime_error((plugin_dir / file).string() + ": " + plugin.error());
  return *plugin;
}

/// Hands every finished task to the bench thread through a batch_queue; keeps the first failure.
class queue_sink final : public host::completion_sink {
 public:
  void complete(host::task* t, const host::outcome& result) noexcept override {
    if (!result.ok) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      try {
        std::lock_guard lock(mutex_);
        if (first_failure_.empty())
          first_failure_ =
              std::string(wire::to_string(result.code)) + ": " + std::string(result.message);
      } catch (...) {
      }
    }
    done_.push(t);
  }

  host::batch_queue<host::task*>& done() noexcept { return done_; }
  uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  std::string first_failure() {
    std::lock_guard lock(mutex_);
    return first_failure_;
  }

 private:
  host::batch_queue<host::task*> done_;
  std::atomic<uint64_t> failures_{0};
  std::mutex mutex_;
  std::string first_failure_;
};

/// What one pipelined run did.
struct run_result {
  uint64_t completed = 0;
  double seconds = 0;
  double cpu_seconds = 0;  ///< of the whole process: dispatcher and workers
  double rate() const { return seconds > 0 ? static_cast<double>(completed) / seconds : 0; }
  double cpu_us() const {
    return completed > 0 ? cpu_seconds * 1e6 / static_cast<double>(completed) : 0;
  }
};

/// One phase's host: a fresh module table and runtime over the shared loaded plugins, driven
/// from this thread.
class bench_host {
 public:
  bench_host(const std::vector<std::shared_ptr<host::loaded_plugin>>& plugins,
             const bench_options& options)
      : options_(options), runtime_(host::runtime_config{options.workers, 1 << 20}, sink_) {
    for (const auto& p : plugins)
      if (auto added = table_.add(p); !added) throw std::runtime_error(added.error());
  }

  ~bench_host() { runtime_.shutdown(); }

  host::actor_module& module(std::string_view capability, std::string_view name) {
    auto m = table_.resolve(capability, name);
    if (!m) throw std::runtime_error(m.error().message);
    return **m;
  }

  /// Calls actors ids[i % ids.size()] for i = 0, 1, ... with `payload`, keeping `inflight`
  /// calls outstanding, until `count` calls completed or `limit` passed (then the calls in
  /// flight are finished and counted).
  run_result pipeline(host::actor_module& m, std::span<const std::string> ids,
                      wire::bytes_view payload, size_t inflight, uint64_t count,
                      clock::duration limit) {
    std::vector<host::task> pool(std::min<uint64_t>(inflight, count));
    for (host::task& t : pool) {
      t.kind = wire::op::call;
      t.payload = payload;
    }
    done_.clear();
    done_.reserve(pool.size());
    uint64_t submitted = 0, completed = 0;
    const size_t n = ids.size();
    const double cpu_start = cpu_seconds();
    const auto start = clock::now();
    const auto stop_at = start + limit;
    bool stopping = false;
    for (host::task& t : pool) runtime_.submit(m, ids[submitted++ % n], &t);
    while (completed < submitted) {
      wait_for_completions();
      done_.clear();
      sink_.done().take_all(done_);
      completed += done_.size();
      if (!stopping && clock::now() >= stop_at) stopping = true;
      for (host::task* t : done_) {
        if (stopping || submitted >= count) break;
        runtime_.submit(m, ids[submitted++ % n], t);
      }
    }
    run_result r{completed, seconds_between(start, clock::now()), cpu_seconds() - cpu_start};
    check_failures();
    return r;
  }

  /// Calls ids[i % ids.size()] one at a time; returns each call's round trip in ns.
  std::vector<int64_t> sequential(host::actor_module& m, std::span<const std::string> ids,
                                  wire::bytes_view payload, uint64_t count,
                                  clock::duration limit) {
    std::vector<int64_t> samples;
    samples.reserve(count);
    host::task t;
    t.kind = wire::op::call;
    t.payload = payload;
    done_.clear();
    done_.reserve(1);
    const auto stop_at = clock::now() + limit;
    for (uint64_t i = 0; i < count; ++i) {
      const auto sent = clock::now();
      if (sent >= stop_at) break;
      runtime_.submit(m, ids[i % ids.size()], &t);
      for (done_.clear(); done_.empty();) {
        wait_for_completions();
        sink_.done().take_all(done_);
      }
      samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - sent)
                            .count());
    }
    check_failures();
    return samples;
  }

  host::runtime& runtime() noexcept { return runtime_; }

 private:
  void wait_for_completions() {
    pollfd p{sink_.done().fd(), POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(options_.stall_limit.count()));
    if (rc == 0) {
      // Tasks are still inside the runtime: it cannot be shut down, and unwinding would wait
      // for them forever. Report and leave.
      progress("local", "FAILED: no call completed for " +
                            std::to_string(options_.stall_limit.count()) + " ms");
      std::_Exit(1);
    }
  }

  void check_failures() {
    if (sink_.failures() != 0)
      throw std::runtime_error(std::to_string(sink_.failures()) +
                               " calls failed; the first: " + sink_.first_failure());
  }

  const bench_options& options_;
  queue_sink sink_;
  host::module_table table_{std::nullopt};
  std::vector<host::task*> done_;
  host::runtime runtime_;  // last: joined before the sink and the table go away
};

std::vector<std::string> make_ids(const std::string& prefix, uint64_t count) {
  std::vector<std::string> ids;
  ids.reserve(count);
  for (uint64_t i = 0; i < count; ++i) ids.push_back(prefix + std::to_string(i));
  return ids;
}

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
  report.note("local_plugins", plugin_dir.string());
  const std::vector<std::shared_ptr<host::loaded_plugin>> plugins = {
      load("libmesh_counter.so"), load("libmesh_echo.so")};

  const auto incr = msgpack_of({{"op", "incr"}, {"by", 1}});
  const auto echo_payload = msgpack_of({{"seq", 1}, {"data", "0123456789abcdef"}});

  // (a) activations and (e) memory per idle actor: one fresh runtime, K new Counter actors,
  // each activated by one call; the RSS and heap deltas over them, left idle, give the bytes
  // per actor.
  {
    bench_host h(plugins, o);
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
    bench_host h(plugins, o);
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
    bench_host h(plugins, o);
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
