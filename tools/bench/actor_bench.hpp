// `mesh-bench actors`: what the host services (ABI 1.2) cost. Local actor -> actor round trips
// on one in-process host (the real server and runtime, nonblocking actors on the request
// thread) beside CAF's request/response between two actors (mesh-bench-caf, when built);
// remote actor -> actor calls between two meshd children beside a smart client's direct call;
// memory per armed timer and the cost of firing them.
#pragma once

#include <string>
#include <vector>

#include "bench_options.hpp"
#include "bench_report.hpp"

namespace mesh::bench {

/// The parts `actors --only` accepts, in the order they run.
const std::vector<std::string>& actor_parts();

/// Runs the parts `options.actors` selects and adds their figures to `report`. Every phase is
/// bounded in time; only the processes and threads started here are stopped. Throws when a
/// call fails or a host does not start, stop or converge.
void run_actors(const bench_options& options, bench_report& report);

}  // namespace mesh::bench
