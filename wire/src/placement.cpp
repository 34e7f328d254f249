#include <mesh/placement/placement.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <mesh/wire/shard.hpp>

namespace mesh::placement {
namespace {

class rendezvous_strategy final : public placement_strategy {
 public:
  std::string name() const override { return "rendezvous"; }
  size_t owner(uint32_t shard, uint32_t /*shards*/,
               const std::vector<std::string>& hosts) const override {
    size_t best = 0;
    uint64_t best_weight = 0;
    for (size_t i = 0; i < hosts.size(); ++i) {
      const uint64_t w = rendezvous_weight(hosts[i], shard);
      // Equal weights: the smaller name wins, whatever the order of `hosts`.
      if (i == 0 || w > best_weight || (w == best_weight && hosts[i] < hosts[best])) {
        best = i;
        best_weight = w;
      }
    }
    return best;
  }
};

class modulo_strategy final : public placement_strategy {
 public:
  std::string name() const override { return "modulo"; }
  size_t owner(uint32_t shard, uint32_t /*shards*/,
               const std::vector<std::string>& hosts) const override {
    return hosts.empty() ? 0 : shard % hosts.size();
  }
};

}  // namespace

uint64_t rendezvous_weight(std::string_view host, uint32_t shard) noexcept {
  const uint64_t h =
      wire::id_hash(wire::bytes_view{reinterpret_cast<const uint8_t*>(host.data()), host.size()});
  return wire::fmix64(h ^ (uint64_t{shard} * 0x9E3779B97F4A7C15ULL));
}

std::unique_ptr<placement_strategy> make_rendezvous() {
  return std::make_unique<rendezvous_strategy>();
}

std::unique_ptr<placement_strategy> make_modulo() { return std::make_unique<modulo_strategy>(); }

shard_table build_shard_table(const placement_strategy& strategy, uint32_t shards,
                              std::vector<std::string> hosts) {
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  if (hosts.size() > 65536)
    throw std::length_error("placement over " + std::to_string(hosts.size()) +
                            " hosts: at most 65536 are supported");
  shard_table table;
  table.hosts = std::move(hosts);
  if (table.hosts.empty()) return table;
  table.owner_of.resize(shards);
  for (uint32_t shard = 0; shard < shards; ++shard)
    table.owner_of[shard] =
        static_cast<uint16_t>(strategy.owner(shard, shards, table.hosts) % table.hosts.size());
  return table;
}

}  // namespace mesh::placement
