// Discovery strategies by name (--discovery static|multicast|dns): how a host finds the gossip
// endpoints of its first peers (discovery/include/mesh/discovery/seed_source.hpp).
#pragma once

#include <memory>
#include <mesh/discovery/seed_source.hpp>
#include <string>
#include <vector>

namespace mesh::host {

/// What the command line says about discovery; each strategy reads its own fields.
struct discovery_settings {
  /// The --discovery name: a key of discovery_strategy_names().
  std::string strategy = "static";
  /// static: the peers' gossip endpoints (--seeds).
  std::vector<std::string> seeds;
  /// multicast: group, port, interface, TTL, secret; host_name and gossip_endpoint are filled
  /// from the discovery_context.
  discovery::multicast_config multicast;
  /// dns: name, port, server; interval comes from dns_interval.
  discovery::dns_config dns;
  /// dns: --dns-interval as given, read only when the dns strategy is made.
  std::string dns_interval = "5s";
};

/// This host as its peers will know it, once its gossip socket is bound.
struct discovery_context {
  std::string host_name;
  /// The advertised gossip endpoint (tcp://host:port).
  std::string gossip_endpoint;
};

/// Every discovery strategy's name, in the order --help lists them.
std::vector<std::string> discovery_strategy_names();

/// Makes the seed source `settings.strategy` names. Throws std::invalid_argument for an unknown
/// name (listing the known ones) or a bad setting of the strategy (naming the flag), and
/// std::runtime_error when its socket cannot be set up. Meant for start-up.
std::unique_ptr<discovery::seed_source> make_seed_source(const discovery_settings& settings,
                                                         const discovery_context& self);

}  // namespace mesh::host
