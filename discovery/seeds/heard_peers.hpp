// The endpoints heard from other hosts' beacons, each kept until it goes quiet. Time is passed
// in, so the expiry rule is tested by stepping a clock rather than by waiting.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace mesh::discovery {

/// Last time each gossip endpoint was heard. Not thread-safe: the owner locks around it.
class heard_peers {
 public:
  using clock = std::chrono::steady_clock;

  /// Endpoints not heard for longer than `stale_after` are dropped; at most `capacity` are kept
  /// (a flood of forged names cannot grow memory without bound).
  heard_peers(clock::duration stale_after, std::size_t capacity);

  /// Records a beacon for `endpoint` at `now`. Returns false when the table is full of
  /// endpoints that are all still fresh and `endpoint` is new (the beacon is then ignored).
  bool heard(const std::string& endpoint, clock::time_point now);

  /// The endpoints heard within `stale_after` of `now`, sorted; forgets the others.
  std::vector<std::string> fresh(clock::time_point now);

 private:
  void expire(clock::time_point now);

  clock::duration stale_after_;
  std::size_t capacity_;
  std::map<std::string, clock::time_point> last_heard_;
};

}  // namespace mesh::discovery
