// Who owns which key, computed from one membership view: per capability, a table of shard ->
// owner host. Immutable once built; the dispatcher swaps in a new one when the view changes.
#pragma once

#include <mesh/discovery/membership.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <mesh/placement/placement.hpp>
#include "runtime/string_hash.hpp"

namespace mesh::host {

/// Shard -> owner host, per capability, for one membership view.
class routing_table {
 public:
  /// An empty table: nothing is owned anywhere.
  routing_table() = default;
  /// The table of `view` with `strategy` over `shards` shards; `self` names this host.
  routing_table(const discovery::member_view& view, const placement::placement_strategy& strategy,
                uint32_t shards, std::string self);
  // Holds pointers into its own view: not copyable.
  routing_table(const routing_table&) = delete;
  routing_table& operator=(const routing_table&) = delete;

  /// The owner of `shard` in `capability`, or nullptr when no host has the capability.
  const discovery::member_record* owner(std::string_view capability, uint32_t shard) const;
  /// Whether this host owns `shard` of `capability`.
  bool owns(std::string_view capability, uint32_t shard) const {
    const auto* o = owner(capability, shard);
    return o != nullptr && o->name == self_;
  }
  /// Hosts that have `capability`, sorted.
  std::vector<std::string> hosts_for(std::string_view capability) const;
  /// Every capability some host has, sorted.
  std::vector<std::string> capabilities() const;

  /// The view the table was computed from (the table points into it).
  const discovery::member_view& view() const noexcept { return view_; }
  /// The view's epoch (sent in forward headers).
  uint64_t epoch() const noexcept { return view_.epoch; }
  /// Number of shards per capability.
  uint32_t shards() const noexcept { return shards_; }
  /// This host's name.
  const std::string& self() const noexcept { return self_; }

 private:
  struct table {
    std::vector<const discovery::member_record*> hosts;  // index -> record in view_
    std::vector<uint16_t> owner_of;
  };
  discovery::member_view view_;
  uint32_t shards_ = 0;
  std::string self_;
  std::unordered_map<std::string, table, string_hash, std::equal_to<>> tables_;
};

}  // namespace mesh::host
