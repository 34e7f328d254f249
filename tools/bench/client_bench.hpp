// `mesh-bench client`: a Mesh host measured over ZeroMQ from this process, beside a raw ZeroMQ
// DEALER/ROUTER echo measured under the same conditions.
#pragma once

#include <string>

#include "bench_options.hpp"
#include "bench_report.hpp"

namespace mesh::bench {

/// Runs the client phases against options.connect, or against a meshd child process started
/// from the build when it is empty; `self` is this executable (it is re-run as the raw echo
/// server). Adds the figures to `report`; throws when a call fails or a host stops answering.
void run_client(const bench_options& options, const std::string& self, bench_report& report);

}  // namespace mesh::bench
