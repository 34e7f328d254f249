// meshd's command line: everything a host is started with, read and checked before anything
// is opened or bound (Envoy: fail fast on bad config at start-up).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "config/discovery_registry.hpp"
#include "server/host_config.hpp"

namespace mesh::host {

/// How meshd logs (spdlog, to stderr).
struct log_settings {
  /// trace, debug, info, warn or error.
  std::string level = "info";
  /// text, or json: one JSON object per line.
  std::string format = "text";
};

/// The Prometheus endpoint (docs/OPERATIONS.md#metrics); off when `listen` is empty.
struct metrics_settings {
  std::string listen;
  /// When set, the bound HOST:PORT is written here once serving.
  std::filesystem::path ready_file;
};

/// Joining a cluster (docs/CLUSTER.md); the host runs alone when `gossip` is empty.
struct cluster_settings {
  /// Where the gossip socket binds.
  std::string gossip;
  discovery_settings discovery;
  /// Failure detection: "default" or "test".
  std::string profile = "default";
  /// Placement: a built-in strategy's name or a path to a placement plugin (make_placement).
  std::string strategy = "rendezvous";
  /// Host or IP that peers use to reach this host; empty advertises the bound endpoints.
  std::string advertise;
};

/// CURVE keys (docs/SECURITY.md); unauthenticated when `curve_secret` is empty.
struct security_settings {
  std::filesystem::path curve_secret;
  std::filesystem::path authorized_keys;
};

/// Everything meshd is started with.
struct meshd_config {
  host_config host;
  log_settings log;
  metrics_settings metrics;
  cluster_settings cluster;
  security_settings security;
};

/// A bad setting (a value out of range, a flag missing its partner, a file that is not there).
/// meshd logs what() as one line, the way `log` asks, and exits with `status`.
struct config_error : std::runtime_error {
  config_error(const std::string& message, int exit_status, log_settings logging)
      : std::runtime_error(message), status(exit_status), log(std::move(logging)) {}
  /// 1, or 2 for a bad key file or security option (docs/SECURITY.md).
  int status;
  /// The logging the command line asked for.
  log_settings log;
};

/// --help, or a command line CLI11 refuses (an unknown flag, a value not in its set): meshd
/// prints `out` to stdout and `err` to stderr (CLI11's own words) and exits with `status`.
struct command_line_exit : std::runtime_error {
  command_line_exit(int exit_status, std::string to_stdout, std::string to_stderr)
      : std::runtime_error(to_stderr.empty() ? to_stdout : to_stderr),
        status(exit_status),
        out(std::move(to_stdout)),
        err(std::move(to_stderr)) {}
  int status;
  std::string out;
  std::string err;
};

/// Reads meshd's command line (argv[0] is the program). `default_plugins_dir` is used without
/// --plugins. Throws command_line_exit or config_error; checks that the plugins directory
/// exists but opens no key file, library or socket.
meshd_config parse_command_line(int argc, const char* const* argv,
                                const std::filesystem::path& default_plugins_dir);

/// "a, b ,,c" -> {"a", "b", "c"}: comma-separated items, blanks trimmed, empty ones dropped.
std::vector<std::string> split_list(const std::string& text);

}  // namespace mesh::host
