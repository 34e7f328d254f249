// mesh::client::request_table: the client's requests in flight, keyed by request id.
//
// An open table indexed by the id's low bits. The client hands out ids itself, counting up, and
// skips an id whose slot is taken (by a request that is still waiting, e.g. one with a long
// timeout), so a lookup is one index and one compare: no hashing, no node per request. Ids stay
// unique and increasing, which is all the wire protocol asks of them. Released slots keep their
// value's allocations (frames, strings) for the next request that lands there; a table that grew
// for a burst goes back to its first size once it is empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace mesh::client {

/// `Value` must be default-constructible, movable, and have `clear()`, which the table calls when
/// a slot is released (it should drop handlers and reset fields, keeping capacity).
template <class Value>
class request_table {
 public:
  /// Starts with room for `capacity` slots (rounded up to a power of two, at least 16).
  explicit request_table(size_t capacity = 256) {
    while (initial_ < capacity) initial_ *= 2;
    slots_.resize(initial_);
  }

  /// Takes the first free id at or after `next_id` (never 0), advances `next_id` past it and
  /// returns the id and its cleared value. Grows first when half the slots are in use, so that
  /// the search stays short. The reference is valid until the next insert.
  std::pair<uint64_t, Value&> insert(uint64_t& next_id) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    for (;;) {
      const uint64_t id = next_id++;
      if (id == 0) continue;
      slot& s = slots_[id & mask()];
      if (s.id != 0) continue;  // held by an older request: this id is skipped, not reused
      s.id = id;
      ++size_;
      return {id, s.value};
    }
  }

  /// The value of request `id`, or nullptr when it is not (or no longer) in the table.
  Value* find(uint64_t id) noexcept {
    if (id == 0) return nullptr;
    slot& s = slots_[id & mask()];
    return s.id == id ? &s.value : nullptr;
  }

  /// Releases request `id` (which must be in the table) and clears its value. References to
  /// values are invalid afterwards if the table became empty (it may shrink then).
  void erase(uint64_t id) {
    slot& s = slots_[id & mask()];
    s.id = 0;
    s.value.clear();
    if (--size_ == 0 && slots_.size() > initial_) std::vector<slot>(initial_).swap(slots_);
  }

  size_t size() const noexcept { return size_; }
  size_t capacity() const noexcept { return slots_.size(); }

  /// Calls `f(id, value)` for every request in the table. `f` must not insert or erase.
  template <class F>
  void for_each(F&& f) {
    for (auto& s : slots_)
      if (s.id != 0) f(s.id, s.value);
  }

  /// The first request for which `pred(id, value)` holds: its id, or 0.
  template <class Pred>
  uint64_t find_if(Pred&& pred) {
    for (auto& s : slots_)
      if (s.id != 0 && pred(s.id, s.value)) return s.id;
    return 0;
  }

 private:
  struct slot {
    uint64_t id = 0;  ///< 0: free
    Value value;
  };

  size_t mask() const noexcept { return slots_.size() - 1; }

  /// Doubles the slots. Ids that differed in their low bits still do, so nothing collides.
  void grow() {
    std::vector<slot> bigger(slots_.size() * 2);
    const size_t m = bigger.size() - 1;
    for (auto& s : slots_)
      if (s.id != 0) bigger[s.id & m] = std::move(s);
    slots_.swap(bigger);
  }

  size_t initial_ = 16;
  std::vector<slot> slots_;
  size_t size_ = 0;
};

}  // namespace mesh::client
