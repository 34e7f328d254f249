// `mesh-bench local`: the runtime measured in-process, with the real example plugins.
#pragma once

#include "bench_options.hpp"
#include "bench_report.hpp"

namespace mesh::bench {

/// Runs the in-process phases (activations, hot actor, spread, latency, memory per actor) and
/// adds their figures to `report`. Throws when a call fails or the runtime stalls.
void run_local(const bench_options& options, bench_report& report);

}  // namespace mesh::bench
