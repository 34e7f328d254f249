// The live actors of one module, by id: a flat open-addressing hash table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace mesh::host {

struct activation;

/// Maps an actor id to its activation. The table holds only {hash, activation*} pairs; the id
/// itself lives once, in the activation (`activation::id`), and is compared on a hash match.
///
/// Linear probing, grown to twice the size at 70% load, and backward-shift deletion (no
/// tombstones), so a lookup touches one or two cache lines of slots and then one activation.
/// Owned by the dispatcher thread; not thread-safe.
class actor_directory {
 public:
  /// The hash every method takes: compute it once per request and pass it along.
  static uint64_t hash_of(std::string_view id) noexcept;

  /// The activation for `id` (whose hash is `hash`), or nullptr.
  activation* find(std::string_view id, uint64_t hash) const noexcept;

  /// Adds `a`, whose id must not be in the table yet; `hash` is hash_of(a->id).
  void insert(uint64_t hash, activation* a);

  /// Removes `a` (looked up by its id and `hash`); does nothing if it is not there.
  void erase(const activation* a, uint64_t hash) noexcept;

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  /// Calls `f(activation*)` for every entry. `f` must not insert or erase.
  template <class F>
  void for_each(F&& f) const {
    for (const slot& s : slots_)
      if (s.actor != nullptr) f(s.actor);
  }

 private:
  struct slot {
    uint64_t hash = 0;
    activation* actor = nullptr;  ///< nullptr: empty
  };

  void grow();
  size_t mask() const noexcept { return slots_.size() - 1; }

  std::vector<slot> slots_;  // size is 0 or a power of two
  size_t size_ = 0;
};

}  // namespace mesh::host
