// The protocol's version, its defaults and limits, and the operations a request can ask for
// (docs/PROTOCOL.md, "Envelopes").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mesh::wire {

/// Protocol major version carried in every envelope as "v".
inline constexpr uint32_t protocol_version = 1;
/// Shard count when none is configured.
inline constexpr uint32_t default_shards = 4096;
/// Call timeout when the request names none, and the largest one accepted.
inline constexpr uint32_t default_timeout_ms = 5000;
inline constexpr uint32_t max_timeout_ms = 3'600'000;

/// What a request asks for.
enum class op : uint8_t {
  call,
  cast,
  register_capabilities,
  capabilities,
  shard,
  ping,
  members,    ///< the membership as this host sees it
  nodes_for,  ///< hosts that have a capability (like Mesh.nodes_for)
  owner,      ///< shard and owner host of an id in a capability
  stats,      ///< the host's counters (docs/PROTOCOL.md, docs/OPERATIONS.md)
  actors,     ///< the live activations on this host, paged
};

/// Number of ops in `op` (for tables indexed by op).
inline constexpr size_t op_count = static_cast<size_t>(op::actors) + 1;
/// `actors`: page size when the request names none, and the largest one accepted.
inline constexpr uint32_t default_actors_limit = 100;
inline constexpr uint32_t max_actors_limit = 1000;

/// The wire name of `kind`, e.g. "register_capabilities".
std::string_view to_string(op kind) noexcept;
/// Parses a wire name; nullopt for an op this version does not know.
std::optional<op> op_from_string(std::string_view name) noexcept;

}  // namespace mesh::wire
