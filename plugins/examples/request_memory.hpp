// The bounded memory of applied requests that makes an actor's requests idempotent: a repeat
// finds what the original did and answers the same without applying it again.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <utility>

namespace mesh::examples {

/// The last `capacity` applied requests by key, each with what it did; remembering one more
/// forgets the oldest, so a repeat arriving after `capacity` newer requests is not recognised.
template <class Key, class Value>
class request_memory {
 public:
  explicit request_memory(size_t capacity) : capacity_(capacity) {}

  /// What the request `key` did, or nullptr when it is not remembered.
  const Value* find(const Key& key) const {
    auto it = entries_.find(key);
    return it != entries_.end() ? &it->second : nullptr;
  }

  /// Remembers request `key` (not remembered yet) with what it did.
  void remember(Key key, Value value) {
    if (order_.size() == capacity_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    order_.push_back(entries_.emplace(std::move(key), std::move(value)).first);
  }

  size_t size() const noexcept { return entries_.size(); }

 private:
  using entries = std::map<Key, Value>;
  size_t capacity_;
  entries entries_;
  /// Insertion order, oldest first (map iterators stay valid until their entry is erased).
  std::deque<typename entries::iterator> order_;
};

}  // namespace mesh::examples
