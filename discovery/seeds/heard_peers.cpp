#include "heard_peers.hpp"

namespace mesh::discovery {

heard_peers::heard_peers(clock::duration stale_after, std::size_t capacity)
    : stale_after_(stale_after), capacity_(capacity) {}

bool heard_peers::heard(const std::string& endpoint, clock::time_point now) {
  const auto it = last_heard_.find(endpoint);
  if (it != last_heard_.end()) {
    it->second = now;
    return true;
  }
  if (last_heard_.size() >= capacity_) expire(now);
  if (last_heard_.size() >= capacity_) return false;
  last_heard_.emplace(endpoint, now);
  return true;
}

std::vector<std::string> heard_peers::fresh(clock::time_point now) {
  expire(now);
  std::vector<std::string> out;
  out.reserve(last_heard_.size());
  for (const auto& [endpoint, when] : last_heard_) out.push_back(endpoint);
  return out;
}

void heard_peers::expire(clock::time_point now) {
  for (auto it = last_heard_.begin(); it != last_heard_.end();) {
    if (now - it->second > stale_after_) {
      it = last_heard_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace mesh::discovery
