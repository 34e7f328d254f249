// Discovery strategies: how a host finds the gossip endpoints of its first peers. Membership
// (gossip, failure detection) takes over from there; a seed source only ever adds candidates.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mesh::discovery {

/// A source of peer gossip endpoints (e.g. "tcp://10.0.0.2:7101"). The membership thread calls
/// seeds() about once a second; it must return quickly (do slow work on a thread of its own).
class seed_source {
 public:
  virtual ~seed_source() = default;
  /// Every gossip endpoint currently known to this source (may include this host's own).
  virtual std::vector<std::string> seeds() = 0;
  /// A one-line description for the start-up log, e.g. "static (2 seeds)".
  virtual std::string describe() const = 0;
};

/// `--discovery static --seeds a,b`: the given endpoints, always. Throws std::invalid_argument
/// naming the endpoint when one is not tcp://host:port (host a name, IPv4, or [IPv6]).
std::unique_ptr<seed_source> make_static_seeds(std::vector<std::string> endpoints);

/// `--discovery multicast`: UDP beacons (libcluster's Gossip strategy defaults).
struct multicast_config {
  std::string multicast_addr = "230.1.1.251";
  uint16_t port = 45892;
  std::string if_addr = "0.0.0.0";
  int ttl = 1;
  /// When non-empty, beacons carry an HMAC with this secret and others' beacons must too.
  std::string secret;
  std::chrono::milliseconds interval{1000};
  /// What this host announces.
  std::string host_name;
  std::string gossip_endpoint;
};
/// Starts sending and receiving beacons on a thread of its own (see docs/DISCOVERY.md for the
/// beacon format). Throws std::invalid_argument for a bad setting (not a multicast group, bad
/// interface address, ttl outside 0-255, an announced endpoint that is not tcp://host:port or is
/// on 0.0.0.0/[::]) and std::runtime_error with a clear message when the socket cannot be set
/// up (no multicast route, unknown interface).
std::unique_ptr<seed_source> make_multicast_seeds(multicast_config config);

/// `--discovery dns`: polls A and AAAA records of a name (a Kubernetes headless service).
struct dns_config {
  /// Fully qualified: no search domains are applied (e.g. mesh.default.svc.cluster.local).
  std::string name;
  uint16_t gossip_port = 7101;
  std::chrono::milliseconds interval{5000};
  /// "ip:port" (or "ip", port 53; IPv4 only) of the DNS server to ask; empty uses the system
  /// resolver (/etc/resolv.conf).
  std::string server;
};
/// Resolves at once, then every interval, on a thread of its own; seeds() is empty until the
/// first success and then keeps the last good answer through failures. Throws
/// std::invalid_argument naming the flag for a bad name, port, interval or server.
std::unique_ptr<seed_source> make_dns_seeds(dns_config config);

}  // namespace mesh::discovery
