// The parts of `mesh-bench actors`, each with the bench plugin (bench_actors.cpp):
// - local: round trips Pinger -> Ponger on one host in this process (host::server on a thread
//   of its own: socket loop, routing, runtime; the actors are nonblocking, so they run on its
//   request thread), in three shapes (one pair with one call in flight, one pair with a window
//   of calls, many pairs), through the SDK's continuations and through the C table; each round
//   alternates with CAF's request/response in the same shape (mesh-bench-caf, a child process,
//   with one scheduler thread and with one per core).
// - remote: two meshd children, A serving Pinger and B Ponger: sequential calls from the actor
//   on A to the actor on B, alternating with a smart client's sequential calls straight to the
//   same Ponger on B.
// - timers: memory per armed one-hour timer (RSS and heap of this process, the host's table
//   alone through the C table, then with the SDK's std::function per timer).
// - firing: timers of many actors due at the same moment (through the C table, then the SDK),
//   firings per second from the due time and CPU per firing.
// Each measured phase is framed with callgrind marks (callgrind_marks.hpp).
#include "actor_bench.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "callgrind_marks.hpp"
#include "dealer_load.hpp"
#include "helper_process.hpp"
#include "meshd_hosts.hpp"
#include "plugin/plugin_loader.hpp"
#include "plugin/plugin_watcher.hpp"
#include "server/server.hpp"

namespace mesh::bench {
namespace {

using clock = std::chrono::steady_clock;
using json = nlohmann::json;
using std::chrono::milliseconds;

// The targets.
constexpr double target_round_trips_per_s = 2'000'000;
constexpr double target_caf_ratio = 2.0;
constexpr double target_remote_p50_ratio = 1.2;
constexpr double target_bytes_per_timer = 64;

constexpr milliseconds one_hour{3'600'000};
/// Timers armed by one call: a call arming thousands would run for long enough (under
/// valgrind) for the host to judge the module slow and move it to the workers.
constexpr uint64_t timers_per_call = 100;

const std::filesystem::path& bench_plugin_dir() {
  static const std::filesystem::path dir(MESH_BENCH_PLUGIN_DIR);
  return dir;
}

std::string fixed(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string count_text(uint64_t n) { return thousands(static_cast<double>(n)); }

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
}

figure make_figure(const std::string& mode, const std::string& key, const std::string& label,
                   double value, const std::string& unit, bool higher_is_better) {
  figure f;
  f.mode = mode;
  f.key = key;
  f.label = label;
  f.value = value;
  f.unit = unit;
  f.higher_is_better = higher_is_better;
  return f;
}

/// One host in this process: the real server (socket loop, routing, runtime) on a thread of
/// its own, serving the bench plugin, and a (non-smart) client on it.
class local_host {
 public:
  local_host(const bench_options& o, const std::string& name) {
    host::host_config config;
    config.name = name;
    config.listen = "tcp://127.0.0.1:*";
    config.workers = o.workers;
    server_ = std::make_unique<host::server>(config, context_);
    const auto path = bench_plugin_dir() / "libmesh_bench_actors.so";
    auto plugin = host::load_plugin(path);
    if (!plugin) throw std::runtime_error(path.string() + ": " + plugin.error());
    server_->post_plugin(host::plugin_event{path, *plugin, {}});
    server_->apply_pending_plugins();
    thread_ = std::thread([this] {
      try {
        server_->run();
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        failure_ = e.what();
      }
    });
    client_ = std::make_unique<mesh_load>(std::vector<std::string>{server_->endpoint()}, false, o);
  }
  ~local_host() { stop(); }
  local_host(const local_host&) = delete;
  local_host& operator=(const local_host&) = delete;

  mesh_load& client() { return *client_; }

  /// Stops the server (its actors are deactivated) and joins its thread; throws if it failed.
  void stop() {
    if (!server_) return;
    client_.reset();
    server_->stop();
    thread_.join();
    server_.reset();
    std::lock_guard lock(mutex_);
    if (!failure_.empty()) throw std::runtime_error("the in-process host failed: " + failure_);
  }

