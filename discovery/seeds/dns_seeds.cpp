#include "dns_seeds.hpp"

// clang-format off
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
// clang-format on

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "gossip_endpoint.hpp"

namespace mesh::discovery {
namespace {

// Large enough for any UDP answer and most TCP ones; a longer answer is parsed as truncated.
constexpr int k_answer_bytes = 65535;

dns_config checked(dns_config c) {
  if (c.name.empty() || c.name.size() > 253) {
    throw std::invalid_argument("--dns-name: must be a DNS name of 1-253 characters");
  }
  if (!is_gossip_endpoint("tcp://" + c.name + ":1")) {
    throw std::invalid_argument("--dns-name: '" + c.name + "' is not a valid DNS name");
  }
  if (c.gossip_port == 0) throw std::invalid_argument("--dns-port: must be 1-65535");
  if (c.interval.count() <= 0) throw std::invalid_argument("--dns-interval: must be positive");
  return c;
}

// "ip" or "ip:port" (IPv4 only: the resolver's nsaddr_list holds sockaddr_in).
std::optional<sockaddr_in> parse_server(const std::string& text) {
  if (text.empty()) return std::nullopt;
  const auto error = [&text] {
    return std::invalid_argument("--dns-server: '" + text +
                                 "' is not an IPv4 address with an optional :port "
                                 "(e.g. 10.96.0.10 or 127.0.0.1:5353)");
  };
  std::string host = text;
  unsigned port = 53;
  if (const auto colon = text.find(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    const std::string digits = text.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      throw error();
    }
    port = static_cast<unsigned>(std::stoul(digits));
    if (port == 0 || port > 65535) throw error();
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) throw error();
  return addr;
}

// Appends the addresses of type `type` found in the answer section; false when the query failed
// (NXDOMAIN, no data, timeout, unparsable reply).
bool query(res_state state, const std::string& name, int type, std::vector<std::string>& out) {
  std::vector<unsigned char> answer(k_answer_bytes);
  const int length = ::res_nquery(state, name.c_str(), ns_c_in, type, answer.data(),
                                  static_cast<int>(answer.size()));
  if (length <= 0) return false;
  ns_msg message{};
  if (::ns_initparse(answer.data(), std::min(length, k_answer_bytes), &message) != 0) return false;
  const int count = ns_msg_count(message, ns_s_an);
  bool found = false;
  for (int i = 0; i < count; ++i) {
    ns_rr record{};
    if (::ns_parserr(&message, ns_s_an, i, &record) != 0) break;
    if (ns_rr_class(record) != ns_c_in || ns_rr_type(record) != type) continue;  // e.g. CNAME
    char text[INET6_ADDRSTRLEN] = {};
    if (type == ns_t_a && ns_rr_rdlen(record) == 4) {
      ::inet_ntop(AF_INET, ns_rr_rdata(record), text, sizeof text);
    } else if (type == ns_t_aaaa && ns_rr_rdlen(record) == 16) {
      ::inet_ntop(AF_INET6, ns_rr_rdata(record), text, sizeof text);
    } else {
      continue;
    }
    out.emplace_back(text);
    found = true;
  }
  return found;
}

}  // namespace

dns_seeds::dns_seeds(dns_config config)
    : config_(checked(std::move(config))), server_(parse_server(config_.server)) {
  thread_ = std::thread([this] { run(); });
}

dns_seeds::~dns_seeds() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  thread_.join();
}

std::vector<std::string> dns_seeds::seeds() {
  std::lock_guard lock(mutex_);
  return last_good_;
}

std::string dns_seeds::describe() const {
  return "dns " + config_.name + " (A/AAAA) every " + std::to_string(config_.interval.count()) +
         " ms via " +
         (config_.server.empty() ? std::string("the system resolver") : config_.server) +
         ", gossip port " + std::to_string(config_.gossip_port);
}

dns_seeds::counters dns_seeds::stats() const { return {polls_.load(), failures_.load()}; }

void dns_seeds::run() noexcept {
  std::unique_lock lock(mutex_);
  while (!stop_.load()) {
    lock.unlock();
    std::optional<std::vector<std::string>> answer;
    try {
      answer = poll_once();
    } catch (...) {
    }
    ++polls_;
    lock.lock();
    if (answer) {
      last_good_ = std::move(*answer);
    } else {
      ++failures_;  // keep the last good answer: a DNS hiccup must not empty the seed list
    }
    wake_.wait_for(lock, config_.interval, [this] { return stop_.load(); });
  }
}

std::optional<std::vector<std::string>> dns_seeds::poll_once() const {
  // A fresh resolver state per poll: picks up /etc/resolv.conf changes, and nothing is shared
  // with other threads.
  struct __res_state state {};
  if (::res_ninit(&state) != 0) {
    ::res_nclose(&state);
    return std::nullopt;
  }
  state.retrans = k_retrans_seconds;
  state.retry = k_retry;
  if (server_) {
    state.nsaddr_list[0] = *server_;
    state.nscount = 1;
  }
  std::vector<std::string> addresses;
  const bool a = query(&state, config_.name, ns_t_a, addresses);
  const bool aaaa = !stop_.load() && query(&state, config_.name, ns_t_aaaa, addresses);
  ::res_nclose(&state);
  if (!a && !aaaa) return std::nullopt;

  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  std::vector<std::string> endpoints;
  endpoints.reserve(addresses.size());
  for (const auto& address : addresses) {
    endpoints.push_back(make_gossip_endpoint(address, config_.gossip_port));
  }
  return endpoints;
}

std::unique_ptr<seed_source> make_dns_seeds(dns_config config) {
  return std::make_unique<dns_seeds>(std::move(config));
}

}  // namespace mesh::discovery
