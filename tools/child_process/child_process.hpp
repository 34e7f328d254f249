// Child processes for the tests and mesh-bench: start a program with posix_spawn, wait for it
// with a timeout, and signal only it, by the pid this process was given. Nothing here ever
// signals a process by name or a process group.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mesh::tools {

/// How a child_process is started and stopped.
struct child_options {
  /// stdout and stderr of the child are appended to this file.
  std::filesystem::path log;
  /// When not empty, the constructor waits up to `ready_timeout` for the child to write this
  /// file (the endpoint it bound, as meshd --ready-file does); see child_process::endpoint().
  std::filesystem::path ready_file;
  std::chrono::milliseconds ready_timeout{15'000};
  /// What the destructor does to a child still running: zero sends SIGKILL at once; otherwise
  /// SIGTERM, and SIGKILL if it has not exited after this long.
  std::chrono::milliseconds grace{0};
};

/// A program started with posix_spawn (argv[0] is a path; PATH is not searched), with the
/// environment of this process. Reaped on destruction, after the signal its options name.
class child_process {
 public:
  /// Starts `argv` with stdout and stderr appended to `log`; SIGKILL on destruction.
  child_process(const std::vector<std::string>& argv, const std::filesystem::path& log);
  /// Starts `argv` as `options` say. Throws std::runtime_error if it cannot be started, or, with
  /// a ready file, if the child exits or the time passes first (the message quotes the log; the
  /// child is stopped).
  child_process(const std::vector<std::string>& argv, const child_options& options);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Whether the child has not exited yet (reaps it once it has).
  bool running();
  /// Sends `sig` to the child, unless it has already been reaped (its pid may be reused).
  void signal(int sig);
  /// Waits up to `timeout` for the exit; returns the exit code, or -signal, or nullopt if it is
  /// still running.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /// SIGTERM, then up to `timeout` to exit (SIGKILL after it); returns whether it exited by
  /// itself.
  bool stop(std::chrono::milliseconds timeout);

  /// The text of the ready file without its line end (empty without a ready file).
  const std::string& endpoint() const noexcept { return endpoint_; }
  pid_t pid() const noexcept { return pid_; }

  /// SIGKILL to every child this process started and has not reaped yet: the last resort of a
  /// program that must exit at once (a stalled runtime cannot be unwound).
  static void kill_all_started() noexcept;

 private:
  void reaped(int status);

  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  child_options options_;
  std::string endpoint_;
};

/// How a command run to its end went, and what it printed.
struct command_output {
  std::optional<int> status;  ///< exit code, -signal, or nullopt if it had to be killed
  std::string out, err;
  std::chrono::milliseconds elapsed{0};
};

/// Runs `argv` with stdin from /dev/null, capturing stdout and stderr, with `extra_env`
/// ("NAME=value") added to the environment. The command is killed (SIGKILL) if it has not
/// finished after `timeout`.
command_output run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const std::vector<std::string>& extra_env = {});

}  // namespace mesh::tools
