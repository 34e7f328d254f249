#include "multicast_seeds.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sodium.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <utility>

#include "gossip_endpoint.hpp"

namespace mesh::discovery {
namespace {

using clock = std::chrono::steady_clock;

// Most datagrams handled per wake-up, so that a flood cannot starve our own beacons.
constexpr int k_max_batch = 256;

in_addr parse_ipv4(const std::string& text, const char* flag) {
  in_addr addr{};
  if (::inet_pton(AF_INET, text.c_str(), &addr) != 1) {
    throw std::invalid_argument(std::string(flag) + ": '" + text + "' is not an IPv4 address");
  }
  return addr;
}

multicast_config checked(multicast_config c) {
  const in_addr group = parse_ipv4(c.multicast_addr, "--multicast-addr");
  if (!IN_MULTICAST(ntohl(group.s_addr))) {
    throw std::invalid_argument("--multicast-addr: '" + c.multicast_addr +
                                "' is not a multicast address (224.0.0.0/4)");
  }
  parse_ipv4(c.if_addr, "--multicast-if");
  if (c.port == 0) throw std::invalid_argument("--multicast-port: must be 1-65535");
  if (c.ttl < 0 || c.ttl > 255) throw std::invalid_argument("--multicast-ttl: must be 0-255");
  if (c.interval.count() <= 0) {
    throw std::invalid_argument("multicast interval must be positive");
  }
  if (c.host_name.empty() || c.host_name.size() > k_max_beacon_field) {
    throw std::invalid_argument("multicast host name must be 1-" +
                                std::to_string(k_max_beacon_field) + " bytes");
  }
  require_gossip_endpoint(c.gossip_endpoint, "multicast gossip endpoint");
  if (is_unspecified_endpoint(c.gossip_endpoint)) {
    throw std::invalid_argument("multicast discovery would announce '" + c.gossip_endpoint +
                                "', which peers cannot reach: bind gossip to a real address or "
                                "pass --advertise <address peers can reach>");
  }
  return c;
}

[[noreturn]] void fail(const std::string& what, int error, const std::string& hint = "") {
  throw std::runtime_error("multicast discovery: " + what + ": " + std::strerror(error) +
                           (hint.empty() ? "" : " (" + hint + ")"));
}

void set_option(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) fail(what, errno);
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

multicast_seeds::multicast_seeds(multicast_config config)
    : config_(checked(std::move(config))),
      key_(make_beacon_key(config_.secret)),
      peers_(config_.interval * k_stale_after_halves / 2, k_capacity) {
  if (::sodium_init() < 0) throw std::runtime_error("multicast discovery: libsodium init failed");
  const in_addr iface = parse_ipv4(config_.if_addr, "--multicast-if");
  group_.sin_family = AF_INET;
  group_.sin_port = htons(config_.port);
  group_.sin_addr = parse_ipv4(config_.multicast_addr, "--multicast-addr");

  socket_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (socket_ < 0) fail("socket", errno);
  wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  try {
    if (wake_ < 0) fail("eventfd", errno);
    // Several hosts on one machine share the port; each gets its own copy of every datagram.
    set_option(socket_, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    set_option(socket_, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
    // Bound to the group address: only datagrams sent to this group reach us, not unicast
    // traffic to the port nor other groups' traffic.
    if (::bind(socket_, reinterpret_cast<const sockaddr*>(&group_), sizeof group_) != 0) {
      fail("cannot bind " + config_.multicast_addr + ":" + std::to_string(config_.port), errno);
    }
    ip_mreq membership{};
    membership.imr_multiaddr = group_.sin_addr;
    membership.imr_interface = iface;
    if (::setsockopt(socket_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof membership) != 0) {
      fail("cannot join " + config_.multicast_addr + " on " + config_.if_addr, errno,
           "is there a multicast route? e.g. ip route add 224.0.0.0/4 dev <interface>, "
           "or pass --multicast-if <address of that interface>");
    }
    set_option(socket_, IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL");
    if (::setsockopt(socket_, IPPROTO_IP, IP_MULTICAST_IF, &iface, sizeof iface) != 0) {
      fail("cannot send from " + config_.if_addr, errno);
    }
    set_option(socket_, IPPROTO_IP, IP_MULTICAST_TTL, config_.ttl, "IP_MULTICAST_TTL");
    set_option(socket_, IPPROTO_IP, IP_MULTICAST_LOOP, 1, "IP_MULTICAST_LOOP");
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    ::close(socket_);
    if (wake_ >= 0) ::close(wake_);
    throw;
  }
}

multicast_seeds::~multicast_seeds() {
  stop_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(wake_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(socket_);
  ::close(wake_);
}

std::vector<std::string> multicast_seeds::seeds() {
  std::lock_guard lock(mutex_);
  return peers_.fresh(clock::now());
}

std::string multicast_seeds::describe() const {
  return "multicast " + config_.multicast_addr + ":" + std::to_string(config_.port) + " on " +
         config_.if_addr + ", ttl " + std::to_string(config_.ttl) + ", every " +
         std::to_string(config_.interval.count()) + " ms, " +
         (key_ ? "beacons signed (HMAC-SHA-256)" : "beacons NOT authenticated") + ", announcing " +
         config_.gossip_endpoint;
}

multicast_seeds::counters multicast_seeds::stats() const {
  counters c;
  c.sent = sent_.load();
  c.send_failed = send_failed_.load();
  c.accepted = accepted_.load();
  c.malformed = malformed_.load();
  c.unsupported_version = unsupported_version_.load();
  c.unauthenticated = unauthenticated_.load();
  c.unexpected_tag = unexpected_tag_.load();
  c.table_full = table_full_.load();
  return c;
}

void multicast_seeds::run() noexcept {
  // +-10% jitter so that hosts started together do not send in lockstep.
  std::minstd_rand random(std::random_device{}());
  const auto interval = std::chrono::duration_cast<clock::duration>(config_.interval);
  const clock::rep span = std::max<clock::rep>(2, interval.count() / 5);
  std::uniform_int_distribution<clock::rep> jitter(-span / 2, span / 2);
  auto next_send = clock::now();
  while (!stop_.load()) {
    const auto now = clock::now();
    if (now >= next_send) {
      send_beacon();
      next_send = now + interval + clock::duration(jitter(random));
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_send - clock::now());
    std::array<pollfd, 2> fds{{{socket_, POLLIN, 0}, {wake_, POLLIN, 0}}};
    const int timeout = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 1000));
    const int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      // Should not happen with valid descriptors; avoid a hot loop and keep going.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (fds[1].revents != 0) break;
    if (fds[0].revents & POLLIN) receive_all();
  }
}

void multicast_seeds::send_beacon() noexcept {
  try {
    const auto datagram =
        encode_beacon({config_.host_name, config_.gossip_endpoint, unix_ms()}, key_);
    const auto n = ::sendto(socket_, datagram.data(), datagram.size(), 0,
                            reinterpret_cast<const sockaddr*>(&group_), sizeof group_);
    if (n == static_cast<ssize_t>(datagram.size())) {
      ++sent_;
    } else {
      ++send_failed_;  // e.g. ENETUNREACH while an interface is down; the next round retries
    }
  } catch (...) {
    ++send_failed_;
  }
}

void multicast_seeds::receive_all() noexcept {
  // One byte more than the cap, to tell "exactly the cap" from "longer"; MSG_TRUNC reports
  // the real length of a longer datagram.
  std::array<uint8_t, k_max_beacon_bytes + 1> buffer{};
  for (int i = 0; i < k_max_batch && !stop_.load(); ++i) {
    const ssize_t n = ::recv(socket_, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) return;  // EAGAIN (drained) or a transient error: poll again
    beacon b;
    const beacon_error error =
        static_cast<std::size_t>(n) > k_max_beacon_bytes
            ? beacon_error::malformed
            : decode_beacon(buffer.data(), static_cast<std::size_t>(n), key_, b);
    switch (error) {
      case beacon_error::none: {
        bool kept = false;
        try {
          std::lock_guard lock(mutex_);
          kept = peers_.heard(b.gossip, clock::now());
        } catch (...) {
        }
        if (kept) {
          ++accepted_;
        } else {
          ++table_full_;
        }
        break;
      }
      case beacon_error::malformed:
        ++malformed_;
        break;
      case beacon_error::unsupported_version:
        ++unsupported_version_;
        break;
      case beacon_error::unauthenticated:
        ++unauthenticated_;
        break;
      case beacon_error::unexpected_tag:
        ++unexpected_tag_;
        break;
    }
  }
}

std::unique_ptr<seed_source> make_multicast_seeds(multicast_config config) {
  return std::make_unique<multicast_seeds>(std::move(config));
}

}  // namespace mesh::discovery
