// Multicast beacons between seed sources in one process. CTest runs each case in a network
// namespace of its own (in_netns.sh); the sources also pin the loopback interface, so nothing
// leaves the machine even when the binary is run by hand.
#include "multicast_seeds.hpp"

#include <doctest/doctest.h>

#include <array>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "beacon.hpp"
#include "seeds_test_support.hpp"

using namespace mesh::discovery;
using namespace mesh::discovery::test;

namespace {

constexpr auto k_interval = 100ms;

multicast_config loopback_config(uint16_t port, const std::string& name, uint16_t gossip_port,
                                 const std::string& secret = "") {
  multicast_config c;
  c.port = port;
  c.if_addr = "127.0.0.1";
  c.secret = secret;
  c.interval = k_interval;
  c.host_name = name;
  c.gossip_endpoint = "tcp://127.0.0.1:" + std::to_string(gossip_port);
  return c;
}

std::vector<std::string> endpoints(std::initializer_list<uint16_t> ports) {
  std::vector<std::string> out;
  for (const auto port : ports) out.push_back("tcp://127.0.0.1:" + std::to_string(port));
  std::sort(out.begin(), out.end());
  return out;
}

// Sends raw datagrams to the group, from loopback.
class raw_sender {
 public:
  explicit raw_sender(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    in_addr iface{};
    ::inet_pton(AF_INET, "127.0.0.1", &iface);
    REQUIRE(::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &iface, sizeof iface) == 0);
    group_.sin_family = AF_INET;
    group_.sin_port = htons(port);
    ::inet_pton(AF_INET, "230.1.1.251", &group_.sin_addr);
  }
  ~raw_sender() { ::close(fd_); }
  raw_sender(const raw_sender&) = delete;
  raw_sender& operator=(const raw_sender&) = delete;

  void send(const std::vector<uint8_t>& datagram) {
    const auto n = ::sendto(fd_, datagram.data(), datagram.size(), 0,
                            reinterpret_cast<const sockaddr*>(&group_), sizeof group_);
    REQUIRE(n == static_cast<ssize_t>(datagram.size()));
  }

 private:
  int fd_ = -1;
  sockaddr_in group_{};
};

}  // namespace

TEST_SUITE("multicast") {
  TEST_CASE("two multicast sources in one process hear each other's gossip endpoints") {
    const uint16_t port = random_high_port();
    multicast_seeds a(loopback_config(port, "a", 7101));
    multicast_seeds b(loopback_config(port, "b", 7102));
    const auto both = endpoints({7101, 7102});
    CHECK(wait_until([&] { return a.seeds() == both && b.seeds() == both; }));
    CHECK(a.stats().accepted > 0);
    CHECK(a.stats().malformed == 0);
    CHECK(a.stats().send_failed == 0);
    CHECK(a.describe().find("230.1.1.251:" + std::to_string(port)) != std::string::npos);
  }

  TEST_CASE("make_multicast_seeds starts a source that hears its peers") {
    const uint16_t port = random_high_port();
    auto a = make_multicast_seeds(loopback_config(port, "a", 7101));
    auto b = make_multicast_seeds(loopback_config(port, "b", 7102));
    CHECK(wait_until([&] { return a->seeds() == endpoints({7101, 7102}); }));
  }

  TEST_CASE("a source with a secret only hears beacons signed with the same secret") {
    const uint16_t port = random_high_port();
    multicast_seeds s1a(loopback_config(port, "s1a", 7101, "s1"));
    multicast_seeds s1b(loopback_config(port, "s1b", 7102, "s1"));
    multicast_seeds s2(loopback_config(port, "s2", 7103, "s2"));
    multicast_seeds open(loopback_config(port, "open", 7104));

    // Wait until every source has seen several rounds of each kind of stranger.
    REQUIRE(wait_until([&] {
      return s1a.seeds() == endpoints({7101, 7102}) && s1a.stats().unauthenticated >= 6 &&
             s2.stats().unauthenticated >= 9 && open.stats().unexpected_tag >= 9;
    }));
    CHECK(s1a.seeds() == endpoints({7101, 7102}));
    CHECK(s1b.seeds() == endpoints({7101, 7102}));
    CHECK(s2.seeds() == endpoints({7103}));
    CHECK(open.seeds() == endpoints({7104}));
    CHECK(s1a.stats().malformed == 0);
    CHECK(open.stats().unauthenticated == 0);
  }

  TEST_CASE("garbage datagrams sent to the group are counted and ignored") {
    const uint16_t port = random_high_port();
    multicast_seeds a(loopback_config(port, "a", 7101));
    multicast_seeds keyed(loopback_config(port, "keyed", 7102, "s1"));
    raw_sender sender(port);

    std::vector<std::vector<uint8_t>> garbage{
        {},
        {0xc1},
        {0xdb, 0xff, 0xff, 0xff, 0xff},
        {0xdf, 0xff, 0xff, 0xff, 0xff},
        std::vector<uint8_t>(600, 0x91),
        std::vector<uint8_t>(1400, 0x00),  // longer than any beacon
    };
    std::mt19937 random(7);
    for (int i = 0; i < 200; ++i) {
      std::vector<uint8_t> datagram(random() % 1200);
      for (auto& b : datagram) b = static_cast<uint8_t>(random());
      garbage.push_back(std::move(datagram));
    }
    // In batches, so that the receive buffers never overflow and every datagram is counted.
    std::size_t sent = 0;
    for (const auto& datagram : garbage) {
      sender.send(datagram);
      if (++sent % 16 == 0 || sent == garbage.size()) {
        REQUIRE(wait_until([&] { return a.stats().malformed >= sent; }));
      }
    }
    CHECK(a.stats().malformed == garbage.size());
    // The keyed source refuses the same datagrams: empty or too long ones as malformed, all
    // others for their missing tag.
    CHECK(wait_until([&] {
      const auto c = keyed.stats();
      return c.malformed + c.unauthenticated >= garbage.size();
    }));

    // A well-formed beacon for an endpoint no host has is heard like any other.
    sender.send(encode_beacon({"ghost", "tcp://127.0.0.1:7999", 1}, std::nullopt));
    CHECK(wait_until([&] { return contains(a.seeds(), "tcp://127.0.0.1:7999"); }));
    // Both still hear beacons, and nothing but beacons.
    CHECK(wait_until([&] { return a.seeds() == endpoints({7101}); }));
    CHECK(wait_until([&] { return keyed.seeds() == endpoints({7102}); }));
    CHECK(a.stats().malformed == garbage.size());
  }

  TEST_CASE("a peer that stops sending beacons is forgotten after a few intervals") {
    const uint16_t port = random_high_port();
    multicast_seeds a(loopback_config(port, "a", 7101));
    auto b = std::make_unique<multicast_seeds>(loopback_config(port, "b", 7102));
    REQUIRE(wait_until([&] { return a.seeds() == endpoints({7101, 7102}); }));
    b.reset();
    CHECK(wait_until([&] { return a.seeds() == endpoints({7101}); }));
  }
}

