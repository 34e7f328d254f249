#include "config/discovery_registry.hpp"

#include <stdexcept>

#include "config/factory_registry.hpp"
#include "server/host_config.hpp"

namespace mesh::host {
namespace {

using seed_factory = std::unique_ptr<discovery::seed_source> (*)(const discovery_settings&,
                                                                 const discovery_context&);

std::unique_ptr<discovery::seed_source> make_static(const discovery_settings& s,
                                                    const discovery_context&) {
  return discovery::make_static_seeds(s.seeds);
}

std::unique_ptr<discovery::seed_source> make_multicast(const discovery_settings& s,
                                                       const discovery_context& self) {
  discovery::multicast_config config = s.multicast;
  config.host_name = self.host_name;
  config.gossip_endpoint = self.gossip_endpoint;
  return discovery::make_multicast_seeds(std::move(config));
}

std::unique_ptr<discovery::seed_source> make_dns(const discovery_settings& s,
                                                 const discovery_context&) {
  if (s.dns.name.empty()) throw std::invalid_argument("--discovery dns needs --dns-name");
  discovery::dns_config config = s.dns;
  config.interval = parse_duration(s.dns_interval);
  return discovery::make_dns_seeds(std::move(config));
}

/// Adding a discovery strategy is adding a row here (and its flags in command_line.cpp).
const factory_registry<seed_factory>& strategies() {
  static const factory_registry<seed_factory> table{
      {"static", &make_static},
      {"multicast", &make_multicast},
      {"dns", &make_dns},
  };
  return table;
}

}  // namespace

std::vector<std::string> discovery_strategy_names() { return strategies().names(); }

std::unique_ptr<discovery::seed_source> make_seed_source(const discovery_settings& settings,
                                                         const discovery_context& self) {
  const auto* make = strategies().find(settings.strategy);
  if (make == nullptr)
    throw std::invalid_argument("unknown discovery \"" + settings.strategy + "\" (expected " +
                                strategies().joined_names() + ")");
  return (*make)(settings, self);
}

}  // namespace mesh::host
