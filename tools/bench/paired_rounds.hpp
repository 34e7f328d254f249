// Mesh and raw ZeroMQ echo measured in alternating rounds, so that a change of load on the
// shared machine hits both alike.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench_report.hpp"

namespace mesh::bench {

/// One measured phase: the Mesh runs and the raw runs interleaved with them, with the CPU that
/// the serving processes spent per operation.
template <class Result>
struct paired {
  Result mesh, raw;
  std::optional<double> cpu_us, raw_cpu_us;
  /// This process's CPU per operation in the Mesh and the raw rounds, when it is only the
  /// client (no serving pid is 0).
  std::optional<double> client_cpu_us, raw_client_cpu_us;
  std::string cpu_detail;  ///< per serving process ("A 5.10, B 6.20"), for progress lines
};

inline uint64_t ops_of(const run_result& r) { return r.completed; }
inline uint64_t ops_of(const std::vector<int64_t>& samples) { return samples.size(); }
inline void append(run_result& to, const run_result& r) {
  to.completed += r.completed;
  to.seconds += r.seconds;
  to.cpu_seconds += r.cpu_seconds;
}
inline void append(std::vector<int64_t>& to, const std::vector<int64_t>& samples) {
  to.insert(to.end(), samples.begin(), samples.end());
}

/// Splits `count` operations into `rounds` and alternates a Mesh round (`run(n)`) with a raw
/// round (`raw_run(n)`). CPU time of the serving processes `hosts` (pid 0: this process) is
/// summed over the Mesh rounds, the echo's over the raw rounds.
template <class Run, class RawRun>
auto measure_pair(const std::vector<int>& hosts, int echo_pid, uint64_t count, uint64_t rounds,
                  Run&& run, RawRun&& raw_run) {
  paired<decltype(run(uint64_t{1}))> p;
  std::vector<double> host_cpu(hosts.size(), 0.0);
  double echo_cpu = 0, client_cpu = 0, raw_client_cpu = 0;
  rounds = std::max<uint64_t>(1, std::min(rounds, count));
  for (uint64_t r = 0; r < rounds; ++r) {
    const uint64_t n = count / rounds + (r < count % rounds ? 1 : 0);
    std::vector<double> before;
    for (int pid : hosts) before.push_back(cpu_seconds(pid));
    const double self_before = cpu_seconds(0);
    append(p.mesh, run(n));
    client_cpu += cpu_seconds(0) - self_before;
    for (size_t i = 0; i < hosts.size(); ++i) host_cpu[i] += cpu_seconds(hosts[i]) - before[i];
    const double echo_before = cpu_seconds(echo_pid), raw_self_before = cpu_seconds(0);
    append(p.raw, raw_run(n));
    raw_client_cpu += cpu_seconds(0) - raw_self_before;
    echo_cpu += cpu_seconds(echo_pid) - echo_before;
  }
  const double ops = static_cast<double>(ops_of(p.mesh));
  double total = 0;
  for (size_t i = 0; i < hosts.size(); ++i) {
    const double us = ops > 0 ? host_cpu[i] * 1e6 / ops : 0;
    total += us;
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s%c %.2f", i == 0 ? "" : ", ", static_cast<char>('A' + i),
                  us);
    p.cpu_detail += buf;
  }
  if (ops > 0) p.cpu_us = total;
  const double raw_ops = static_cast<double>(ops_of(p.raw));
  if (raw_ops > 0) p.raw_cpu_us = echo_cpu * 1e6 / raw_ops;
  if (std::find(hosts.begin(), hosts.end(), 0) == hosts.end() && ops > 0 && raw_ops > 0) {
    p.client_cpu_us = client_cpu * 1e6 / ops;
    p.raw_client_cpu_us = raw_client_cpu * 1e6 / raw_ops;
  }
  return p;
}

}  // namespace mesh::bench
