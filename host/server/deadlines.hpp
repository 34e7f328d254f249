// The deadlines of the requests a host has accepted and not yet answered: the calls the runtime
// runs and the requests forwarded to other hosts. Each is known by a sequence number that this
// class hands out (one counter for both kinds, so that a number names one request), plus, for a
// call, its slot in the server's call table.
//
// One FIFO per distinct timeout keeps each FIFO sorted by deadline for free: a request is tracked
// with one push, and the next deadline is the earliest front. Entries are not removed when their
// request is answered; expire() drops them when it reaches them. Dispatcher-owned: no locking.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <map>
#include <optional>

namespace mesh::host {

/// A tracked request's deadline.
struct deadline_entry {
  std::chrono::steady_clock::time_point deadline;
  uint64_t seq;   ///< the request's sequence number (from deadlines::next_seq)
  uint32_t slot;  ///< a call's slot in the call table, or deadlines::no_slot for a forward
};

/// Deadlines in order, per timeout.
class deadlines {
 public:
  using clock = std::chrono::steady_clock;
  /// The slot of an entry that is not a call (a forwarded request).
  static constexpr uint32_t no_slot = UINT32_MAX;
  /// Distinct timeouts with a FIFO of their own; others share the largest one (and may expire a
  /// little late).
  static constexpr size_t max_queues = 64;

  /// A new sequence number (never 0) for a request to track.
  uint64_t next_seq() noexcept { return next_seq_++; }

  /// Tracks request `seq` (and `slot`), accepted with `timeout_ms`, until `deadline`.
  void track(uint32_t timeout_ms, clock::time_point deadline, uint64_t seq,
             uint32_t slot = no_slot) {
    auto it = queues_.lower_bound(timeout_ms);
    if (it == queues_.end() || it->first != timeout_ms) {
      if (queues_.size() < max_queues) {
        it = queues_.emplace_hint(it, timeout_ms, std::deque<deadline_entry>{});
      } else if (it == queues_.end()) {
        it = std::prev(queues_.end());  // beyond the tracked set: may expire a little late
      }
    }
    it->second.push_back(deadline_entry{deadline, seq, slot});
  }

  /// The earliest deadline tracked (answered requests included), or nullopt if none.
  std::optional<clock::time_point> next() const {
    std::optional<clock::time_point> next;
    for (const auto& [ms, fifo] : queues_)
      if (!fifo.empty() && (!next || fifo.front().deadline < *next)) next = fifo.front().deadline;
    return next;
  }

  /// Walks each FIFO from its front: drops the entries for which `answered(entry)` holds, and
  /// calls `expire(entry, timeout_ms)` for (then drops) those whose deadline is not after `now`;
  /// stops at the first unanswered entry still due later.
  template <class Answered, class Expire>
  void expire(clock::time_point now, Answered&& answered, Expire&& expire) {
    for (auto& [ms, fifo] : queues_) {
      while (!fifo.empty()) {
        const deadline_entry front = fifo.front();
        if (answered(front)) {
          fifo.pop_front();
          continue;
        }
        if (front.deadline > now) break;
        fifo.pop_front();
        expire(front, ms);
      }
    }
  }

 private:
  std::map<uint32_t, std::deque<deadline_entry>> queues_;  ///< timeout_ms -> in deadline order
  uint64_t next_seq_ = 1;
};

}  // namespace mesh::host
