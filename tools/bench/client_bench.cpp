// One mesh::client keeps N calls in flight from one thread: it sends N, then one more for each
// reply it takes. The raw baseline sends frames of the same size as the Mesh requests to a ROUTER that
// echoes them, with the same number in flight, right after each Mesh phase: the machine is
// shared, so the ratio mesh/raw says more than either number alone.
#include "client_bench.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "helper_process.hpp"
#include "dealer_load.hpp"
#include "runtime_load.hpp"
#include <mesh/security/curve_keys.hpp>

namespace mesh::bench {
namespace {

using clock = std::chrono::steady_clock;

uint64_t ops_of(const run_result& r) { return r.completed; }
uint64_t ops_of(const std::vector<int64_t>& samples) { return samples.size(); }

/// CPU microseconds process `pid` spent per operation while `run` did `ops()` of them; nullopt
/// when the process is not ours to watch (pid 0).
template <class Run>
auto measured(int pid, Run&& run, std::optional<double>& cpu_us_per_op) {
  const double before = pid != 0 ? cpu_seconds(pid) : 0;
  auto result = run();
  if (pid != 0) {
    const double ops = static_cast<double>(ops_of(result));
    if (ops > 0) cpu_us_per_op = (cpu_seconds(pid) - before) * 1e6 / ops;
  }
  return result;
}

std::string fixed(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string cpu_text(const std::optional<double>& cpu, const std::optional<double>& raw_cpu) {
  if (!cpu || !raw_cpu) return "";
  return "; server CPU " + fixed(*cpu, 2) + " us/op (raw " + fixed(*raw_cpu, 2) + ")";
}

}  // namespace

void run_client(const bench_options& options, const std::string& self, bench_report& report) {
  const std::string mode = "client";
  temp_dir dir;
  const auto start_timeout = std::chrono::milliseconds(15'000);

  bench_options o = options;
  std::vector<std::string> meshd_argv = {MESHD_PATH, "--listen", "tcp://127.0.0.1:*",
                                         "--plugins", MESH_EXAMPLE_PLUGIN_DIR, "--ready-file",
                                         (dir.path() / "meshd.ready").string(), "--workers",
                                         std::to_string(o.workers), "--log-level", "warn"};
  if (o.curve) {
    if (!o.connect.empty()) throw std::invalid_argument("--curve starts its own meshd: no --connect");
    const auto cluster = security::generate_key_pair(), bench = security::generate_key_pair();
    security::write_key_pair(dir.path() / "cluster.key", cluster);
    security::write_key_pair(dir.path() / "bench.key", bench);
    meshd_argv.insert(meshd_argv.end(), {"--curve-secret", (dir.path() / "cluster.key").string(),
                                         "--authorized-keys", (dir.path() / "bench.key.pub").string()});
    o.curve_server_key = cluster.public_key;
    o.curve_public_key = bench.public_key;
    o.curve_secret_key = bench.secret_key;
    report.note("client_curve", "on: CURVE with a ZAP allow-list (the raw echo stays plain)");
  }
  std::optional<child_process> meshd;
  std::string endpoint = o.connect;
  if (endpoint.empty()) {
    meshd.emplace(meshd_argv, helper_options(dir.path() / "meshd.ready", dir.path() / "meshd.log",
                                             start_timeout));
    endpoint = meshd->endpoint();
    progress(mode, "started meshd (pid " + std::to_string(meshd->pid()) + ", " +
                       std::to_string(o.workers) + " workers) on " + endpoint);
    report.note("client_host", "meshd child, " + std::to_string(o.workers) + " workers");
  } else {
    report.note("client_host", endpoint + " (workers as configured there)");
  }
  child_process echo(
      {self, "raw-echo", "--listen", "tcp://127.0.0.1:*", "--ready-file",
       (dir.path() / "echo.ready").string()},
      helper_options(dir.path() / "echo.ready", dir.path() / "echo.log", start_timeout));
  progress(mode, "started raw ZeroMQ echo (pid " + std::to_string(echo.pid()) + ") on " +
                     echo.endpoint());

  const int host_pid = meshd ? meshd->pid() : 0;
  zmq::context_t context(1);
  mesh_load host({endpoint}, false, o);
  dealer raw(context, echo.endpoint(), o);

  const auto incr = nlohmann::json::to_msgpack({{"op", "incr"}, {"by", 1}});
  const auto echo_payload =
      nlohmann::json::to_msgpack({{"seq", 1}, {"data", "0123456789abcdef"}});
  // Fresh ids on every run, so that a long-running host really activates new actors.
  const std::string run = "r" + std::to_string(::getpid()) + "-" +
                          std::to_string(clock::now().time_since_epoch().count() % 1'000'000) +
                          "-";

  // Warm-up: connections established, both plugins' first calls done.
  {
    const std::vector<std::string> warm = {run + "warm"};
    calls e("bench", "Echo", warm, echo_payload), c("counter", "Counter", warm, incr);
    host.pipeline(e, 50, 1'000, o.phase_limit);
    host.pipeline(c, 50, 1'000, o.phase_limit);
    raw.pipeline(e.frame_size(), 50, 1'000, o.phase_limit);
  }

  // (a) activations, and meshd's memory per idle actor when it is our child.
  {
    const auto ids = make_ids(run + "act-", o.activations);
    calls t("counter", "Counter", ids, incr);
    const size_t r = t.frame_size();
    const uint64_t rss_before = meshd ? resident_bytes(meshd->pid()) : 0;
    progress(mode, "activations: " + thousands(static_cast<double>(ids.size())) +
                       " new Counter actors, " + std::to_string(o.activation_inflight) +
                       " in flight");
    std::optional<double> cpu, raw_cpu;
    const run_result m = measured(
        host_pid, [&] { return host.pipeline(t, o.activation_inflight, ids.size(), o.phase_limit); },
        cpu);
    const uint64_t rss_after = meshd ? resident_bytes(meshd->pid()) : 0;
    const run_result b = measured(
        echo.pid(), [&] { return raw.pipeline(r, o.activation_inflight, UINT64_MAX, o.duration); },
        raw_cpu);
    progress(mode, "  " + thousands(m.rate()) + " activations/s; raw echo " +
                       thousands(b.rate()) + " msgs/s" + cpu_text(cpu, raw_cpu));
    report.add({mode, "activations_per_s",
                "activations/s (new Counter, " + std::to_string(o.activation_inflight) +
                    " in flight)",
                m.rate(), "/s", true, b.rate(), std::nullopt, m.completed, m.seconds, cpu, raw_cpu});
    if (meshd) {
      const double per = (static_cast<double>(rss_after) - static_cast<double>(rss_before)) /
                         static_cast<double>(m.completed);
      progress(mode, "  meshd RSS per idle actor: " + thousands(per) + " B");
      report.add({mode, "meshd_rss_per_idle_actor_bytes", "meshd RSS per idle actor (Counter)",
                  per, "B", false, std::nullopt, std::nullopt, m.completed, 0});
    }
  }

  // (b) one hot actor.
  {
    const std::vector<std::string> hot = {run + "hot"};
    calls t("bench", "Echo", hot, echo_payload);
    const size_t r = t.frame_size();
    progress(mode, "hot actor: Echo, " + std::to_string(o.hot_inflight) + " in flight, " +
                       std::to_string(o.duration.count()) + " ms");
    std::optional<double> cpu, raw_cpu;
    const run_result m = measured(
        host_pid, [&] { return host.pipeline(t, o.hot_inflight, UINT64_MAX, o.duration); }, cpu);
    const run_result b = measured(
        echo.pid(), [&] { return raw.pipeline(r, o.hot_inflight, UINT64_MAX, o.duration); },
        raw_cpu);
    progress(mode, "  " + thousands(m.rate()) + " calls/s; raw echo " + thousands(b.rate()) +
                       " msgs/s" + cpu_text(cpu, raw_cpu));
    report.add({mode, "calls_hot_per_s",
                "calls/s, one hot Echo actor, " + std::to_string(o.hot_inflight) + " in flight",
                m.rate(), "/s", true, b.rate(), std::nullopt, m.completed, m.seconds, cpu,
                raw_cpu});
  }

  // (c) calls spread over existing actors, and (d) sequential latency.
  {
    const auto ids = make_ids(run + "spread-", o.spread_actors);
    calls t("counter", "Counter", ids, incr);
    const size_t r = t.frame_size();
    host.pipeline(t, o.spread_inflight, ids.size(), o.phase_limit);  // activate them
    progress(mode, "spread: " + thousands(static_cast<double>(ids.size())) +
                       " existing Counter actors, " + std::to_string(o.spread_inflight) +
                       " in flight, " + std::to_string(o.duration.count()) + " ms");
    std::optional<double> cpu, raw_cpu;
    const run_result m = measured(
        host_pid, [&] { return host.pipeline(t, o.spread_inflight, UINT64_MAX, o.duration); },
        cpu);
    const run_result b = measured(
        echo.pid(), [&] { return raw.pipeline(r, o.spread_inflight, UINT64_MAX, o.duration); },
        raw_cpu);
    progress(mode, "  " + thousands(m.rate()) + " calls/s; raw echo " + thousands(b.rate()) +
                       " msgs/s" + cpu_text(cpu, raw_cpu));
    report.add({mode, "calls_spread_per_s",
                "calls/s, " + thousands(static_cast<double>(ids.size())) +
                    " Counter actors, " + std::to_string(o.spread_inflight) + " in flight",
                m.rate(), "/s", true, b.rate(), std::nullopt, m.completed, m.seconds, cpu,
                raw_cpu});

    const std::span<const std::string> one(ids.data(), 1);
    calls seq("counter", "Counter", one, incr);
    const size_t seq_raw = seq.frame_size();
    progress(mode, "latency: " + thousands(static_cast<double>(o.latency_calls)) +
                       " sequential calls to one warm Counter actor, then raw echo");
    std::optional<double> seq_cpu, seq_raw_cpu;
    auto ms = measured(
        host_pid, [&] { return host.sequential(seq, o.latency_calls, o.phase_limit); }, seq_cpu);
    auto bs = measured(
        echo.pid(), [&] { return raw.sequential(seq_raw, o.latency_calls, o.phase_limit); },
        seq_raw_cpu);
    const uint64_t samples = ms.size();
    const percentiles mp = percentiles_of(ms), bp = percentiles_of(bs);
    progress(mode, "  p50 " + fixed(mp.p50) + " us (raw " + fixed(bp.p50) + "), p99 " +
                       fixed(mp.p99) + " us (raw " + fixed(bp.p99) + ")");
    report.add({mode, "latency_p50_us", "latency p50, sequential calls", mp.p50, "us", false,
                bp.p50, std::nullopt, samples, 0, seq_cpu, seq_raw_cpu});
    report.add({mode, "latency_p95_us", "latency p95, sequential calls", mp.p95, "us", false,
                bp.p95, std::nullopt, samples, 0});
    report.add({mode, "latency_p99_us", "latency p99, sequential calls", mp.p99, "us", false,
                bp.p99, std::nullopt, samples, 0});
  }

  if (meshd && !meshd->stop(std::chrono::milliseconds(15'000)))
    throw std::runtime_error("meshd did not stop on SIGTERM within 15 s");
  echo.stop(std::chrono::milliseconds(5'000));
}

}  // namespace mesh::bench
