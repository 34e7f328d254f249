// Requests sent with "once": true. A client re-sends a request with the same rid when the host
// it went through left the view; that host may already have forwarded it to the owner, so the
// owner may see it twice. The owner remembers each such request by (rid, actor) from the moment
// it is admitted until `keep` after it finished, with its encoded reply: a repeat that arrives
// while it runs waits for the same reply, one that arrives later gets the stored reply, and the
// handler runs once. Dispatcher-owned: no locking.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mesh::host {

template <class Waiter>
class once_table {
 public:
  using clock = std::chrono::steady_clock;

  struct entry {
    bool done = false;
    std::string reply;            ///< the encoded reply envelope, once done
    std::vector<Waiter> waiters;  ///< repeats that arrived while the original ran
  };

  /// Keeps finished entries for `keep`, and at most `capacity` of them (the oldest go first).
  once_table(size_t capacity, clock::duration keep) : capacity_(capacity), keep_(keep) {}

  /// The entry of (rid, actor) if the request was seen before; otherwise records it as running
  /// and returns nullptr (the caller runs it and calls finish()).
  entry* admit(uint64_t rid, uint64_t actor) {
    auto [it, fresh] = entries_.try_emplace(key{rid, actor});
    return fresh ? nullptr : &it->second;
  }

  /// The original finished with `reply`: stores it for later repeats and hands back the repeats
  /// that waited. A request that was never admitted (or already expired) returns nothing.
  std::vector<Waiter> finish(uint64_t rid, uint64_t actor, std::string_view reply,
                             clock::time_point now) {
    auto it = entries_.find(key{rid, actor});
    if (it == entries_.end() || it->second.done) return {};
    it->second.done = true;
    it->second.reply.assign(reply);
    finished_.push_back({now + keep_, it->first});
    while (finished_.size() > capacity_) drop_oldest();
    return std::exchange(it->second.waiters, {});
  }

  /// Forgets finished entries older than `keep`.
  void expire(clock::time_point now) {
    while (!finished_.empty() && finished_.front().expires <= now) drop_oldest();
  }

  size_t size() const noexcept { return entries_.size(); }

 private:
  struct key {
    uint64_t rid;
    uint64_t actor;
    bool operator==(const key&) const = default;
  };
  struct key_hash {
    size_t operator()(const key& k) const noexcept {
      return static_cast<size_t>(k.rid * 0x9E3779B97F4A7C15ULL ^ k.actor);
    }
  };
  struct finished {
    clock::time_point expires;
    key k;
  };

  void drop_oldest() {
    entries_.erase(finished_.front().k);
    finished_.pop_front();
  }

  size_t capacity_;
  clock::duration keep_;
  std::unordered_map<key, entry, key_hash> entries_;
  std::deque<finished> finished_;  // in finishing order, so also in expiry order
};

}  // namespace mesh::host
