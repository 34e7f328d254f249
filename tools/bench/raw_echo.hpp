// The baseline: a bare ZeroMQ ROUTER that sends every message straight back.
#pragma once

#include <filesystem>
#include <string>

namespace mesh::bench {

/// Serves a ROUTER echo on `endpoint` (e.g. tcp://127.0.0.1:*), configured like meshd's socket
/// (one I/O thread, high-water marks 100,000), writes the bound endpoint to `ready_file`, and
/// echoes until SIGTERM/SIGINT or until its parent process goes away. Run by `mesh-bench
/// raw-echo` in a child process, so that it costs what meshd costs: its own process.
int run_raw_echo(const std::string& endpoint, const std::filesystem::path& ready_file);

}  // namespace mesh::bench
