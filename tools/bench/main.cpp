// mesh-bench: the performance suite (`suite`, also `all`: workloads W1-W8 and growth, each
// in-process and over ZeroMQ beside a raw ZeroMQ echo), the single modes `local`, `client`,
// `cluster` and `scale`, and `actors` (the host services: actor -> actor calls beside CAF,
// timers). Every phase is bounded in time; prints a summary table (or JSON). Exits non-zero
// only when the benchmark itself breaks (a call fails, a host stops answering), never because
// of a number.
#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "actor_bench.hpp"
#include "bench_options.hpp"
#include "bench_report.hpp"
#include "client_bench.hpp"
#include "cluster_bench.hpp"
#include "local_bench.hpp"
#include "raw_echo.hpp"
#include "suite_bench.hpp"

namespace {

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

/// The first three fields of /proc/loadavg: how busy the shared machine was.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

}  // namespace

int main(int argc, char** argv) {
  mesh::bench::bench_options o;
  CLI::App app{
      "mesh-bench: the Mesh performance suite (W1-W8 and growth, in-process and over ZeroMQ, "
      "beside a raw ZeroMQ echo) and single modes. Progress on stderr, the summary on stdout."};
  app.require_subcommand(1);
  double duration_s = 3.0;
  app.add_flag("--quick", o.quick, "tiny counts: proves the benchmark works in a few seconds");
  app.add_flag("--json", o.json, "print the results as one JSON document instead of a table");
  app.add_option("--workers", o.workers, "runtime workers (local) or meshd --workers (client)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app.add_option("--activations", o.activations, "new actors created by the activation phase")
      ->capture_default_str();
  app.add_option("--spread-actors", o.spread_actors, "existing actors the spread phase calls")
      ->capture_default_str();
  app.add_option("--latency-calls", o.latency_calls, "sequential calls of the latency phase")
      ->capture_default_str();
  app.add_option("--duration", duration_s, "seconds each throughput phase runs")
      ->capture_default_str();
  app.fallthrough();

  auto* local = app.add_subcommand("local", "the runtime in-process, with the example plugins");
  auto* client = app.add_subcommand("client", "a host over ZeroMQ, beside a raw ZeroMQ echo");
  client->add_option("--connect", o.connect,
                     "host endpoint, e.g. tcp://127.0.0.1:7100 (default: start a meshd child)");
  client->add_flag("--curve", o.curve,
                   "the meshd child runs with a fresh cluster key; calls use CURVE");
  auto* cluster = app.add_subcommand(
      "cluster", "two meshd children: calls forwarded A -> owner B and direct to B, beside a raw "
                 "ZeroMQ echo");
  cluster->add_option("--calls", o.cluster_calls, "calls of each pipelined phase")
      ->capture_default_str();
  cluster->add_option("--actors", o.cluster_actors, "actors (owned by B) the calls go to")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}));
  cluster->add_option("--inflight", o.cluster_inflight, "calls in flight in pipelined phases")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100'000}));
  cluster->add_option("--sequential-calls", o.cluster_latency_calls,
                      "sequential calls of each latency phase")
      ->capture_default_str();
  cluster->add_option("--rounds", o.cluster_rounds,
                      "Mesh and raw echo rounds each phase alternates")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000}));
  auto* scale = app.add_subcommand(
      "scale", "one smart client, pipelined calls with 1, 2 and 3 meshd children serving");
  scale->add_option("--calls", o.cluster_calls, "calls measured at each cluster size");
  scale->add_option("--actors", o.cluster_actors, "actors the calls go to");
  scale->add_option("--inflight", o.cluster_inflight, "calls in flight");
  std::vector<std::string> only;
  auto add_suite_options = [&](CLI::App* cmd) {
    cmd->add_option("--only", only, "workloads to run, e.g. W1,W4,growth (default: all)")
        ->delimiter(',');
    cmd->add_option("--rounds", o.cluster_rounds,
                    "Mesh and raw echo rounds each paired phase alternates")
        ->capture_default_str()
        ->check(CLI::Range(uint64_t{1}, uint64_t{1'000}));
  };
  auto* suite = app.add_subcommand(
      "suite", "W1-W8 and growth, each in-process and over ZeroMQ, beside a raw ZeroMQ echo");
  add_suite_options(suite);
  auto* all = app.add_subcommand("all", "the same as suite");
  add_suite_options(all);
  auto* actors = app.add_subcommand(
      "actors",
      "actor -> actor calls (host services): local round trips beside CAF, remote calls beside a "
      "smart client's, and timers (memory, firing)");
  std::vector<std::string> actor_only;
  int64_t round_ms = 0, fire_lead_ms = 0;
  actors
      ->add_option("--only", actor_only,
                   "parts to run: local, remote, timers, firing (default: all)")
      ->delimiter(',');
  std::vector<std::string> actor_shapes;
  actors->add_option("--shapes", actor_shapes,
                     "local shapes: one (1 pair, 1 in flight), window (1 pair, --window in "
                     "flight), pairs (--pairs pairs, 1 in flight each); default: all")
      ->delimiter(',')
      ->check(CLI::IsMember({"one", "window", "pairs"}));
  actors->add_flag("--without-caf", o.actors.without_caf,
                   "local: no CAF rounds (e.g. under valgrind)");
  actors->add_option("--round-ms", round_ms, "local: milliseconds of each round (default 1000)");
  actors->add_option("--rounds", o.actors.rounds, "local: rounds of each shape")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{100}));
  actors->add_option("--count", o.actors.count,
                     "local: round trips one pinger makes per round at most (for callgrind)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}));
  actors
      ->add_option("--pairs", o.actors.pairs,
                   "local: pinger/ponger pairs of the many-pairs shape")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000}));
  actors->add_option("--window", o.actors.window, "local: calls in flight of the windowed shape")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{10'000}));
  actors->add_option("--remote-calls", o.actors.remote_calls,
                     "remote: sequential calls of each path")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}));
  actors->add_option("--timer-actors", o.actors.timer_actors, "timers: actors arming timers")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000}));
  actors->add_option("--timers-per-actor", o.actors.timers_per_actor,
                     "timers: one-hour timers each actor arms (at most 10,000)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{10'000}));
  actors->add_option("--fire-actors", o.actors.fire_actors, "timers: actors whose timers fire")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000}));
  actors->add_option("--fires-per-actor", o.actors.fires_per_actor,
                     "timers: one-shot timers each of them arms (at most 10,000)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{10'000}));
  actors->add_option("--fire-lead-ms", fire_lead_ms,
                     "timers: the firing timers are due this long after arming starts (default "
                     "4000; raise it under valgrind)");
  std::string echo_listen = "tcp://127.0.0.1:*", echo_ready;
  auto* echo = app.add_subcommand("raw-echo", "");  // internal: the raw baseline's server
  echo->group("");
  echo->add_option("--listen", echo_listen);
  echo->add_option("--ready-file", echo_ready)->required();
  CLI11_PARSE(app, argc, argv);

  try {
    if (echo->parsed()) return mesh::bench::run_raw_echo(echo_listen, echo_ready);
    o.duration = std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000));
    if (o.quick) mesh::bench::make_quick(o);
    if (round_ms > 0) o.actors.round = std::chrono::milliseconds(round_ms);
    if (fire_lead_ms > 0) o.actors.fire_lead = std::chrono::milliseconds(fire_lead_ms);
    o.actors.shapes.insert(actor_shapes.begin(), actor_shapes.end());
    for (const std::string& part : actor_only) {
      const auto& parts = mesh::bench::actor_parts();
      if (std::find(parts.begin(), parts.end(), part) == parts.end()) {
        std::cerr << "mesh-bench: unknown part in actors --only: " << part
                  << " (expected local, remote, timers or firing)" << std::endl;
        return 2;
      }
      o.actors.only.insert(part);
    }
    for (std::string w : only) {
      const auto& names = mesh::bench::suite_workloads();
      if (w.size() == 2 && (w[0] == 'w')) w[0] = 'W';
      if (w == "G" || w == "g" || w == "Growth") w = "growth";
      if (std::find(names.begin(), names.end(), w) == names.end()) {
        std::cerr << "mesh-bench: unknown workload in --only: " << w
                  << " (expected W1..W8 or growth)" << std::endl;
        return 2;
      }
      o.suite.only.insert(w);
    }

    mesh::bench::bench_report report;
    report.note("date", now_utc());
    report.note("cores", std::thread::hardware_concurrency());
    report.note("quick", o.quick);
    report.note("load_average_start", load_average());
    const std::string self = std::filesystem::canonical("/proc/self/exe").string();
    if (suite->parsed() || all->parsed()) mesh::bench::run_suite(o, self, report);
    if (local->parsed()) mesh::bench::run_local(o, report);
    if (client->parsed()) mesh::bench::run_client(o, self, report);
    if (cluster->parsed()) mesh::bench::run_cluster(o, self, report);
    if (scale->parsed()) mesh::bench::run_scale(o, self, report);
    if (actors->parsed()) mesh::bench::run_actors(o, report);
    report.note("load_average_end", load_average());
    if (o.json) {
      std::cout << report.to_json().dump(2) << std::endl;
    } else {
      std::cout << report.table() << std::flush;
    }
  } catch (const std::exception& e) {
    std::cerr << "mesh-bench: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
