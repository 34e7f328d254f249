// A helper process the bench starts and stops: meshd, or the raw ZeroMQ echo server. Both write
// their bound endpoint to a ready file.
#pragma once

#include <chrono>
#include <filesystem>

#include "child_process.hpp"  // tools/child_process
#include "temp_dir.hpp"

namespace mesh::bench {

using tools::child_options;
using tools::child_process;

/// How the bench starts a helper: wait up to `timeout` for `ready_file` (the constructor throws,
/// quoting `log`, if the helper exits or never gets ready); on destruction SIGTERM, then SIGKILL
/// after 15 s.
inline child_options helper_options(const std::filesystem::path& ready_file,
                                    const std::filesystem::path& log,
                                    std::chrono::milliseconds timeout) {
  return {.log = log,
          .ready_file = ready_file,
          .ready_timeout = timeout,
          .grace = std::chrono::milliseconds(15'000)};
}

}  // namespace mesh::bench
