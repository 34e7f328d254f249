// What this host knows of its cluster: the membership view the membership thread last posted,
// the routing table computed from it, this host's own incarnation in it, and what follows from a
// change: the actors whose keys moved away are handed off (rebalance), and after a pause long
// enough for the peers to have declared this host dead, every actor is retired and actor
// requests are refused for a while (recover_from_pause).
//
// Dispatcher-owned: the server applies the snapshots on its thread, and every method runs there.
#pragma once

#include <mesh/discovery/membership_service.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/routing_table.hpp"
#include "runtime/runtime.hpp"
#include "server/host_config.hpp"
#include "server/host_stats.hpp"
#include <mesh/placement/placement.hpp>

namespace mesh::host {

/// The cluster as this host sees it, and the rebalancing that follows the view.
class cluster_view {
 public:
  using snapshot_ptr = std::shared_ptr<const discovery::membership_snapshot>;

  /// `config` (name, shards) and `stats` are the server's and must outlive the view.
  cluster_view(const host_config& config, host_counters& stats)
      : config_(config), stats_(stats) {}

  /// Before the first snapshot: route by membership with `strategy`.
  void enable(std::unique_ptr<placement::placement_strategy> strategy, uint64_t incarnation = 0);
  /// Whether enable() was called (this host is in a cluster).
  bool enabled() const noexcept { return enabled_; }

  /// Applies the snapshots posted since the last call, oldest first: counts the member changes
  /// they show and, when the last one has a new epoch, builds its routing table, learns this
  /// host's incarnation and marks a rebalance pending. Returns whether the table changed.
  bool apply(const std::vector<snapshot_ptr>& updates);

  /// The routing table of the current view; nullptr when not clustered or before the first view.
  const routing_table* routes() const noexcept { return enabled() ? routes_.get() : nullptr; }
  /// The last snapshot applied (nullptr before the first).
  const discovery::membership_snapshot* snapshot() const noexcept { return snapshot_.get(); }
  /// The placement strategy (nullptr when not clustered).
  const placement::placement_strategy* strategy() const noexcept { return strategy_.get(); }
  /// This run's incarnation, from the view (0: not in a view yet).
  uint64_t incarnation() const noexcept { return incarnation_; }

  /// Actors whose keys moved away, or that were busy when a pause ended, may still be live:
  /// call rebalance() again.
  bool rebalance_pending() const noexcept { return rebalance_pending_ || !stale_after_pause_.empty(); }
  /// Retires the actors of `rt` whose keys this host no longer owns, and, after a pause, those
  /// that were still busy then; those still busy keep the rebalance pending.
  void rebalance(runtime& rt);

  /// The dispatcher found that it was paused for `paused`: its peers may have declared it dead
  /// and activated its keys elsewhere. Retires every actor of `rt` (those still running a
  /// handler once it ends: rebalance_pending()) and refuses actor requests for `refuse_for`
  /// from now on.
  void recover_from_pause(runtime& rt, clock::duration paused, std::chrono::milliseconds refuse_for);
  /// Actor requests are refused now (a recent pause; see recover_from_pause).
  bool refusing_requests() const {
    return paused_until_ != clock::time_point{} && paused_until_ > clock::now();
  }

 private:
  /// Counts the joins, suspicions, recoveries, deaths and departures `snapshot` shows against
  /// the statuses seen last.
  void count_member_changes(const discovery::membership_snapshot& snapshot);

  const host_config& config_;
  host_counters& stats_;
  bool enabled_ = false;
  std::unique_ptr<placement::placement_strategy> strategy_;
  snapshot_ptr snapshot_;
  std::unique_ptr<routing_table> routes_;
  uint64_t incarnation_ = 0;
  bool rebalance_pending_ = false;
  /// Actors that were busy when a pause ended: their state may be stale too. Only they are
  /// retired later; actors activated after the pause are not.
  std::vector<runtime::actor_key> stale_after_pause_;
  clock::time_point paused_until_{};  ///< actor requests are refused until then
  std::map<std::string, discovery::member_status> member_status_;  ///< last seen, peers only
};

}  // namespace mesh::host
