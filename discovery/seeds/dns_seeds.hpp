// `--discovery dns`: polls the A and AAAA records of one name (a Kubernetes headless service
// lists one address per ready pod) and turns each address into a gossip endpoint.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mesh/discovery/seed_source.hpp"

namespace mesh::discovery {

/// Resolves on a thread of its own every interval; seeds() returns the last good answer.
class dns_seeds final : public seed_source {
 public:
  /// What happened to the polls so far; for logs, metrics and tests.
  struct counters {
    uint64_t polls = 0;
    uint64_t failures = 0;  ///< no address at all (NXDOMAIN, no data, timeout, bad reply)
  };

  /// Per-query bounds given to the resolver: one try of one second per server. A poll (A then
  /// AAAA) against one unresponsive server thus takes about 2 s; ~dns_seeds() waits at most for
  /// the one query in flight (about 1 s per configured server).
  static constexpr int k_retrans_seconds = 1;
  static constexpr int k_retry = 1;

  /// Checks the config and starts polling (the first poll happens at once). Throws
  /// std::invalid_argument for a bad name, port, interval or server.
  explicit dns_seeds(dns_config config);
  /// Stops the thread; waits at most for the query in flight.
  ~dns_seeds() override;
  dns_seeds(const dns_seeds&) = delete;
  dns_seeds& operator=(const dns_seeds&) = delete;

  std::vector<std::string> seeds() override;
  std::string describe() const override;
  counters stats() const;

 private:
  void run() noexcept;
  /// One A + AAAA round; nullopt when neither query gave an address.
  std::optional<std::vector<std::string>> poll_once() const;

  const dns_config config_;
  std::optional<sockaddr_in> server_;

  mutable std::mutex mutex_;  // guards last_good_; stop_ is set under it too (no lost wake-up)
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};
  std::vector<std::string> last_good_;
  std::atomic<uint64_t> polls_{0}, failures_{0};

  std::thread thread_;  // last: started once everything above is ready
};

}  // namespace mesh::discovery
