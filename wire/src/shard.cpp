#include <mesh/wire/shard.hpp>

namespace mesh::wire {

uint64_t id_hash(bytes_view id) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
  for (size_t i = 0; i < id.size; ++i) {
    h ^= id.data[i];
    h *= 0x100000001b3ULL;  // FNV-1a 64 prime
  }
  return fmix64(h);  // spreads FNV's weak low bits before the modulo
}

uint32_t shard_for(bytes_view id, uint32_t shards) noexcept {
  if (shards == 0) return 0;
  return static_cast<uint32_t>(id_hash(id) % shards);
}

}  // namespace mesh::wire
