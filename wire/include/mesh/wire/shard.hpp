// The shard hash: which of the shards an actor id falls in. Part of the wire contract, with test
// vectors in docs/PROTOCOL.md ("The shard hash").
#pragma once

#include <mesh/wire/buffer.hpp>
#include <mesh/wire/protocol.hpp>

#include <cstdint>
#include <string_view>

namespace mesh::wire {

/// The MurmurHash3 fmix64 finalizer (part of id_hash and of the rendezvous weight).
constexpr uint64_t fmix64(uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/// 64-bit hash of an actor id: FNV-1a over the bytes, then the MurmurHash3 fmix64 finalizer.
uint64_t id_hash(bytes_view id) noexcept;
/// The shard of an actor id: id_hash(id) % shards. Part of the wire contract.
uint32_t shard_for(bytes_view id, uint32_t shards = default_shards) noexcept;
inline uint32_t shard_for(std::string_view id, uint32_t shards = default_shards) noexcept {
  return shard_for(bytes_view{reinterpret_cast<const uint8_t*>(id.data()), id.size()}, shards);
}

}  // namespace mesh::wire
