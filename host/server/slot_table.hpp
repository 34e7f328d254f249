// The calls the runtime is running, each in a numbered slot. A deadline entry remembers the slot
// and the call's sequence number; once the call is answered its slot is reused, so a late entry
// finds another sequence number there (or none) and knows the call is gone. Adding, finding and
// removing cost an index, with no allocation once the table has grown to the calls in flight
// (a hash map of pending calls cost a node allocation and two hash lookups per call).
// Dispatcher-owned: no locking.
#pragma once

#include <cstdint>
#include <vector>

namespace mesh::host {

template <class T>
class slot_table {
 public:
  /// No slot: an entry that refers to no call.
  static constexpr uint32_t none = UINT32_MAX;

  /// Puts `item` (known by `seq`, unique and never 0) in a free slot and returns the slot.
  uint32_t add(uint64_t seq, T* item) {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(entries_.size());
      entries_.push_back({});
    }
    entries_[slot] = entry{seq, item};
    ++size_;
    return slot;
  }

  /// The item in `slot` if it is still the one known by `seq`, else nullptr.
  T* find(uint32_t slot, uint64_t seq) const noexcept {
    if (slot >= entries_.size() || entries_[slot].seq != seq) return nullptr;
    return entries_[slot].item;
  }

  /// Frees `slot` (which must hold an item).
  void remove(uint32_t slot) {
    entries_[slot] = entry{};
    free_.push_back(slot);
    --size_;
  }

  size_t size() const noexcept { return size_; }

 private:
  struct entry {
    uint64_t seq = 0;
    T* item = nullptr;
  };
  std::vector<entry> entries_;
  std::vector<uint32_t> free_;
  size_t size_ = 0;
};

}  // namespace mesh::host
