// A helper process the bench starts and stops: meshd, or the raw ZeroMQ echo server.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace mesh::bench {

/// A child started with posix_spawn (stdout and stderr to `log`) that writes its bound endpoint
/// to a ready file. Stopped with SIGTERM (then SIGKILL) on destruction.
class child_process {
 public:
  /// Starts `argv` and waits up to `timeout` for `ready_file`; throws, quoting the log, if the
  /// child exits or never gets ready.
  child_process(const std::vector<std::string>& argv, const std::filesystem::path& ready_file,
                const std::filesystem::path& log, std::chrono::milliseconds timeout);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The endpoint the child wrote to its ready file.
  const std::string& endpoint() const noexcept { return endpoint_; }
  pid_t pid() const noexcept { return pid_; }

  /// SIGKILL to every child started by this process and not yet stopped: the last resort of a
  /// bench that must exit at once (a stalled runtime cannot be unwound).
  static void kill_all_started() noexcept;

  /// SIGTERM, then waits up to `timeout` (SIGKILL after it); returns whether it exited by itself.
  bool stop(std::chrono::milliseconds timeout);

 private:
  bool running();

  pid_t pid_ = -1;
  bool exited_ = false;
  std::filesystem::path log_;
  std::string endpoint_;
};

/// A fresh directory under /tmp, removed with its contents on destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace mesh::bench
