// Everything a host is configured with; filled from the command line by main().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <mesh/wire/envelope.hpp>

namespace mesh::security {
class authenticator;
}

namespace mesh::host {

struct host_config {
  /// Host name in actor references; default "<hostname>:<port>" once bound.
  std::string name;
  /// ZeroMQ endpoint of the request ROUTER socket; port `*` picks a free one.
  std::string listen = "tcp://127.0.0.1:7100";
  std::filesystem::path plugins_dir;
  /// Served capabilities; nullopt serves every capability the plugins declare.
  std::optional<std::vector<std::string>> capabilities;
  unsigned workers = 2;
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(30);
  uint32_t shards = wire::default_shards;
  /// Frames larger than this get a too_large error; frames over 16x this drop the connection.
  size_t max_frame = 1 << 20;
  /// Requests accepted but not yet answered; beyond this new requests get overloaded.
  size_t max_inflight = 100'000;
  std::chrono::milliseconds scan_interval{250};
  /// On SIGTERM: how long in-flight requests may take before the host stops anyway.
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(10);
  /// When set, the bound endpoint is written here once the host serves (for scripts, tests).
  std::filesystem::path ready_file;
  /// When set, the request socket and the sockets that forward to other hosts use CURVE with
  /// the cluster key (docs/SECURITY.md). Owned by main; outlives the server.
  security::authenticator* security = nullptr;
};

/// Parses "250ms", "30s", "15m", "2h" or a bare number of milliseconds; throws on junk.
std::chrono::milliseconds parse_duration(const std::string& text);
/// Parses "1048576", "64k", "1m" (KiB, MiB); throws on junk.
size_t parse_size(const std::string& text);

}  // namespace mesh::host
