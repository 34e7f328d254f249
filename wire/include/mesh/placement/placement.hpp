// Placement: which host owns a shard of a capability. Pure functions of the membership view,
// so every host (and a smart client) with the same view computes the same owner.
// The rendezvous weight and the tie rule are part of the wire contract (docs/PROTOCOL.md,
// "Placement"). Strategies from plugins (plugin-sdk/include/mesh/placement_abi.h) are the
// host's: host/placement/placement_plugin.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::placement {

/// Chooses the owner of a shard among candidate hosts. Implementations are immutable after
/// construction: owner() may be called from several threads at once.
class placement_strategy {
 public:
  virtual ~placement_strategy() = default;
  /// The strategy's name as gossiped ("rendezvous", "modulo", or "plugin:<name>"); hosts with
  /// different names refuse each other.
  virtual std::string name() const = 0;
  /// Index into `hosts` (sorted by name, unique, non-empty) of the owner of `shard` out of
  /// `shards`. Always < hosts.size(); returns 0 if `hosts` is empty (a caller bug, never UB).
  virtual size_t owner(uint32_t shard, uint32_t shards,
                       const std::vector<std::string>& hosts) const = 0;
};

/// Highest-random-weight hashing: the host with the largest rendezvous_weight(name, shard)
/// owns the shard; on equal weights the smaller name (byte order) wins. A join or leave moves
/// only the shards that must move (about 1/(n+1)), and never between two unaffected hosts.
std::unique_ptr<placement_strategy> make_rendezvous();
/// shard % hosts.size() over the sorted host list: what eigr/mesh does. Not the default: going
/// from n to n+1 hosts moves about n/(n+1) of the shards (75% for 3 -> 4).
std::unique_ptr<placement_strategy> make_modulo();
/// The documented rendezvous weight, part of the wire contract (docs/PROTOCOL.md):
/// fmix64(id_hash(host bytes) XOR (shard * 0x9E3779B97F4A7C15 mod 2^64)), with id_hash from
/// mesh::wire and fmix64 the MurmurHash3 finalizer that id_hash ends with.
uint64_t rendezvous_weight(std::string_view host, uint32_t shard) noexcept;

/// The owner table of one capability: shard -> index into `hosts`.
struct shard_table {
  std::vector<std::string> hosts;  ///< sorted, unique names of the hosts with the capability
  std::vector<uint16_t> owner_of;  ///< one entry per shard; empty when `hosts` is empty
};

/// Computes the table for `hosts` (any order, duplicates allowed; sorted and deduplicated
/// inside) with `strategy`. Indices are reduced modulo the host count defensively. Throws
/// std::length_error for more than 65536 distinct hosts (owner_of holds 16-bit indices).
shard_table build_shard_table(const placement_strategy& strategy, uint32_t shards,
                              std::vector<std::string> hosts);

}  // namespace mesh::placement
