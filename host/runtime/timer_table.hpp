// Actors' timers (host services, ABI 1.2): one table per runtime, shared by every thread that
// runs handlers, behind one mutex.
//
// Why one locked table rather than the dispatcher's alone: a handler arms and cancels timers on
// whichever thread runs it, and `timer_cancel` must answer at once, and truly: no firing may be
// delivered after it returns 1. So arming, cancelling, firing and delivering all go through the
// same lock (held for a few hundred nanoseconds; timers are rare next to calls).
//
// Memory: a timer is one 56-byte slot in a deque (fixed blocks, no doubling slack) plus one
// 4-byte index in an indexed binary min-heap; freed slots are reused. A handle is the slot's
// index and a generation, so a stale handle (the slot was reused) is recognised.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace mesh::host {

struct activation;

/// One timer that fired: what the dispatcher puts in the actor's mailbox.
struct timer_firing {
  activation* actor;
  uint64_t activation_no;  ///< the activation that armed it
  uint64_t handle;
  uint64_t tag;
};

class timer_table {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr uint32_t none = UINT32_MAX;

  /// Arms a timer for `a` (activation number `activation_no`), first due at `due`, then every
  /// `period` (0: once) after each delivery ends. `head` is the activation's list of timers.
  /// Returns its handle, or 0 when `a` already has `cap` timers.
  uint64_t start(activation* a, uint64_t activation_no, uint32_t& head, uint32_t& count,
                 clock::time_point due, std::chrono::milliseconds period, uint64_t tag,
                 uint32_t cap);
  /// Cancels `handle` if it is one of `a`'s timers; true when it was.
  bool cancel(activation* a, uint32_t& head, uint32_t& count, uint64_t handle);
  /// Cancels every timer of `a`; returns how many.
  size_t cancel_all(uint32_t& head, uint32_t& count);

  /// Dispatcher: moves the timers due at `now`, at most `limit` of them, into `out` (they stay
  /// allocated, out of the heap, until deliver() settles them).
  void take_due(clock::time_point now, std::vector<timer_firing>& out, size_t limit = SIZE_MAX);
  /// A firing reached its actor's turn: true when the timer is still armed (deliver it). A
  /// one-shot timer is freed here; a periodic one waits, out of the heap, for rearm().
  bool deliver(uint64_t handle, uint32_t& head, uint32_t& count, bool& periodic);
  /// After a periodic firing's handler ended at `now`: the next period starts.
  void rearm(uint64_t handle, clock::time_point now);

  /// The earliest due time, or time_point::max() when no timer is armed.
  clock::time_point next_due();
  /// Timers allocated (armed or firing).
  size_t size();

 private:
  struct slot {
    int64_t due_ns = 0;
    uint64_t tag = 0;
    activation* actor = nullptr;
    uint64_t activation_no = 0;
    uint32_t period_ms = 0;
    uint32_t generation = 0;  ///< odd while allocated
    uint32_t heap_pos = none;  ///< none: not in the heap (firing, or free)
    uint32_t next = none;      ///< in the actor's list, or the free list
    uint32_t prev = none;
  };
  static uint64_t handle_of(uint32_t index, uint32_t generation) noexcept {
    return (uint64_t{generation} << 32) | index;
  }
  /// The slot `handle` names, if it is allocated; else nullptr.
  slot* find(uint64_t handle) noexcept;
  void release(uint32_t index, uint32_t& head, uint32_t& count) noexcept;
  void heap_push(uint32_t index);
  void heap_remove(uint32_t pos);
  void sift_up(uint32_t pos);
  void sift_down(uint32_t pos);
  bool earlier(uint32_t a, uint32_t b) const noexcept {
    return slots_[a].due_ns < slots_[b].due_ns;
  }

  std::mutex mutex_;
  std::deque<slot> slots_;
  std::vector<uint32_t> heap_;
  uint32_t free_ = none;
  size_t allocated_ = 0;
};

}  // namespace mesh::host
