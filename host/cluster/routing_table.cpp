#include "cluster/routing_table.hpp"

#include <algorithm>
#include <set>

namespace mesh::host {

routing_table::routing_table(const discovery::member_view& view,
                             const placement::placement_strategy& strategy, uint32_t shards, std::string self)
    : view_(view), shards_(shards), self_(std::move(self)) {
  std::set<std::string> caps;
  for (const auto& m : view_.members)
    for (const auto& c : m.capabilities) caps.insert(c);
  for (const auto& cap : caps) {
    placement::shard_table st = placement::build_shard_table(strategy, shards_, view_.hosts_with(cap));
    table t;
    for (const auto& name : st.hosts) t.hosts.push_back(view_.find(name));
    t.owner_of = std::move(st.owner_of);
    tables_.emplace(cap, std::move(t));
  }
}

const discovery::member_record* routing_table::owner(std::string_view capability,
                                                     uint32_t shard) const {
  auto it = tables_.find(capability);
  if (it == tables_.end() || it->second.hosts.empty() || shard >= it->second.owner_of.size())
    return nullptr;
  return it->second.hosts[it->second.owner_of[shard]];
}

std::vector<std::string> routing_table::hosts_for(std::string_view capability) const {
  std::vector<std::string> out;
  auto it = tables_.find(capability);
  if (it == tables_.end()) return out;
  for (const auto* m : it->second.hosts) out.push_back(m->name);
  return out;
}

std::vector<std::string> routing_table::capabilities() const {
  std::vector<std::string> out;
  for (const auto& [cap, t] : tables_) out.push_back(cap);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace mesh::host
