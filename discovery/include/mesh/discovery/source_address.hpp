// Outgoing connections leave from the address the host serves on.
//
// A host told to serve on one address of a machine with several (127.0.0.2, a second interface)
// connects to its peers from that address too, so that a peer, a firewall rule or a fault test
// sees one address per host. libzmq takes the source address as "tcp://SOURCE:PORT;DESTINATION"
// (port 0: any; without a port the connection silently never happens).
#pragma once

#include <string>
#include <string_view>

namespace mesh::discovery {

/// `remote` to connect to from the address of `local` (an endpoint this process bound), or
/// `remote` unchanged when `local` is not a specific IPv4 address (a wildcard, a name, IPv6), when
/// `remote` is not tcp://, or when `local` is loopback and `remote` is not (it could not answer).
inline std::string connect_from(std::string_view local, std::string_view remote) {
  constexpr std::string_view tcp = "tcp://";
  if (local.substr(0, tcp.size()) != tcp || remote.substr(0, tcp.size()) != tcp) {
    return std::string(remote);
  }
  const std::string_view local_rest = local.substr(tcp.size());
  const std::string_view remote_rest = remote.substr(tcp.size());
  if (remote_rest.find(';') != std::string_view::npos) return std::string(remote);  // has one
  const auto colon = local_rest.rfind(':');
  if (colon == std::string_view::npos) return std::string(remote);
  const std::string_view ip = local_rest.substr(0, colon);
  if (ip.empty() || ip == "*" || ip == "0.0.0.0") return std::string(remote);
  for (const char c : ip) {
    if ((c < '0' || c > '9') && c != '.') return std::string(remote);  // a name or IPv6
  }
  const bool local_loopback = ip.substr(0, 4) == "127.";
  const bool remote_loopback = remote_rest.substr(0, 4) == "127." ||
                               remote_rest.substr(0, 10) == "localhost:";
  if (local_loopback && !remote_loopback) return std::string(remote);
  std::string out(tcp);
  out.append(ip).append(":0;").append(remote_rest);  // port 0: any (libzmq needs one)
  return out;
}

}  // namespace mesh::discovery
