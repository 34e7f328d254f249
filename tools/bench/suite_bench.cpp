// The suite. One raw ZeroMQ echo child serves the baseline of every workload; one meshd child
// (a cluster of one, so that the smart client learns its view) serves W1-W5 over ZeroMQ; W6
// and each growth step get a fresh meshd so that its RSS delta is theirs alone; W7 starts four
// hosts, W8 is the two-host cluster bench (cluster_bench.cpp). In every paired phase the count
// is split into rounds (--rounds) that alternate with raw echo rounds of the same frame size
// and the same number in flight.
#include "suite_bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "helper_process.hpp"
#include "cluster_bench.hpp"
#include "dealer_load.hpp"
#include "meshd_hosts.hpp"
#include "paired_rounds.hpp"
#include "runtime_load.hpp"

namespace mesh::bench {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The targets.
constexpr double target_inproc_calls_per_s = 1'000'000;
constexpr double target_inproc_activations_per_s = 500'000;
constexpr double target_bytes_per_actor = 1024;
constexpr double target_pipelined_ratio = 0.5;
constexpr double target_sequential_p50_ratio = 1.3;

std::string fixed(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string count_text(uint64_t n) { return thousands(static_cast<double>(n)); }

std::vector<uint8_t> msgpack_of(const nlohmann::json& value) {
  return nlohmann::json::to_msgpack(value);
}

wire::bytes_view view(const std::vector<uint8_t>& bytes) { return {bytes.data(), bytes.size()}; }

/// The payloads the suite sends: cheap calls of the example modules.
struct payloads {
  std::vector<uint8_t> incr = msgpack_of({{"op", "incr"}, {"by", 1}});
  std::vector<uint8_t> echo = msgpack_of({{"seq", 1}, {"data", "0123456789abcdef"}});
  std::vector<uint8_t> move = msgpack_of({{"action", "move"}, {"x", 1}, {"y", 2}});
  std::vector<uint8_t> balance = msgpack_of({{"action", "balance"}});
};

/// A single meshd (a cluster of one) and a smart client on it.
struct single_host {
  single_host(const bench_options& o, const std::filesystem::path& dir, const std::string& name,
              const std::string& capabilities)
      : cluster(o, dir) {
    cluster.add(name, capabilities);
    client = std::make_unique<mesh_load>(
        std::vector<std::string>{cluster.hosts().front()->endpoint()}, true, o);
  }
  ~single_host() {
    try {
      stop();
    } catch (...) {  // already killed; the error was reported when stop() was called directly
    }
  }
  int pid() const { return cluster.hosts().front()->pid(); }
  void stop() {
    client.reset();
    if (!stopped && !cluster.stop()) {
      stopped = true;
      throw std::runtime_error("a meshd did not stop on SIGTERM within 15 s (killed)");
    }
    stopped = true;
  }

  meshd_cluster cluster;
  std::unique_ptr<mesh_load> client;
  bool stopped = false;
};

/// What every workload needs: options, the report, the raw echo, the loaded plugins.
class suite {
 public:
  suite(const bench_options& o, const std::string& self, bench_report& report)
      : o_(o),
        s_(o.suite),
        report_(report),
        dir_(),
        echo_({self, "raw-echo", "--listen", "tcp://127.0.0.1:*", "--ready-file",
               (dir_.path() / "echo.ready").string()},
              helper_options(dir_.path() / "echo.ready", dir_.path() / "echo.log",
                             milliseconds(15'000))),
        raw_(context_, echo_.endpoint(), o),
        run_("u" + std::to_string(::getpid()) + "-" +
             std::to_string(clock::now().time_since_epoch().count() % 1'000'000) + "-") {
    progress("suite", "started raw ZeroMQ echo (pid " + std::to_string(echo_.pid()) + ") on " +
                          echo_.endpoint());
    plugins_ = {load_example_plugin("libmesh_counter.so"), load_example_plugin("libmesh_echo.so"),
                load_example_plugin("libmesh_examples.so")};
    raw_.pipeline(64, 50, 1'000, o.phase_limit);  // connection up, echo warm
  }

  void run(const std::string& self) {
    if (s_.selected("W1")) w1();
    if (s_.selected("W2")) w2();
    if (s_.selected("W3")) w3();
    if (s_.selected("W4")) w4();
    if (s_.selected("W5")) w5();
    if (one_) one_->stop();
    one_.reset();
    if (s_.selected("W6")) w6();
    if (s_.selected("W7")) w7();
    if (s_.selected("W8")) {
      progress("W8", "two hosts: the cluster bench (forwarded and smart-client-direct)");
      run_cluster(o_, self, report_, "W8 zmq");
    }
    if (s_.selected("growth")) growth();
    echo_.stop(milliseconds(5'000));
  }

 private:
  // ---- shared pieces --------------------------------------------------------------------

  /// A fresh in-process host (runtime + module table) over the loaded plugins, warmed up: both
  /// workers, the plugins' thread-local scratch and the allocator arenas, so that a memory
  /// baseline taken after it holds everything but the actors measured.
  std::unique_ptr<runtime_load> fresh_runtime() {
    auto h = std::make_unique<runtime_load>(plugins_, o_);
    const auto warm = make_ids(run_ + "warm-", 2'000);
    h->pipeline(h->module("bench", "Echo"), warm, view(p_.echo), 500, warm.size(), o_.phase_limit);
    h->pipeline(h->module("counter", "Counter"), warm, view(p_.incr), 500, warm.size(),
                o_.phase_limit);
    return h;
  }

  /// The shared single host of W1-W5 over ZeroMQ, started on first use and warmed up.
  single_host& one_host() {
    if (!one_) {
      one_ = std::make_unique<single_host>(o_, dir_.path(), "suite-one",
                                           "counter,bench,game,payment");
      progress("suite", "started meshd (pid " + std::to_string(one_->pid()) + ", " +
                            std::to_string(o_.workers) + " workers) on " +
                            one_->cluster.hosts().front()->endpoint());
      warm_client(*one_->client);
    }
    return *one_;
  }

  void warm_client(mesh_load& client) {
    const std::vector<std::string> warm = {run_ + "warm"};
    calls e("bench", "Echo", warm, p_.echo), c("counter", "Counter", warm, p_.incr);
    client.pipeline(e, 50, 1'000, o_.phase_limit);
    client.pipeline(c, 50, 1'000, o_.phase_limit);
  }

  /// Raw echo rounds for a pipelined Mesh phase.
  auto raw_pipeline(size_t frame, size_t inflight, milliseconds limit) {
    return [this, frame, inflight, limit](uint64_t n) {
      return raw_.pipeline(frame, inflight, n, limit);
    };
  }

  /// In-process rounds that each call the next `n` of `ids` once: activations when the ids are
  /// new.
  auto inproc_once(runtime_load& h, std::span<const runtime_target> targets,
                   std::span<const std::string> ids, size_t inflight, milliseconds limit) {
    return [&h, targets, ids, inflight, limit, offset = uint64_t{0}](uint64_t n) mutable {
      n = std::min<uint64_t>(n, ids.size() - offset);
      const auto r = h.pipeline(targets, ids.subspan(offset, n), inflight, n, limit);
      offset += n;
      return r;
    };
  }

  /// The same over ZeroMQ through `client`.
  auto zmq_once(mesh_load& client, const std::vector<call_target>& targets,
                std::span<const std::string> ids, size_t inflight, milliseconds limit) {
    return [&client, &targets, ids, inflight, limit, offset = uint64_t{0}](uint64_t n) mutable {
      n = std::min<uint64_t>(n, ids.size() - offset);
      calls c(targets, ids.subspan(offset, n));
      const auto r = client.pipeline(c, inflight, n, limit);
      offset += n;
      return r;
    };
  }

  milliseconds round_limit(milliseconds phase) const {
    return phase / std::max<uint64_t>(1, o_.cluster_rounds);
  }

  /// Adds a rate figure from a paired phase, and prints it.
  void add_rate(const std::string& mode, const std::string& key, const std::string& label,
                const paired<run_result>& p, std::optional<double> target,
                std::optional<double> target_ratio, uint64_t expected) {
    std::string line = "  " + thousands(p.mesh.rate()) + " /s; raw echo " +
                       thousands(p.raw.rate()) + " msgs/s";
    if (p.raw.rate() > 0) line += " (ratio " + fixed(p.mesh.rate() / p.raw.rate(), 2) + ")";
    if (p.cpu_us) line += "; serving CPU " + fixed(*p.cpu_us, 2) + " us/op";
    if (p.client_cpu_us)
      line += ", client CPU " + fixed(*p.client_cpu_us, 2) + " (raw " +
              fixed(*p.raw_client_cpu_us, 2) + ")";
    progress(mode, line);
    if (p.mesh.completed < expected)
      progress(mode, "  stopped by the phase limit after " + count_text(p.mesh.completed) +
                         " of " + count_text(expected));
    report_.add({mode, key, label, p.mesh.rate(), "/s", true, p.raw.rate(), target,
                 p.mesh.completed, p.mesh.seconds, p.cpu_us, p.raw_cpu_us, p.client_cpu_us,
                 p.raw_client_cpu_us, target_ratio});
  }

  /// Adds p50/p95/p99 figures from a paired sequential phase, and prints them.
  void add_latency(const std::string& mode, const std::string& key, const std::string& what,
                   paired<std::vector<int64_t>>& p, std::optional<double> p50_target_ratio) {
    const uint64_t samples = p.mesh.size();
    const percentiles mp = percentiles_of(p.mesh), bp = percentiles_of(p.raw);
    progress(mode, "  p50 " + fixed(mp.p50) + " us (raw " + fixed(bp.p50) + "), p95 " +
                       fixed(mp.p95) + " (raw " + fixed(bp.p95) + "), p99 " + fixed(mp.p99) +
                       " (raw " + fixed(bp.p99) + ")");
    report_.add({mode, key + "_p50_us", "latency p50, " + what, mp.p50, "us", false, bp.p50,
                 std::nullopt, samples, 0, p.cpu_us, p.raw_cpu_us, p.client_cpu_us,
                 p.raw_client_cpu_us, p50_target_ratio});
    report_.add({mode, key + "_p95_us", "latency p95, " + what, mp.p95, "us", false, bp.p95,
                 std::nullopt, samples, 0});
    report_.add({mode, key + "_p99_us", "latency p99, " + what, mp.p99, "us", false, bp.p99,
                 std::nullopt, samples, 0});
  }

  /// Activates ids (new) on `targets`, in-process and over ZeroMQ, each paired with the echo.
  void activations(const std::string& w, const std::string& what, const std::string& prefix,
                   uint64_t count, size_t inflight,
                   const std::vector<std::pair<std::string, std::string>>& modules,
                   const std::vector<const std::vector<uint8_t>*>& bodies,
                   std::optional<double> inproc_target) {
    const std::string label = "activations/s, " + count_text(count) + " new " + what + ", " +
                              std::to_string(inflight) + " in flight";
    std::vector<call_target> zt;
    for (size_t i = 0; i < modules.size(); ++i)
      zt.push_back({modules[i].first, modules[i].second, *bodies[i]});
    {
      auto h = fresh_runtime();
      std::vector<runtime_target> rt;
      for (size_t i = 0; i < modules.size(); ++i)
        rt.push_back({&h->module(modules[i].first, modules[i].second), view(*bodies[i])});
      const auto ids = make_ids(run_ + prefix + "i-", count);
      const size_t frame = calls(zt, ids).frame_size();
      const std::string mode = w + " in-proc";
      progress(mode, label + " (" + std::to_string(frame) + " B frames for the echo)");
      const auto p = measure_pair({0}, echo_.pid(), count, o_.cluster_rounds,
                                  inproc_once(*h, rt, ids, inflight, round_limit(o_.phase_limit)),
                                  raw_pipeline(frame, inflight, round_limit(o_.phase_limit)));
      add_rate(mode, key(w, "inproc_activations_per_s"), label, p, inproc_target, std::nullopt,
               count);
    }
    single_host& one = one_host();
    const auto ids = make_ids(run_ + prefix + "z-", count);
    const size_t frame = calls(zt, ids).frame_size();
    const std::string mode = w + " zmq";
    progress(mode, label + " (smart client -> meshd)");
    const auto p = measure_pair({one.pid()}, echo_.pid(), count, o_.cluster_rounds,
                                zmq_once(*one.client, zt, ids, inflight, round_limit(o_.phase_limit)),
                                raw_pipeline(frame, inflight, round_limit(o_.phase_limit)));
    add_rate(mode, key(w, "zmq_activations_per_s"), label, p, std::nullopt, std::nullopt, count);
  }

  /// Calls round-robin over `actors` existing actors of one module, in-process and over
  /// ZeroMQ, each paired with the echo. The actors are activated first, not timed.
  void existing_calls(const std::string& w, const std::string& capability,
                      const std::string& module, const std::vector<uint8_t>& body,
                      uint64_t actors, uint64_t count, size_t inflight, const std::string& label,
                      std::optional<double> inproc_target) {
    const auto ids = make_ids(run_ + w + "-", actors);
    calls z(capability, module, ids, body);
    const size_t frame = z.frame_size();
    const milliseconds limit = round_limit(o_.phase_limit);
    {
      auto h = fresh_runtime();
      host::actor_module& m = h->module(capability, module);
      h->pipeline(m, ids, view(body), inflight, ids.size(), o_.phase_limit);
      const std::string mode = w + " in-proc";
      progress(mode, label);
      const auto p = measure_pair(
          {0}, echo_.pid(), count, o_.cluster_rounds,
          [&](uint64_t n) { return h->pipeline(m, ids, view(body), inflight, n, limit); },
          raw_pipeline(frame, inflight, limit));
      add_rate(mode, key(w, "inproc_calls_per_s"), label, p, inproc_target, std::nullopt, count);
    }
    single_host& one = one_host();
    one.client->pipeline(z, inflight, ids.size(), o_.phase_limit);
    const std::string mode = w + " zmq";
    progress(mode, label + " (smart client -> meshd)");
    const auto p = measure_pair(
        {one.pid()}, echo_.pid(), count, o_.cluster_rounds,
        [&](uint64_t n) { return one.client->pipeline(z, inflight, n, limit); },
        raw_pipeline(frame, inflight, limit));
    add_rate(mode, key(w, "zmq_calls_per_s"), label, p, std::nullopt, target_pipelined_ratio,
             count);
  }

  static std::string key(const std::string& w, const std::string& what) {
    std::string k = w;
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
    return k + "_" + what;
  }

  // ---- the workloads ----------------------------------------------------------------------

  void w1() {
    activations("W1", "Counter actors", "w1", s_.w1_actors, s_.w1_inflight,
                {{"counter", "Counter"}}, {&p_.incr}, target_inproc_activations_per_s);
  }

  void w2() {
    existing_calls("W2", "bench", "Echo", p_.echo, 1, s_.w2_calls, s_.w2_inflight,
                   "calls/s, " + count_text(s_.w2_calls) + " calls to one hot Echo actor, " +
                       std::to_string(s_.w2_inflight) + " in flight",
                   std::nullopt);
  }

  void w3() {
    activations("W3", "actors over 3 capabilities (Counter, Echo, GameActor)", "w3",
                s_.w3_actors, s_.w3_inflight,
                {{"counter", "Counter"}, {"bench", "Echo"}, {"game", "GameActor"}},
                {&p_.incr, &p_.echo, &p_.move}, std::nullopt);
  }

  void w4() {
    existing_calls("W4", "counter", "Counter", p_.incr, s_.w4_actors, s_.w4_calls,
                   s_.w4_inflight,
                   "calls/s, " + count_text(s_.w4_calls) + " calls over " +
                       count_text(s_.w4_actors) + " Counter actors, " +
                       std::to_string(s_.w4_inflight) + " in flight",
                   target_inproc_calls_per_s);
  }

  void w5() {
    const std::vector<std::string> one_id = {run_ + "w5"};
    calls z("counter", "Counter", one_id, p_.incr);
    const size_t frame = z.frame_size();
    const milliseconds limit = round_limit(o_.phase_limit);
    const std::string what = "sequential calls to one warm Counter actor";
    {
      auto h = fresh_runtime();
      host::actor_module& m = h->module("counter", "Counter");
      h->sequential(m, one_id, view(p_.incr), 10, limit);
      const std::string mode = "W5 in-proc";
      progress(mode, count_text(s_.w5_calls) + " " + what);
      auto p = measure_pair(
          {0}, echo_.pid(), s_.w5_calls, o_.cluster_rounds,
          [&](uint64_t n) { return h->sequential(m, one_id, view(p_.incr), n, limit); },
          [&](uint64_t n) { return raw_.sequential(frame, n, limit); });
      add_latency(mode, "w5_inproc_latency", what, p, std::nullopt);
    }
    single_host& one = one_host();
    one.client->sequential(z, 10, limit);
    const std::string mode = "W5 zmq";
    progress(mode, count_text(s_.w5_calls) + " " + what + " (smart client -> meshd)");
    auto p = measure_pair(
        {one.pid()}, echo_.pid(), s_.w5_calls, o_.cluster_rounds,
        [&](uint64_t n) { return one.client->sequential(z, n, limit); },
        [&](uint64_t n) { return raw_.sequential(frame, n, limit); });
    add_latency(mode, "w5_zmq_latency", what, p, target_sequential_p50_ratio);
  }

  void w6() {
    const uint64_t n = s_.w6_actors;
    const std::string what = "with " + count_text(n) + " live idle Counter actors";
    {
      auto h = fresh_runtime();
      const auto ids = make_ids(run_ + "w6i-", n);
      const std::string mode = "W6 in-proc";
      progress(mode, "memory per actor " + what);
      const uint64_t rss_before = resident_bytes(), heap_before = heap_in_use_bytes();
      const auto r = h->pipeline(h->module("counter", "Counter"), ids, view(p_.incr), 500, n,
                                 o_.phase_limit);
      const uint64_t rss_after = resident_bytes(), heap_after = heap_in_use_bytes();
      const double k = static_cast<double>(std::max<uint64_t>(1, r.completed));
      const double rss = (static_cast<double>(rss_after) - static_cast<double>(rss_before)) / k;
      const double heap =
          (static_cast<double>(heap_after) - static_cast<double>(heap_before)) / k;
      progress(mode, "  " + thousands(heap) + " B heap, " + thousands(rss) + " B RSS per actor (" +
                         count_text(h->runtime().live_actors()) + " live)");
      report_.add({mode, "w6_inproc_heap_per_actor_bytes", "runtime heap per idle actor " + what,
                   heap, "B", false, std::nullopt, target_bytes_per_actor, r.completed, 0});
      report_.add({mode, "w6_inproc_rss_per_actor_bytes", "RSS per idle actor " + what, rss, "B",
                   false, std::nullopt, target_bytes_per_actor, r.completed, 0});
    }
    single_host fresh(o_, dir_.path(), "suite-w6", "counter,bench");
    warm_client(*fresh.client);
    const auto ids = make_ids(run_ + "w6z-", n);
    calls z("counter", "Counter", ids, p_.incr);
    const std::string mode = "W6 zmq";
    progress(mode, "meshd memory per actor " + what + " (a fresh meshd, pid " +
                       std::to_string(fresh.pid()) + ")");
    const uint64_t before = resident_bytes(fresh.pid());
    const auto r = fresh.client->pipeline(z, 500, n, o_.phase_limit);
    const uint64_t after = resident_bytes(fresh.pid());
    const double per = (static_cast<double>(after) - static_cast<double>(before)) /
                       static_cast<double>(std::max<uint64_t>(1, r.completed));
    progress(mode, "  " + thousands(per) + " B meshd RSS per actor");
    report_.add({mode, "w6_zmq_meshd_rss_per_actor_bytes", "meshd RSS per idle actor " + what,
                 per, "B", false, std::nullopt, std::nullopt, r.completed, 0});
    fresh.stop();
  }

  void w7() {
    const std::string mode = "W7 zmq";
    meshd_cluster hosts(o_, dir_.path());
    const std::vector<std::pair<std::string, std::string>> roles = {
        {"w7-counter", "counter"}, {"w7-echo", "bench"}, {"w7-game", "game"},
        {"w7-payment", "payment"}};
    const auto converge_start = clock::now();
    for (const auto& [name, capability] : roles) hosts.add(name, capability);
    progress(mode, "4 meshd children (one capability each) converged after " +
                       fixed(std::chrono::duration<double, std::milli>(clock::now() -
                                                                       converge_start)
                                 .count(),
                             0) +
                       " ms");
    mesh_load smart({hosts.hosts().front()->endpoint()}, true, o_);
    const std::vector<call_target> targets = {{"counter", "Counter", p_.incr},
                                              {"bench", "Echo", p_.echo},
                                              {"game", "GameActor", p_.move},
                                              {"payment", "PaymentActor", p_.balance}};
    const auto ids = make_ids(run_ + "w7-", s_.w7_actors);
    const size_t frame = calls(targets, ids).frame_size();
    const milliseconds limit = round_limit(o_.phase_limit);
    const std::string act_label = "activations/s, " + count_text(s_.w7_actors) +
                                  " actors over 4 hosts, " + std::to_string(s_.w7_inflight) +
                                  " in flight";
    progress(mode, act_label + " (smart client -> owner)");
    const auto a = measure_pair(hosts.pids(), echo_.pid(), ids.size(), o_.cluster_rounds,
                                zmq_once(smart, targets, ids, s_.w7_inflight, limit),
                                raw_pipeline(frame, s_.w7_inflight, limit));
    add_rate(mode, "w7_zmq_activations_per_s", act_label, a, std::nullopt, std::nullopt,
             ids.size());

    calls c(targets, ids);
    const std::string label = "calls/s, " + count_text(s_.w7_calls) + " calls over " +
                              count_text(s_.w7_actors) + " actors on 4 hosts, " +
                              std::to_string(s_.w7_inflight) + " in flight";
    progress(mode, label);
    const auto p = measure_pair(
        hosts.pids(), echo_.pid(), s_.w7_calls, o_.cluster_rounds,
        [&](uint64_t n) { return smart.pipeline(c, s_.w7_inflight, n, limit); },
        raw_pipeline(frame, s_.w7_inflight, limit));
    add_rate(mode, "w7_zmq_calls_per_s", label, p, std::nullopt, std::nullopt, s_.w7_calls);
    const auto& st = smart.client().stats();
    progress(mode, "  " + std::to_string(st.direct) + " sent straight to the owner, " +
                       std::to_string(st.via_any) + " through a host; serving CPU per host " +
                       p.cpu_detail);
    if (!hosts.stop()) throw std::runtime_error("a W7 meshd did not stop within 15 s (killed)");
  }

  void growth() {
    std::mt19937_64 rng(42);
    for (uint64_t n : s_.growth_actors) {
      const uint64_t count = std::max(s_.growth_calls, n);
      const std::string size = count_text(n) + " live actors";
      const milliseconds limit = s_.growth_limit;
      auto ids = make_ids(run_ + "g" + std::to_string(n) + "i-", n);
      calls z("counter", "Counter", ids, p_.incr);
      const size_t frame = z.frame_size();
      {
        const std::string mode = "growth in-proc";
        auto h = fresh_runtime();
        host::actor_module& m = h->module("counter", "Counter");
        progress(mode, size + ": activating (500 in flight)");
        const uint64_t rss_before = resident_bytes(), heap_before = heap_in_use_bytes();
        const auto act = h->pipeline(m, ids, view(p_.incr), 500, n, limit);
        const uint64_t rss_after = resident_bytes(), heap_after = heap_in_use_bytes();
        const double k = static_cast<double>(std::max<uint64_t>(1, act.completed));
        const double heap =
            (static_cast<double>(heap_after) - static_cast<double>(heap_before)) / k;
        const double rss = (static_cast<double>(rss_after) - static_cast<double>(rss_before)) / k;
        progress(mode, "  activated " + count_text(act.completed) + " in " +
                           fixed(act.seconds, 2) + " s (" + thousands(act.rate()) + " /s); " +
                           thousands(heap) + " B heap, " + thousands(rss) + " B RSS per actor");
        report_.add({mode, "growth_inproc_activation_seconds_" + std::to_string(n),
                     "time to activate " + size, act.seconds, "s", false, std::nullopt,
                     std::nullopt, act.completed, act.seconds, act.cpu_us()});
        report_.add({mode, "growth_inproc_heap_per_actor_bytes_" + std::to_string(n),
                     "runtime heap per idle actor, " + size, heap, "B", false, std::nullopt,
                     target_bytes_per_actor, act.completed, 0});
        report_.add({mode, "growth_inproc_rss_per_actor_bytes_" + std::to_string(n),
                     "RSS per idle actor, " + size, rss, "B", false, std::nullopt,
                     std::nullopt, act.completed, 0});
        // Calls in an order unrelated to activation order, as a real workload's would be.
        std::shuffle(ids.begin(), ids.end(), rng);
        const std::string label = "calls/s over " + size + ", " + std::to_string(s_.growth_inflight) +
                                  " in flight";
        progress(mode, label + " (" + count_text(count) + " calls)");
        const auto p = measure_pair(
            {0}, echo_.pid(), count, o_.cluster_rounds,
            [&](uint64_t k2) {
              return h->pipeline(m, ids, view(p_.incr), s_.growth_inflight, k2,
                                 round_limit(limit));
            },
            raw_pipeline(frame, s_.growth_inflight, round_limit(limit)));
        add_rate(mode, "growth_inproc_calls_per_s_" + std::to_string(n), label, p, std::nullopt,
                 std::nullopt, count);
      }
      {
        const std::string mode = "growth zmq";
        single_host fresh(o_, dir_.path(), "suite-g" + std::to_string(n), "counter,bench");
        warm_client(*fresh.client);
        progress(mode, size + ": activating through a fresh meshd (pid " +
                           std::to_string(fresh.pid()) + "), 500 in flight");
        auto zids = make_ids(run_ + "g" + std::to_string(n) + "z-", n);
        calls za("counter", "Counter", zids, p_.incr);
        const uint64_t before = resident_bytes(fresh.pid());
        const auto act = fresh.client->pipeline(za, 500, n, limit);
        const uint64_t after = resident_bytes(fresh.pid());
        const double per = (static_cast<double>(after) - static_cast<double>(before)) /
                           static_cast<double>(std::max<uint64_t>(1, act.completed));
        progress(mode, "  activated " + count_text(act.completed) + " in " +
                           fixed(act.seconds, 2) + " s (" + thousands(act.rate()) + " /s); " +
                           thousands(per) + " B meshd RSS per actor");
        report_.add({mode, "growth_zmq_activation_seconds_" + std::to_string(n),
                     "time to activate " + size, act.seconds, "s", false, std::nullopt,
                     std::nullopt, act.completed, act.seconds});
        report_.add({mode, "growth_zmq_meshd_rss_per_actor_bytes_" + std::to_string(n),
                     "meshd RSS per idle actor, " + size, per, "B", false, std::nullopt,
                     std::nullopt, act.completed, 0});
        std::shuffle(zids.begin(), zids.end(), rng);
        calls zc("counter", "Counter", zids, p_.incr);
        const std::string label = "calls/s over " + size + ", " + std::to_string(s_.growth_inflight) +
                                  " in flight";
        progress(mode, label + " (" + count_text(count) + " calls)");
        const auto p = measure_pair(
            {fresh.pid()}, echo_.pid(), count, o_.cluster_rounds,
            [&](uint64_t k2) {
              return fresh.client->pipeline(zc, s_.growth_inflight, k2, round_limit(limit));
            },
            raw_pipeline(frame, s_.growth_inflight, round_limit(limit)));
        add_rate(mode, "growth_zmq_calls_per_s_" + std::to_string(n), label, p, std::nullopt,
                 std::nullopt, count);
        fresh.stop();
      }
    }
  }

  const bench_options& o_;
  const suite_options& s_;
  bench_report& report_;
  temp_dir dir_;
  child_process echo_;
  zmq::context_t context_{1};
  dealer raw_;
  std::string run_;
  payloads p_;
  std::vector<std::shared_ptr<host::loaded_plugin>> plugins_;
  std::unique_ptr<single_host> one_;
};

}  // namespace

const std::vector<std::string>& suite_workloads() {
  static const std::vector<std::string> names = {"W1", "W2", "W3", "W4", "W5",
                                                 "W6", "W7", "W8", "growth"};
  return names;
}

void run_suite(const bench_options& o, const std::string& self, bench_report& report) {
  const suite_options& s = o.suite;
  report.note("suite_workers", std::to_string(o.workers) +
                                   " (runtime workers in-process; meshd --workers over ZeroMQ)");
  report.note("suite_rounds", o.cluster_rounds);
  report.note("suite_sizes",
              "W1 " + count_text(s.w1_actors) + ", W2 " + count_text(s.w2_calls) + ", W3 " +
                  count_text(s.w3_actors) + ", W4 " + count_text(s.w4_calls) + "/" +
                  count_text(s.w4_actors) + ", W5 " + count_text(s.w5_calls) + ", W6 " +
                  count_text(s.w6_actors) + ", W7 " + count_text(s.w7_actors) + "/" +
                  count_text(s.w7_calls));
  suite run(o, self, report);
  run.run(self);
}

}  // namespace mesh::bench
