#include "cluster/cluster_view.hpp"

#include <algorithm>

#include <mesh/wire/shard.hpp>

#include <spdlog/spdlog.h>

#include "server/log_value.hpp"

namespace mesh::host {

void cluster_view::enable(std::unique_ptr<placement::placement_strategy> strategy,
                          uint64_t incarnation) {
  enabled_ = true;
  strategy_ = std::move(strategy);
  incarnation_ = incarnation;
}

bool cluster_view::apply(const std::vector<snapshot_ptr>& updates) {
  if (updates.empty()) return false;
  for (const auto& u : updates) count_member_changes(*u);
  snapshot_ = updates.back();
  if (routes_ && routes_->epoch() == snapshot_->view.epoch) return false;
  routes_ = std::make_unique<routing_table>(snapshot_->view, *strategy_, config_.shards,
                                            config_.name);
  ++stats_.view_changes;
  std::string names;
  for (const auto& m : snapshot_->view.members) names += (names.empty() ? "" : ",") + m.name;
  spdlog::info("view changed: {:016x} hosts={} members={}", routes_->epoch(),
               snapshot_->view.members.size(), log_value(names));
  if (const auto* me = routes_->view().find(config_.name)) incarnation_ = me->incarnation;
  rebalance_pending_ = true;
  return true;
}

void cluster_view::rebalance(runtime& rt) {
  if (!stale_after_pause_.empty()) {
    const auto stale = [this](const actor_module& m, std::string_view id) {
      return std::find_if(stale_after_pause_.begin(), stale_after_pause_.end(),
                          [&](const runtime::actor_key& k) {
                            return k.first == &m && k.second == id;
                          }) != stale_after_pause_.end();
    };
    std::vector<runtime::actor_key> still_busy;
    const auto late = rt.retire_if(stale, MESH_DEACTIVATE_REBALANCE, &still_busy);
    if (late.deactivated + late.empty > 0)
      spdlog::info("retired after pause: {} retired={} empty={} busy={}", config_.name,
                   late.deactivated, late.empty, late.busy);
    stale_after_pause_ = std::move(still_busy);
  }
  if (!routes_) {
    rebalance_pending_ = false;
    return;
  }
  const auto moved = rt.retire_if(
      [this](const actor_module& m, std::string_view id) {
        return !routes_->owns(m.capability, wire::shard_for(id, config_.shards));
      },
      MESH_DEACTIVATE_REBALANCE);
  // handed_off counts what the stats count as deactivations with reason rebalance.
  if (moved.deactivated + moved.empty > 0)
    spdlog::info("rebalance: {:016x} handed_off={} empty={} busy={}", routes_->epoch(),
                 moved.deactivated, moved.empty, moved.busy);
  rebalance_pending_ = moved.busy > 0;
}

void cluster_view::recover_from_pause(runtime& rt, clock::duration paused,
                                      std::chrono::milliseconds refuse_for) {
  // The peers may have declared this host dead and activated its keys elsewhere: its actors'
  // state may be stale and the requests queued during the pause may have run elsewhere.
  const auto retired = rt.retire_if([](const actor_module&, std::string_view) { return true; },
                                    MESH_DEACTIVATE_REBALANCE, &stale_after_pause_);
  paused_until_ = clock::now() + refuse_for;
  spdlog::warn("paused: {} paused_ms={} retired={} empty={} busy={} refusing_ms={}", config_.name,
               std::chrono::duration_cast<std::chrono::milliseconds>(paused).count(),
               retired.deactivated, retired.empty, retired.busy, refuse_for.count());
}

void cluster_view::count_member_changes(const discovery::membership_snapshot& snapshot) {
  using discovery::member_status;
  std::map<std::string, member_status> now;
  for (const auto& m : snapshot.members) {
    if (m.self) continue;
    now.emplace(m.record.name, m.status);
    auto it = member_status_.find(m.record.name);
    const bool known = it != member_status_.end();
    if (known && it->second == m.status) continue;
    const member_status before = known ? it->second : member_status::dead;
    auto count = [this](member_change c) { ++stats_.membership[static_cast<size_t>(c)]; };
    switch (m.status) {
      case member_status::alive:
        count(before == member_status::suspect ? member_change::recovered : member_change::joined);
        break;
      case member_status::suspect:
        if (!known) count(member_change::joined);
        count(member_change::suspected);
        break;
      case member_status::dead:
        if (before != member_status::leaving && known) count(member_change::dead);
        break;
      case member_status::leaving:
        count(member_change::left);
        break;
    }
  }
  member_status_ = std::move(now);
}

}  // namespace mesh::host
