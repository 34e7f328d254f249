// `mesh-bench suite`: the performance issue's workloads W1-W8 and growth, each in-process
// (the runtime API) and over ZeroMQ (mesh::client against meshd children), every Mesh figure
// beside a raw ZeroMQ DEALER/ROUTER echo measured in alternating rounds of the same run.
#pragma once

#include <string>

#include "bench_options.hpp"
#include "bench_report.hpp"

namespace mesh::bench {

/// The workload names --only accepts, in the order the suite runs them.
const std::vector<std::string>& suite_workloads();

/// Runs the workloads `options.suite` selects and adds their figures to `report`; `self` is
/// this executable (re-run as the raw echo server). Every phase is bounded in time; only the
/// processes started here are stopped. Throws when a call fails or a host does not start, stop
/// or converge.
void run_suite(const bench_options& options, const std::string& self, bench_report& report);

}  // namespace mesh::bench