 private:
  zmq::context_t context_{1};
  std::unique_ptr<host::server> server_;
  std::thread thread_;
  std::unique_ptr<mesh_load> client_;
  std::mutex mutex_;
  std::string failure_;
};

/// Calls `module` of `capability` on ids[i] with payloads[i] for every i, at most `inflight` at
/// once, and waits for every reply (each bounded by `timeout`); the replies' bodies as JSON, in
/// order. Throws on the first error.
std::vector<json> call_all(mesh_load& host, std::string_view capability, std::string_view module,
                           const std::vector<std::string>& ids,
                           const std::vector<std::vector<uint8_t>>& payloads, size_t inflight,
                           milliseconds timeout) {
  client::client& c = host.client();
  std::vector<json> out(ids.size());
  std::optional<client::error> failure;
  size_t next = 0;
  std::function<void()> send_next = [&] {
    const size_t i = next++;
    c.call_async_view(
        {capability, module, ids[i], client::view_of(payloads[i]), std::nullopt, timeout},
        [&, i](tl::expected<client::reply_view, client::error> r) {
          if (!r) {
            if (!failure) failure = r.error();
            return;
          }
          const wire::bytes_view body = r->decoded.body;
          out[i] = json::from_msgpack(body.data, body.data + body.size, true, false);
          if (next < ids.size() && !failure) send_next();
        });
  };
  while (next < std::min(inflight, ids.size())) send_next();
  while (c.in_flight() > 0) c.poll(milliseconds(100));
  if (failure)
    throw std::runtime_error(std::string(module) + " call failed: " + failure->code + ": " +
                             failure->message);
  return out;
}

std::vector<std::string> numbered(const std::string& prefix, uint64_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (uint64_t i = 0; i < n; ++i) ids.push_back(prefix + std::to_string(i));
  return ids;
}

/// Round trips of one run (or the sum of several).
struct round_trips {
  uint64_t done = 0;
  double seconds = 0, cpu_seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(done) / seconds : 0; }
  double cpu_us() const { return done > 0 ? cpu_seconds * 1e6 / static_cast<double>(done) : 0; }
  void add(const round_trips& r) {
    done += r.done;
    seconds += r.seconds;
    cpu_seconds += r.cpu_seconds;
  }
};

/// How the pingers call: `pairs` of them, each with `window` calls in flight.
struct shape {
  uint64_t pairs = 1, window = 1;
  std::string key() const { return std::to_string(pairs) + "x" + std::to_string(window); }
  std::string text() const {
    return count_text(pairs) + (pairs == 1 ? " pair, " : " pairs, ") + count_text(window) +
           (window == 1 ? " call" : " calls") + " in flight" + (pairs == 1 ? "" : " each");
  }
};

// ---- local -------------------------------------------------------------------------------

/// One Mesh round: every pinger runs for `round` (or `count` round trips) through the SDK or
/// the C table (`raw`); counted from the first kick to the last pinger's answer.
round_trips mesh_round(local_host& h, const shape& s, bool raw, uint64_t count, milliseconds round,
                       const std::string& phase) {
  const auto ids = numbered("a", s.pairs);
  std::vector<std::vector<uint8_t>> payloads;
  payloads.reserve(s.pairs);
  for (uint64_t i = 0; i < s.pairs; ++i)
    payloads.push_back(json::to_msgpack({{"op", "run"},
                                         {"to", "p" + std::to_string(i)},
                                         {"window", s.window},
                                         {"count", count},
                                         {"ms", round.count()},
                                         {"raw", raw}}));
  const double cpu_start = cpu_seconds();
  const auto start = clock::now();
  callgrind_phase_start();
  const auto replies = call_all(h.client(), "actorbench", "Pinger", ids, payloads, ids.size(),
                                round + milliseconds(120'000));
  callgrind_phase_end(phase.c_str());
  round_trips r;
  r.seconds = std::chrono::duration<double>(clock::now() - start).count();
  r.cpu_seconds = cpu_seconds() - cpu_start;
  uint64_t failed = 0;
  for (const json& j : replies) {
    r.done += j.value("done", uint64_t{0});
    failed += j.value("failed", uint64_t{0});
  }
  if (failed != 0)
    throw std::runtime_error(count_text(failed) + " actor -> actor calls failed (" + phase + ")");
  return r;
}

/// One CAF round in the same shape (mesh-bench-caf as a child process) on `threads` scheduler
/// threads; nullopt when it is not built.
std::optional<round_trips> caf_round(const shape& s, int threads, uint64_t count,
                                     milliseconds round) {
#ifdef MESH_BENCH_CAF_PATH
  const auto out =
      tools::run_command({MESH_BENCH_CAF_PATH, "--pairs", std::to_string(s.pairs), "--window",
                          std::to_string(s.window), "--count", std::to_string(count), "--ms",
                          std::to_string(round.count()), "--threads", std::to_string(threads)},
                         round * 4 + milliseconds(120'000));
  if (!out.status || *out.status != 0)
    throw std::runtime_error("mesh-bench-caf failed: " + out.err + out.out);
  const json j = json::parse(out.out);
  round_trips r;
  r.done = j.at("round_trips").get<uint64_t>();
  r.seconds = j.at("seconds").get<double>();
  r.cpu_seconds = j.at("cpu_seconds").get<double>();
  return r;
#else
  (void)s, (void)threads, (void)count, (void)round;
  return std::nullopt;
#endif
}

void run_local(const bench_options& o, bench_report& report) {
  const actor_options& a = o.actors;
  const std::string mode = "actors local";
  local_host h(o, "actors-local");
  progress(mode, "in-process host (server on its own thread, " + std::to_string(o.workers) +
                     " workers), bench plugin " + bench_plugin_dir().string());
#ifdef MESH_BENCH_CAF_PATH
  report.note("actors_caf", std::string("mesh-bench-caf (CAF ") + MESH_BENCH_CAF_VERSION +
                                "), a child process per round");
#else
  report.note("actors_caf", "not built (CAF not found): no CAF figures");
  progress(mode, "mesh-bench-caf is not built (CAF not found): Mesh figures only");
#endif
  // CAF's second configuration: one scheduler thread per core (its default, max(cores, 4),
  // would put four busy threads on a two-core machine).
  const int cores = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  std::vector<shape> shapes;
  if (a.shapes.empty() || a.shapes.count("one")) shapes.push_back({1, 1});
  if (a.shapes.empty() || a.shapes.count("window")) shapes.push_back({1, a.window});
  if (a.shapes.empty() || a.shapes.count("pairs")) shapes.push_back({a.pairs, 1});
  for (const shape& s : shapes) {
    // Warm-up, not counted: activates the pairs, fills the allocator's caches.
    const milliseconds warm = std::max(milliseconds(20), a.round / 10);
    mesh_round(h, s, false, a.count, warm, "warm-up");
    mesh_round(h, s, true, a.count, warm, "warm-up");
    progress(
        mode,
        s.text() + ": " + std::to_string(a.rounds) + " rounds of " +
            std::to_string(a.round.count()) + " ms each: Mesh (SDK), Mesh (C table)" +
            (a.without_caf ? "" : ", CAF (1 thread), CAF (" + std::to_string(cores) + " threads)"));
    round_trips sdk, raw, caf1, caf_cores;
    bool have_caf = false;
    for (uint64_t r = 0; r < a.rounds; ++r) {
      sdk.add(mesh_round(h, s, false, a.count, a.round, ("mesh sdk " + s.key()).c_str()));
      raw.add(mesh_round(h, s, true, a.count, a.round, ("mesh raw " + s.key()).c_str()));
      if (a.without_caf) continue;
      if (auto c = caf_round(s, 1, a.count, a.round)) {
        caf1.add(*c);
        caf_cores.add(*caf_round(s, cores, a.count, a.round));
        have_caf = true;
      }
    }
    std::string line = "  Mesh SDK " + thousands(sdk.rate()) + " /s (" + fixed(sdk.cpu_us(), 3) +
                       " us CPU each), C table " + thousands(raw.rate()) + " /s (" +
                       fixed(raw.cpu_us(), 3) + ")";
    if (have_caf)
      line += "; CAF 1 thread " + thousands(caf1.rate()) + " /s (" + fixed(caf1.cpu_us(), 3) +
              "), " + std::to_string(cores) + " threads " + thousands(caf_cores.rate()) + " /s (" +
              fixed(caf_cores.cpu_us(), 3) + ")";
    progress(mode, line);
    const std::string k = "local_round_trips_per_s_" + s.key();
    auto add_rate = [&](const std::string& m, const std::string& key, const std::string& label,
                        const round_trips& r, std::optional<double> target) {
      figure f = make_figure(m, key, label, r.rate(), "/s", true);
      f.target = target;
      f.samples = r.done;
      f.seconds = r.seconds;
      f.cpu_us = r.cpu_us();
      report.add(f);
    };
    add_rate(mode, k + "_sdk", "round trips/s, " + s.text() + ", SDK continuations", sdk,
             target_round_trips_per_s);
    add_rate(mode, k + "_c_table", "round trips/s, " + s.text() + ", C table (tags)", raw,
             target_round_trips_per_s);
    if (!have_caf) continue;
    add_rate("actors caf", "caf_round_trips_per_s_" + s.key() + "_1_thread",
             "CAF request/response/s, " + s.text() + ", 1 scheduler thread", caf1, std::nullopt);
    add_rate(
        "actors caf", "caf_round_trips_per_s_" + s.key() + "_cores",
        "CAF request/response/s, " + s.text() + ", " + std::to_string(cores) + " scheduler threads",
        caf_cores, std::nullopt);
    const double best = std::max(caf1.rate(), caf_cores.rate());
    figure ratio = make_figure(mode, "local_vs_caf_" + s.key(),
                               "Mesh (SDK) / CAF (the faster of its two), " + s.text(),
                               best > 0 ? sdk.rate() / best : 0, "x", true);
    ratio.target = target_caf_ratio;
    report.add(ratio);
  }
  h.stop();
}

// ---- remote ------------------------------------------------------------------------------

void run_remote(const bench_options& o, bench_report& report) {
  const actor_options& a = o.actors;
  const std::string mode = "actors remote";
  temp_dir dir;
  meshd_cluster hosts(o, dir.path(), bench_plugin_dir());
  hosts.add("actors-a", "actorbench");
  hosts.add("actors-b", "actorpong");
  const auto& ha = *hosts.hosts()[0];
  const auto& hb = *hosts.hosts()[1];
  progress(mode, "meshd A (pid " + std::to_string(ha.pid()) + ", Pinger) on " + ha.endpoint() +
                     ", meshd B (pid " + std::to_string(hb.pid()) + ", Ponger) on " +
                     hb.endpoint() + ", converged");
  report.note("actors_remote_hosts",
              "2 meshd children: A serves actorbench (Pinger), B serves "
              "actorpong (Ponger); " +
                  std::to_string(o.workers) + " workers each");
  mesh_load to_a({ha.endpoint()}, false, o);
  mesh_load smart({ha.endpoint()}, true, o);
  const std::vector<std::string> pong = {"p0"};
  calls direct("actorpong", "Ponger", pong, json::to_msgpack(json(1)));
  const milliseconds limit = o.phase_limit;
  auto actor_calls = [&](uint64_t n) {
    const auto r = call_all(to_a, "actorbench", "Pinger", {"a0"},
                            {json::to_msgpack({{"op", "latency"}, {"to", "p0"}, {"count", n}})}, 1,
                            limit + milliseconds(60'000));
    if (r[0].value("failed", uint64_t{0}) != 0)
      throw std::runtime_error("calls from the actor on A to B failed: " + r[0].dump());
    return r[0].at("samples").get<std::vector<int64_t>>();
  };
  // Warm-up, not timed: both actors activated, A's link to B, the client's view.
  actor_calls(std::min<uint64_t>(200, a.remote_calls));
  smart.sequential(direct, std::min<uint64_t>(200, a.remote_calls), limit);

  const uint64_t rounds = std::max<uint64_t>(1, std::min(o.cluster_rounds, a.remote_calls));
  progress(mode, count_text(a.remote_calls) + " sequential calls each way, " +
                     std::to_string(rounds) +
                     " alternating rounds: actor on A -> Ponger on B; smart client -> Ponger on B");
  std::vector<int64_t> actor_ns, client_ns;
  double actor_cpu_a = 0, actor_cpu_b = 0, client_cpu_a = 0, client_cpu_b = 0;
  for (uint64_t r = 0; r < rounds; ++r) {
    const uint64_t n = a.remote_calls / rounds + (r < a.remote_calls % rounds ? 1 : 0);
    double ca = cpu_seconds(ha.pid()), cb = cpu_seconds(hb.pid());
    const auto s1 = actor_calls(n);
    actor_cpu_a += cpu_seconds(ha.pid()) - ca;
    actor_cpu_b += cpu_seconds(hb.pid()) - cb;
    actor_ns.insert(actor_ns.end(), s1.begin(), s1.end());
    ca = cpu_seconds(ha.pid());
    cb = cpu_seconds(hb.pid());
    const auto s2 = smart.sequential(direct, n, limit / rounds);
    client_cpu_a += cpu_seconds(ha.pid()) - ca;
    client_cpu_b += cpu_seconds(hb.pid()) - cb;
    client_ns.insert(client_ns.end(), s2.begin(), s2.end());
  }
  const uint64_t na = actor_ns.size(), nc = client_ns.size();
  const percentiles pa = percentiles_of(actor_ns), pc = percentiles_of(client_ns);
  const auto per_call = [](double s, uint64_t n) { return n > 0 ? s * 1e6 / double(n) : 0.0; };
  progress(mode, "  actor -> actor p50 " + fixed(pa.p50) + " us, p95 " + fixed(pa.p95) + ", p99 " +
                     fixed(pa.p99) + " (host CPU us/call A " + fixed(per_call(actor_cpu_a, na), 2) +
                     ", B " + fixed(per_call(actor_cpu_b, na), 2) + ")");
  progress(mode, "  smart client -> B p50 " + fixed(pc.p50) + " us, p95 " + fixed(pc.p95) +
                     ", p99 " + fixed(pc.p99) + " (host CPU us/call A " +
                     fixed(per_call(client_cpu_a, nc), 2) + ", B " +
                     fixed(per_call(client_cpu_b, nc), 2) + "); ratio of p50s " +
                     fixed(pc.p50 > 0 ? pa.p50 / pc.p50 : 0, 2));
  const std::pair<const char*, double> actor_pcts[] = {
      {"p50", pa.p50}, {"p95", pa.p95}, {"p99", pa.p99}};
  const std::pair<const char*, double> client_pcts[] = {
      {"p50", pc.p50}, {"p95", pc.p95}, {"p99", pc.p99}};
  for (const auto& [name, v] : actor_pcts) {
    figure f =
        make_figure(mode, std::string("remote_actor_call_") + name + "_us",
                    std::string("latency ") + name + ", actor on A -> actor on B", v, "us", false);
    f.samples = na;
    if (std::string(name) == "p50") f.cpu_us = per_call(actor_cpu_a + actor_cpu_b, na);
    report.add(f);
  }
  for (const auto& [name, v] : client_pcts) {
    figure f = make_figure(mode, std::string("remote_client_call_") + name + "_us",
                           std::string("latency ") + name + ", smart client -> actor on B", v, "us",
                           false);
    f.samples = nc;
    if (std::string(name) == "p50") f.cpu_us = per_call(client_cpu_a + client_cpu_b, nc);
    report.add(f);
  }
  figure ratio =
      make_figure(mode, "remote_actor_vs_client_p50", "p50 actor on A -> B / p50 smart client -> B",
                  pc.p50 > 0 ? pa.p50 / pc.p50 : 0, "x", false);
  ratio.target = target_remote_p50_ratio;
  report.add(ratio);
  if (!hosts.stop())
    throw std::runtime_error("a meshd did not stop on SIGTERM within 15 s (killed)");
}

// ---- timers ------------------------------------------------------------------------------

/// services.<name> of the host's stats.
uint64_t service_stat(mesh_load& host, const char* name) {
  const json doc = host.query(control(wire::op::stats));
  return doc.at("stats").at("services").at(name).get<uint64_t>();
}

/// Arms `per_actor` one-shot timers on each of `ids` (Timers actors), `timers_per_call` per
/// call: due in `due_ms`, or at `due_at_ns` when it is not 0. Returns how many calls found
/// `due_at_ns` passed already.
uint64_t arm_timers(mesh_load& host, const std::vector<std::string>& ids, uint64_t per_actor,
                    bool raw, int64_t due_ms, int64_t due_at_ns, milliseconds timeout) {
  std::vector<std::string> to;
  std::vector<std::vector<uint8_t>> payloads;
  for (const std::string& id : ids) {
    for (uint64_t armed = 0; armed < per_actor; armed += timers_per_call) {
      json p = {
          {"op", "arm"}, {"count", std::min(timers_per_call, per_actor - armed)}, {"raw", raw}};
      if (due_at_ns != 0) {
        p["due_at_ns"] = due_at_ns;
      } else {
        p["due_ms"] = due_ms;
      }
      to.push_back(id);
      payloads.push_back(json::to_msgpack(p));
    }
  }
  uint64_t late = 0;
  for (const json& r : call_all(host, "actorbench", "Timers", to, payloads, 200, timeout))
    if (r.value("late", false)) ++late;
  return late;
}

void touch(mesh_load& host, const std::vector<std::string>& ids, milliseconds timeout) {
  const std::vector<std::vector<uint8_t>> payloads(ids.size(), json::to_msgpack({{"op", "touch"}}));
  call_all(host, "actorbench", "Timers", ids, payloads, 500, timeout);
}

void timer_memory(const bench_options& o, bench_report& report) {
  const actor_options& a = o.actors;
  const std::string mode = "actors timers";
  const uint64_t n = a.timer_actors * a.timers_per_actor;
  local_host h(o, "actors-timers");
  const auto raw_ids = numbered("t", a.timer_actors), sdk_ids = numbered("s", a.timer_actors);
  touch(h.client(), raw_ids, o.phase_limit);
  touch(h.client(), sdk_ids, o.phase_limit);
  progress(mode, "memory: " + count_text(a.timer_actors) + " actors x " +
                     count_text(a.timers_per_actor) + " one-hour timers, armed " +
                     std::to_string(timers_per_call) + " per call");
  const uint64_t rss0 = resident_bytes(), heap0 = heap_in_use_bytes();
  const double cpu0 = cpu_seconds();
  auto start = clock::now();
  callgrind_phase_start();
  arm_timers(h.client(), raw_ids, a.timers_per_actor, true, one_hour.count(), 0, o.phase_limit * 4);
  callgrind_phase_end("arm timers (C table)");
  const double arm_s = std::chrono::duration<double>(clock::now() - start).count();
  const double arm_cpu = cpu_seconds() - cpu0;
  const uint64_t rss1 = resident_bytes(), heap1 = heap_in_use_bytes();
  const uint64_t armed_raw = service_stat(h.client(), "timers_armed");
  start = clock::now();
  arm_timers(h.client(), sdk_ids, a.timers_per_actor, false, one_hour.count(), 0,
             o.phase_limit * 4);
  const double sdk_arm_s = std::chrono::duration<double>(clock::now() - start).count();
  const uint64_t rss2 = resident_bytes(), heap2 = heap_in_use_bytes();
  const uint64_t armed_all = service_stat(h.client(), "timers_armed");
  if (armed_raw != n || armed_all != 2 * n)
    throw std::runtime_error("the host reports " + count_text(armed_raw) + " then " +
                             count_text(armed_all) + " timers armed; expected " + count_text(n) +
                             " then " + count_text(2 * n));
  const auto per = [n](uint64_t before, uint64_t after) {
    return (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(n);
  };
  const double host_rss = per(rss0, rss1), host_heap = per(heap0, heap1);
  const double sdk_rss = per(rss1, rss2), sdk_heap = per(heap1, heap2);
  progress(mode, "  host alone (C table): " + fixed(host_rss) + " B RSS, " + fixed(host_heap) +
                     " B heap per timer; armed at " + thousands(double(n) / arm_s) + " /s, " +
                     fixed(arm_cpu * 1e6 / double(n), 3) + " us CPU per timer (" +
                     std::to_string(timers_per_call) + " per call)");
  progress(mode, "  through the SDK (host::after): " + fixed(sdk_rss) + " B RSS, " +
                     fixed(sdk_heap) +
                     " B heap per timer (the SDK's share: " + fixed(sdk_heap - host_heap) +
                     " B heap); armed at " + thousands(double(n) / sdk_arm_s) + " /s");
  const std::string what =
      count_text(n) + " one-hour timers on " + count_text(a.timer_actors) + " actors";
  figure f =
      make_figure(mode, "timer_host_rss_bytes",
                  "RSS per armed timer, host alone (C table), " + what, host_rss, "B", false);
  f.target = target_bytes_per_timer;
  f.samples = n;
  report.add(f);
  f = make_figure(mode, "timer_host_heap_bytes",
                  "heap per armed timer, host alone (C table), " + what, host_heap, "B", false);
  f.target = target_bytes_per_timer;
  f.samples = n;
  report.add(f);
  f = make_figure(mode, "timer_sdk_rss_bytes",
                  "RSS per armed timer, host + SDK (host::after), " + what, sdk_rss, "B", false);
  f.samples = n;
  report.add(f);
  f = make_figure(mode, "timer_sdk_heap_bytes",
                  "heap per armed timer, host + SDK (host::after), " + what, sdk_heap, "B", false);
  f.samples = n;
  report.add(f);
  f = make_figure(mode, "timer_arm_per_s",
                  "timers armed/s, C table, " + std::to_string(timers_per_call) + " per call",
                  double(n) / arm_s, "/s", true);
  f.samples = n;
  f.seconds = arm_s;
  f.cpu_us = arm_cpu * 1e6 / double(n);
  report.add(f);
  h.stop();
}

void timer_firing(const bench_options& o, bench_report& report, bool raw) {
  const actor_options& a = o.actors;
  const std::string mode = "actors timers";
  const std::string how = raw ? "C table" : "SDK";
  const uint64_t n = a.fire_actors * a.fires_per_actor;
  local_host h(o, "actors-fire");
  const auto ids = numbered("f", a.fire_actors);
  touch(h.client(), ids, o.phase_limit);
  progress(mode, "firing (" + how + "): " + count_text(a.fire_actors) + " actors x " +
                     count_text(a.fires_per_actor) + " one-shot timers, all due " +
                     std::to_string(a.fire_lead.count()) + " ms after arming starts");
  const int64_t due_at = now_ns() + a.fire_lead.count() * 1'000'000;
  const uint64_t late = arm_timers(h.client(), ids, a.fires_per_actor, raw, 0, due_at,
                                   a.fire_lead + o.phase_limit * 4);
  const int64_t armed_at = now_ns();
  if (late != 0)
    progress(mode, "  WARNING: " + count_text(late) +
                       " arming calls came after the due time (raise --fire-lead-ms): firings "
                       "overlapped arming");
  else
    progress(mode,
             "  armed in " +
                 fixed(double(armed_at - (due_at - a.fire_lead.count() * 1'000'000)) / 1e6, 0) +
                 " ms; waiting for the due time");
  // Counters from just before the due time to the last firing.
  const int64_t wake = due_at - 20'000'000;
  if (wake > now_ns()) std::this_thread::sleep_for(std::chrono::nanoseconds(wake - now_ns()));
  const double cpu0 = cpu_seconds();
  callgrind_phase_start();
  const auto give_up = clock::now() + a.fire_lead + o.phase_limit;
  uint64_t fired = 0;
  while ((fired = service_stat(h.client(), "timer_firings")) < n && clock::now() < give_up)
    std::this_thread::sleep_for(milliseconds(5));
  callgrind_phase_end(raw ? "timer firings (C table)" : "timer firings (SDK)");
  const double cpu = cpu_seconds() - cpu0;
  if (fired < n)
    throw std::runtime_error("only " + count_text(fired) + " of " + count_text(n) +
                             " timers fired within the phase limit");
  const std::vector<std::vector<uint8_t>> payloads(ids.size(), json::to_msgpack({{"op", "fired"}}));
  int64_t first = INT64_MAX, last = 0;
  uint64_t counted = 0;
  for (const json& r :
       call_all(h.client(), "actorbench", "Timers", ids, payloads, 500, o.phase_limit)) {
    counted += r.at("count").get<uint64_t>();
    first = std::min(first, r.at("first_ns").get<int64_t>());
    last = std::max(last, r.at("last_ns").get<int64_t>());
  }
  if (counted != n)
    throw std::runtime_error("the actors counted " + count_text(counted) + " firings of " +
                             count_text(n));
  // From the due time to the last firing: what a host with that many timers due takes to get
  // through them (the first firing may come late: the host takes every due timer off its heap
  // before it delivers any).
  const double from_due_s = double(last - due_at) / 1e9, span_s = double(last - first) / 1e9;
  const double rate = from_due_s > 0 ? double(n) / from_due_s : 0;
  const double first_ms = double(first - due_at) / 1e6;
  progress(mode, "  " + thousands(rate) + " firings/s from the due time to the last firing (" +
                     fixed(from_due_s * 1e3, 1) + " ms); the first came " + fixed(first_ms, 2) +
                     " ms after the due time, then " +
                     thousands(span_s > 0 ? double(n) / span_s : 0) + " /s; " +
                     fixed(cpu * 1e6 / double(n), 3) + " us CPU per firing");
  const std::string k = raw ? "c_table" : "sdk";
  figure f = make_figure(mode, "timer_firings_per_s_" + k,
                         "firings/s, " + count_text(n) + " one-shot timers due at once (" + how +
                             "), due time to last firing",
                         rate, "/s", true);
  f.samples = n;
  f.seconds = from_due_s;
  f.cpu_us = cpu * 1e6 / double(n);
  report.add(f);
  f = make_figure(mode, "timer_first_firing_delay_ms_" + k,
                  "first of them delivered after the due time (" + how + ")", first_ms, "ms",
                  false);
  f.samples = n;
  report.add(f);
  h.stop();
}

}  // namespace

const std::vector<std::string>& actor_parts() {
  static const std::vector<std::string> parts = {"local", "remote", "timers", "firing"};
  return parts;
}

void run_actors(const bench_options& o, bench_report& report) {
  // The in-process hosts log through spdlog: to stderr, warnings only, so that stdout keeps
  // the summary alone.
  auto logger = spdlog::stderr_color_mt("mesh-bench-actors");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  const actor_options& a = o.actors;
  report.note("actors_workers", o.workers);
  report.note("actors_plugin", (bench_plugin_dir() / "libmesh_bench_actors.so").string());
  if (a.selected("local")) run_local(o, report);
  if (a.selected("remote")) run_remote(o, report);
  if (a.selected("timers")) timer_memory(o, report);
  if (a.selected("firing")) {
    timer_firing(o, report, true);
    timer_firing(o, report, false);
  }
}

}  // namespace mesh::bench
