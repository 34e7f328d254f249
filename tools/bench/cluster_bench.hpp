// `mesh-bench cluster`: two meshd hosts gossiping on 127.0.0.1, calls to actors the second one
// owns, sent through the first (forwarded) and straight to the owner, beside a raw ZeroMQ echo.
#pragma once

#include <string>

#include "bench_options.hpp"
#include "bench_report.hpp"

namespace mesh::bench {

/// Starts meshd children A and B (capability `bench`, --profile test, B seeded with A's gossip
/// endpoint) and the raw echo (`self raw-echo`), waits until A and B see each other, then
/// measures sequential latency and pipelined throughput of Echo calls to actors B owns, through
/// A and directly to B, each beside the raw echo. Adds the figures to `report`; throws when a
/// host does not start, the hosts do not converge, or a call fails. Every wait is bounded and
/// only the processes started here are stopped (SIGTERM, then SIGKILL after a timeout). `mode`
/// is the first column of the figures (the suite calls this W8).
void run_cluster(const bench_options& options, const std::string& self, bench_report& report,
                 const std::string& mode = "cluster");

/// Starts one, two, then three meshd children (capability `bench`) and measures, at each size,
/// pipelined Echo calls from one smart client (given only the first host's endpoint) beside the
/// raw echo: whether calls/s grows as hosts are added.
void run_scale(const bench_options& options, const std::string& self, bench_report& report);

}  // namespace mesh::bench
