// `--discovery multicast`: every host sends a beacon to a UDP multicast group each interval and
// listens for the others' (libcluster's Gossip strategy, same group and port by default).
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "beacon.hpp"
#include "heard_peers.hpp"
#include "mesh/discovery/seed_source.hpp"

namespace mesh::discovery {

/// Sends and receives beacons on a thread of its own; seeds() reads what it heard.
class multicast_seeds final : public seed_source {
 public:
  /// What happened to datagrams so far; for logs, metrics and tests.
  struct counters {
    uint64_t sent = 0;
    uint64_t send_failed = 0;
    uint64_t accepted = 0;
    uint64_t malformed = 0;  ///< garbage, truncated, too long, bad fields
    uint64_t unsupported_version = 0;
    uint64_t unauthenticated = 0;  ///< missing or wrong HMAC while we have a secret
    uint64_t unexpected_tag = 0;   ///< signed beacon while we have no secret
    uint64_t table_full = 0;       ///< new endpoint dropped: too many fresh ones already
  };

  /// A peer is dropped when nothing was heard from it for this many intervals (three beacons in
  /// a row lost, plus room for jitter and scheduling).
  static constexpr int k_stale_after_halves = 9;  // 4.5 intervals
  /// At most this many endpoints are remembered.
  static constexpr std::size_t k_capacity = 4096;

  /// Opens and joins the group, then starts the thread. Throws std::invalid_argument for a bad
  /// config value and std::runtime_error when the socket cannot be set up.
  explicit multicast_seeds(multicast_config config);
  /// Stops the thread (wakes it at once) and closes the socket.
  ~multicast_seeds() override;
  multicast_seeds(const multicast_seeds&) = delete;
  multicast_seeds& operator=(const multicast_seeds&) = delete;

  std::vector<std::string> seeds() override;
  std::string describe() const override;
  counters stats() const;

 private:
  void run() noexcept;
  void send_beacon() noexcept;
  void receive_all() noexcept;

  const multicast_config config_;
  const beacon_key key_;
  sockaddr_in group_{};
  int socket_ = -1;
  int wake_ = -1;  // eventfd: the destructor writes to it to end poll() at once
  std::atomic<bool> stop_{false};

  mutable std::mutex mutex_;  // guards peers_
  heard_peers peers_;

  std::atomic<uint64_t> sent_{0}, send_failed_{0}, accepted_{0}, malformed_{0},
      unsupported_version_{0}, unauthenticated_{0}, unexpected_tag_{0}, table_full_{0};

  std::thread thread_;  // last: started once everything above is ready
};

}  // namespace mesh::discovery
