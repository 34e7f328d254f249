// The membership thread: publishes this host's gossip on an XPUB socket every heartbeat,
// subscribes (XSUB) to every known peer's XPUB socket and sends the same gossip upstream over it,
// so a seed hears of a host that names it as a seed; runs failure detection, and reports each
// new view to the host.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "mesh/discovery/membership.hpp"
#include "mesh/discovery/seed_source.hpp"
#include "mesh/discovery/socket_setup.hpp"

namespace mesh::discovery {

/// A snapshot handed to the host whenever membership changes (and once a second).
struct membership_snapshot {
  member_view view;
  std::vector<member_info> members;
};

class membership_service {
 public:
  using callback = std::function<void(std::shared_ptr<const membership_snapshot>)>;

  /// Binds the PUB socket on `gossip_bind` (port `*` picks one); `self.gossip` is set to the
  /// bound endpoint. `on_change` is called on the membership thread. `setup` secures both
  /// sockets (the XPUB before it binds, the XSUB before it connects), if given.
  membership_service(zmq::context_t& context, member_record self, const std::string& gossip_bind,
                     failure_profile profile, std::unique_ptr<seed_source> seeds,
                     callback on_change, const socket_setup& setup = {});
  ~membership_service();
  membership_service(const membership_service&) = delete;
  membership_service& operator=(const membership_service&) = delete;

  /// Before start(): where to find the first peers (a multicast source needs the bound gossip
  /// endpoint, so it is made after the constructor).
  void set_seed_source(std::unique_ptr<seed_source> seeds) { seeds_ = std::move(seeds); }
  /// Starts the membership thread.
  void start();
  /// Stops it (after leave(), peers see the departure before the silence).
  void stop();

  /// Thread-safe: this host now has these capabilities (gossiped, rebalances like a join).
  void set_capabilities(std::vector<std::string> capabilities);
  /// Thread-safe: announce that this host is leaving, immediately.
  void leave();

  const std::string& gossip_endpoint() const noexcept { return gossip_endpoint_; }
  /// Malformed gossip messages received so far.
  uint64_t decode_errors() const noexcept { return decode_errors_.load(); }

 private:
  void loop();
  void publish();
  /// Merges every gossip message waiting on `socket` (the SUB side, or the PUB side's upstream).
  void receive(zmq::socket_t& socket);
  void connect_new(const std::vector<std::string>& endpoints);

  zmq::socket_t pub_;  ///< XPUB: our gossip downstream; peers' gossip sent upstream to us
  zmq::socket_t sub_;  ///< XSUB: peers' gossip; our gossip upstream to the hosts we follow
  std::string gossip_endpoint_;
  membership state_;
  std::unique_ptr<seed_source> seeds_;
  callback on_change_;
  std::set<std::string> connected_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> decode_errors_{0};

  std::mutex commands_mutex_;
  std::optional<std::vector<std::string>> new_capabilities_;
  bool leave_requested_ = false;
};

}  // namespace mesh::discovery
