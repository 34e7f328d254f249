// The one check every seed source applies to an endpoint before handing it out.
#pragma once

#include <string>
#include <string_view>

namespace mesh::discovery {

/// True for "tcp://host:port": host a DNS name, a dotted IPv4 address or a bracketed IPv6
/// address ("tcp://[::1]:7101"), port 1-65535 in decimal. No wildcards, paths or other schemes.
bool is_gossip_endpoint(std::string_view endpoint) noexcept;

/// True for an endpoint on the unspecified address ("tcp://0.0.0.0:7101", "tcp://[::]:7101"):
/// fine to bind, useless to announce (a peer connecting to it reaches itself).
bool is_unspecified_endpoint(std::string_view endpoint) noexcept;

/// Throws std::invalid_argument naming `what` and the endpoint unless is_gossip_endpoint().
void require_gossip_endpoint(std::string_view endpoint, std::string_view what);

/// "tcp://<address>:<port>", with an IPv6 address in brackets.
std::string make_gossip_endpoint(std::string_view address, unsigned port);

}  // namespace mesh::discovery
