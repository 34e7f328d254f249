#include "gossip_endpoint.hpp"

#include <arpa/inet.h>

#include <stdexcept>
#include <string>

namespace mesh::discovery {
namespace {

constexpr std::string_view k_scheme = "tcp://";
constexpr std::size_t k_max_host = 253;

bool is_dns_name(std::string_view host) noexcept {
  if (host.empty() || host.size() > k_max_host) return false;
  std::size_t label = 0;
  for (const char c : host) {
    if (c == '.') {
      if (label == 0) return false;  // empty label: "a..b" or ".a"
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return true;  // a trailing dot (absolute name) is fine
}

bool is_ipv6(std::string_view text) noexcept {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  const std::string copy(text);
  in6_addr addr{};
  return ::inet_pton(AF_INET6, copy.c_str(), &addr) == 1;
}

}  // namespace

bool is_gossip_endpoint(std::string_view endpoint) noexcept {
  if (endpoint.substr(0, k_scheme.size()) != k_scheme) return false;
  const std::string_view rest = endpoint.substr(k_scheme.size());
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view host = rest.substr(0, colon);
  const std::string_view port = rest.substr(colon + 1);

  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return false;

  if (!host.empty() && host.front() == '[') {
    return host.size() > 2 && host.back() == ']' && is_ipv6(host.substr(1, host.size() - 2));
  }
  return is_dns_name(host);  // dotted IPv4 addresses are valid DNS names syntactically
}

bool is_unspecified_endpoint(std::string_view endpoint) noexcept {
  if (!is_gossip_endpoint(endpoint)) return false;
  const std::string_view rest = endpoint.substr(k_scheme.size());
  const std::string_view host = rest.substr(0, rest.rfind(':'));
  if (host == "0.0.0.0") return true;
  if (host.front() != '[') return false;
  const std::string inner(host.substr(1, host.size() - 2));
  in6_addr addr{};
  return ::inet_pton(AF_INET6, inner.c_str(), &addr) == 1 && IN6_IS_ADDR_UNSPECIFIED(&addr);
}

void require_gossip_endpoint(std::string_view endpoint, std::string_view what) {
  if (is_gossip_endpoint(endpoint)) return;
  throw std::invalid_argument(std::string(what) + ": '" + std::string(endpoint) +
                              "' is not a gossip endpoint of the form tcp://host:port "
                              "(IPv6 in brackets, port 1-65535)");
}

std::string make_gossip_endpoint(std::string_view address, unsigned port) {
  std::string out(k_scheme);
  if (address.find(':') != std::string_view::npos) {
    out.append("[").append(address).append("]");
  } else {
    out.append(address);
  }
  return out.append(":").append(std::to_string(port));
}

}  // namespace mesh::discovery
