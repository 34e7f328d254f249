// Starting meshd children that form a cluster on 127.0.0.1, and asking them about it.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bench_options.hpp"
#include "helper_process.hpp"
#include "dealer_load.hpp"
#include <mesh/wire/envelope.hpp>

namespace mesh::bench {

/// Polls `done` every 50 ms until it returns true or `timeout` passes; whether it did.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

/// A control request (members, owner, ...); `capability` and `id` must outlive it.
wire::request control(wire::op kind, std::string_view capability = {}, std::string_view id = {});

/// The alive members named in a `members` reply, and its epoch.
struct cluster_view {
  std::set<std::string> alive;
  uint64_t epoch = 0;
  std::string self_gossip;
};

/// Asks `host` for `members`.
cluster_view view_of(mesh_load& host);

/// meshd's command line for one cluster host serving `capabilities` (comma-separated), with
/// gossip on 127.0.0.1 and --profile test; `seeds` empty for the first host. Plugins come from
/// `plugins` (empty: the example plugin directory).
std::vector<std::string> meshd_args(const bench_options& o, const std::string& name,
                                    const std::filesystem::path& ready, const std::string& seeds,
                                    const std::string& capabilities,
                                    const std::filesystem::path& plugins = {});

/// meshd children gossiping on 127.0.0.1, each seeded with the first one's gossip endpoint.
/// Stopped in reverse order on destruction (SIGTERM, SIGKILL after 15 s each).
class meshd_cluster {
 public:
  /// `dir` holds the ready files and logs; it must outlive the cluster. The hosts load the
  /// plugins of `plugins` (empty: the example plugin directory).
  meshd_cluster(const bench_options& options, std::filesystem::path dir,
                std::filesystem::path plugins = {});

  /// Starts a host named `name` serving `capabilities` and waits (bounded) until the first host
  /// lists every started host as alive. Throws when it does not start or converge.
  void add(const std::string& name, const std::string& capabilities);

  const std::vector<std::unique_ptr<child_process>>& hosts() const noexcept { return hosts_; }
  std::vector<int> pids() const;

  /// SIGTERM to every host, last started first; whether all exited without SIGKILL.
  bool stop();

 private:
  const bench_options& options_;
  std::filesystem::path dir_;
  std::filesystem::path plugins_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<child_process>> hosts_;
  std::string seed_gossip_;
};

}  // namespace mesh::bench