TEST_SUITE("multicast config") {
  TEST_CASE("bad multicast settings are refused before any socket is opened") {
    const auto with = [](auto change) {
      multicast_config c = loopback_config(45892, "a", 7101);
      change(c);
      return c;
    };
    CHECK_THROWS_AS(make_multicast_seeds(with([](auto& c) { c.multicast_addr = "10.0.0.1"; })),
                    std::invalid_argument);
    CHECK_THROWS_AS(make_multicast_seeds(with([](auto& c) { c.multicast_addr = "230.1.1"; })),
                    std::invalid_argument);
    CHECK_THROWS_AS(make_multicast_seeds(with([](auto& c) { c.if_addr = "lo"; })),
                    std::invalid_argument);
    CHECK_THROWS_AS(make_multicast_seeds(with([](auto& c) { c.ttl = 256; })),
                    std::invalid_argument);
    CHECK_THROWS_AS(make_multicast_seeds(with([](auto& c) { c.port = 0; })), std::invalid_argument);
    CHECK_THROWS_AS(make_multicast_seeds(with([](auto& c) { c.interval = 0ms; })),
                    std::invalid_argument);
    CHECK_THROWS_AS(make_multicast_seeds(with([](auto& c) { c.host_name = ""; })),
                    std::invalid_argument);
    CHECK_THROWS_AS(make_multicast_seeds(with([](auto& c) { c.gossip_endpoint = "x:1"; })),
                    std::invalid_argument);
    // Fine to bind, useless to announce: peers connecting there reach themselves.
    CHECK_THROWS_WITH_AS(
        make_multicast_seeds(with([](auto& c) { c.gossip_endpoint = "tcp://0.0.0.0:7101"; })),
        doctest::Contains("--advertise"), std::invalid_argument);
    CHECK_THROWS_AS(
        make_multicast_seeds(with([](auto& c) { c.gossip_endpoint = "tcp://[::]:7101"; })),
        std::invalid_argument);
  }

  TEST_CASE("the defaults are libcluster's Gossip strategy defaults") {
    const multicast_config c;
    CHECK(c.multicast_addr == "230.1.1.251");
    CHECK(c.port == 45892);
    CHECK(c.if_addr == "0.0.0.0");
    CHECK(c.ttl == 1);
    CHECK(c.secret.empty());
  }
}
