#include "runtime/actor_directory.hpp"

#include <functional>

#include "runtime/runtime.hpp"
#include <mesh/wire/envelope.hpp>
#include <mesh/wire/shard.hpp>

namespace mesh::host {
namespace {

constexpr size_t initial_slots = 16;

/// Whether `size` entries fit in `slots` slots without passing 70% load.
bool fits(size_t size, size_t slots) noexcept { return size * 10 <= slots * 7; }

}  // namespace

uint64_t actor_directory::hash_of(std::string_view id) noexcept {
  // Not the shard hash: in a cluster this host holds only the ids of the shards it owns, so
  // id_hash % 4096 (the low 12 bits we would index with) takes only those values and would
  // cluster the probes. libstdc++'s string hash (MurmurHash2, 8 bytes a step) is independent of
  // it and about three times cheaper than the byte-wise FNV-1a of id_hash; fmix64 spreads it
  // over the low bits we index with.
  return wire::fmix64(std::hash<std::string_view>{}(id) ^ 0x9E3779B97F4A7C15ULL);
}

activation* actor_directory::find(std::string_view id, uint64_t hash) const noexcept {
  if (slots_.empty()) return nullptr;
  for (size_t i = hash & mask();; i = (i + 1) & mask()) {
    const slot& s = slots_[i];
    if (s.actor == nullptr) return nullptr;  // the table is never full, so this ends
    if (s.hash == hash && s.actor->id == id) return s.actor;
  }
}

void actor_directory::insert(uint64_t hash, activation* a) {
  if (!fits(size_ + 1, slots_.size())) grow();
  size_t i = hash & mask();
  while (slots_[i].actor != nullptr) i = (i + 1) & mask();
  slots_[i] = slot{hash, a};
  ++size_;
}

void actor_directory::erase(const activation* a, uint64_t hash) noexcept {
  if (slots_.empty()) return;
  size_t hole = hash & mask();
  while (slots_[hole].actor != a) {
    if (slots_[hole].actor == nullptr) return;
    hole = (hole + 1) & mask();
  }
  // Backward-shift deletion: pull later entries of the probe run into the hole when the hole
  // lies between their home slot and where they sit, so no lookup ever has to skip a gap.
  for (size_t next = (hole + 1) & mask(); slots_[next].actor != nullptr;
       next = (next + 1) & mask()) {
    const size_t home = slots_[next].hash & mask();
    const size_t distance_from_home = (next - home) & mask();
    const size_t distance_from_hole = (next - hole) & mask();
    if (distance_from_home >= distance_from_hole) {
      slots_[hole] = slots_[next];
      hole = next;
    }
  }
  slots_[hole] = slot{};
  --size_;
}

void actor_directory::grow() {
  std::vector<slot> old(slots_.empty() ? initial_slots : slots_.size() * 2);
  old.swap(slots_);
  for (const slot& s : old) {
    if (s.actor == nullptr) continue;
    size_t i = s.hash & mask();
    while (slots_[i].actor != nullptr) i = (i + 1) & mask();
    slots_[i] = s;
  }
}

}  // namespace mesh::host
