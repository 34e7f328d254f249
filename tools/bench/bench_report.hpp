// The figures a mesh-bench run produces, and how they are printed (table or JSON).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mesh::bench {

/// One measured number, with the raw ZeroMQ figure measured beside it (client mode) and the
/// target it is held against, when there is one.
struct figure {
  std::string mode;   ///< "local", "client", "cluster", "W4 in-proc", "W4 zmq", ...
  std::string key;    ///< stable name for machines, e.g. "calls_spread_per_s"
  std::string label;  ///< for people, e.g. "calls/s, 5,000 actors, 500 in flight"
  double value = 0;
  std::string unit;  ///< "/s", "us", "ms", "B", "s", "x"
  bool higher_is_better = true;
  std::optional<double> raw;     ///< the raw DEALER/ROUTER echo under the same conditions
  std::optional<double> target;  ///< the issue's target, if any
  uint64_t samples = 0;          ///< calls or actors behind the number
  double seconds = 0;            ///< time the phase measured
  /// CPU time the serving process spent per call or activation (microseconds): less sensitive
  /// than rates to other load on a shared machine. For the raw echo, `raw_cpu_us`.
  std::optional<double> cpu_us;
  std::optional<double> raw_cpu_us;
  /// CPU time this process (the client: mesh::client, or the raw echo's DEALER) spent per
  /// operation, over ZeroMQ only. Client and hosts share the machine's cores, so a pipelined
  /// rate is bounded by the sum of both sides' CPU per call.
  std::optional<double> client_cpu_us;
  std::optional<double> raw_client_cpu_us;
  /// A target held against mesh/raw rather than the value: met when value / raw is at most
  /// (lower is better) or at least (higher is better) this ratio.
  std::optional<double> target_ratio;
};

/// What one pipelined run did.
struct run_result {
  uint64_t completed = 0;
  double seconds = 0;
  /// CPU time of this process over the run (in-process runs only: dispatcher and workers).
  double cpu_seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(completed) / seconds : 0; }
  double cpu_us() const {
    return completed > 0 ? cpu_seconds * 1e6 / static_cast<double>(completed) : 0;
  }
};

/// Collects figures and the run's context; prints them at the end.
class bench_report {
 public:
  void add(figure f) { figures_.push_back(std::move(f)); }
  /// Extra context printed with the results (workers, host endpoint, ...).
  void note(const std::string& key, nlohmann::ordered_json value) { notes_[key] = std::move(value); }

  /// The summary table (stdout).
  std::string table() const;
  /// Everything as one JSON document.
  nlohmann::ordered_json to_json() const;

 private:
  std::vector<figure> figures_;
  nlohmann::ordered_json notes_ = nlohmann::ordered_json::object();
};

/// Latency percentiles (microseconds) of `samples_ns`; sorts it.
struct percentiles {
  double p50 = 0, p95 = 0, p99 = 0, max = 0;
};
percentiles percentiles_of(std::vector<int64_t>& samples_ns);

/// Resident set size of process `pid` (0 = this process) in bytes, from /proc/<pid>/statm.
uint64_t resident_bytes(int pid = 0);
/// CPU time (user + system) process `pid` (0 = this process) has used, in seconds.
double cpu_seconds(int pid = 0);
/// Bytes this process's malloc has handed out and not got back (glibc mallinfo2).
uint64_t heap_in_use_bytes();

/// Prints a progress line on stderr ("[mode] text"), flushed at once.
void progress(const std::string& mode, const std::string& text);

/// 1234567.8 -> "1,234,568".
std::string thousands(double value);

}  // namespace mesh::bench
