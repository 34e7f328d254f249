// The host's CurveZMQ gatekeeper: makes sockets CURVE servers or clients with the cluster's key
// pair, and runs the ZAP handler that decides who may complete a handshake
// (docs/SECURITY.md).
//
// Every host of a cluster shares one key pair, the cluster secret. Each listening socket gets a
// ZAP domain by role: the gossip socket admits only the host key; the request socket admits the
// host key (forwarding between hosts) and the authorized client keys. ZMQ_ZAP_ENFORCE_DOMAIN
// makes a socket refuse every peer if the handler were missing, so the host fails closed.
// Every refused handshake (unknown key, no key, a failed handshake) is counted by role and
// reason and logged, at most one line per role and reason every 10 s.
//
// Threads: serve() and start() on the thread that builds the host, before start(); the ZAP
// handler and the handshake monitors then run on the authenticator's own thread.
// connect_as_host() and counters() may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include <mesh/security/curve_keys.hpp>

namespace mesh::security {

/// Which listening socket a handshake came to; each role has its own ZAP domain.
enum class socket_role : uint8_t { requests, gossip };
inline constexpr size_t socket_role_count = 2;
std::string_view to_string(socket_role r) noexcept;

/// Why a handshake was refused.
enum class denial : uint8_t {
  unknown_key,    ///< a CURVE peer whose public key is not allowed on this socket
  no_key,         ///< a peer without CURVE (plain ZeroMQ): mechanism mismatch
  bad_handshake,  ///< any other failed handshake, e.g. a peer that expects another server key
};
inline constexpr size_t denial_count = 3;
std::string_view to_string(denial d) noexcept;

/// Refused handshakes by role and reason (the authenticator thread writes, anyone reads).
class auth_counters {
 public:
  uint64_t denied(socket_role r, denial d) const noexcept {
    return counts_[static_cast<size_t>(r)][static_cast<size_t>(d)].load(std::memory_order_relaxed);
  }
  /// Adds one; returns the new count.
  uint64_t add(socket_role r, denial d) noexcept {
    return counts_[static_cast<size_t>(r)][static_cast<size_t>(d)].fetch_add(
               1, std::memory_order_relaxed) +
           1;
  }

 private:
  std::array<std::array<std::atomic<uint64_t>, denial_count>, socket_role_count> counts_{};
};

class authenticator {
 public:
  /// Binds the ZAP handler in `context` (one per context; throws zmq::error_t if another is
  /// bound). `host` is the cluster key pair; `clients` the keys allowed to send requests.
  authenticator(zmq::context_t& context, key_pair host, const std::vector<authorized_key>& clients);
  ~authenticator();
  authenticator(const authenticator&) = delete;
  authenticator& operator=(const authenticator&) = delete;

  /// Before `s` binds, and before start(): a CURVE server with the host key in `role`'s ZAP
  /// domain, failing closed, whose refused handshakes are counted. Throws zmq::error_t.
  void serve(zmq::socket_t& s, socket_role role);
  /// Before `s` connects to another host: a CURVE client with the host key pair.
  void connect_as_host(zmq::socket_t& s) const;

  /// Starts the thread that answers ZAP requests and reads the handshake monitors.
  void start();
  /// Stops it (the destructor does too).
  void stop();

  const auth_counters& counters() const noexcept { return counters_; }
  /// The cluster's public key (Z85).
  const std::string& host_public_key() const noexcept { return host_.public_key; }

 private:
  struct monitor {
    zmq::socket_t pair;
    socket_role role;
    std::string endpoint;  ///< the monitored socket's first bound endpoint, once known
  };
  struct log_window {
    std::chrono::steady_clock::time_point next{};
    uint64_t suppressed = 0;
  };

  void loop();
  void answer_zap();
  void read_monitor(monitor& m);
  /// Counts a refusal and logs it unless a line for (role, reason) went out in the last 10 s.
  void deny(socket_role role, denial why, std::string_view detail);

  zmq::context_t& context_;
  key_pair host_;
  zmq::socket_t zap_;
  std::set<std::string> host_only_;     ///< binary public keys admitted on the gossip socket
  std::set<std::string> request_keys_;  ///< binary keys admitted on the request socket
  std::vector<std::unique_ptr<monitor>> monitors_;
  auth_counters counters_;
  std::array<std::array<log_window, denial_count>, socket_role_count> log_{};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace mesh::security
