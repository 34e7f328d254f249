#include "beacon.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <msgpack.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "heard_peers.hpp"

using namespace mesh::discovery;
using namespace std::chrono_literals;

namespace {

using bytes = std::vector<uint8_t>;

beacon_error decode(const bytes& datagram, const beacon_key& key, beacon& out) {
  return decode_beacon(datagram.data(), datagram.size(), key, out);
}

beacon_error decode(const bytes& datagram, const beacon_key& key = std::nullopt) {
  beacon ignored;
  return decode(datagram, key, ignored);
}

// A msgpack map built field by field, to forge beacons the encoder would never produce.
template <typename Fill>
bytes packed_map(uint32_t size, Fill fill) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(size);
  fill(packer);
  return bytes(buffer.data(), buffer.data() + buffer.size());
}

const beacon k_sample{"host-a", "tcp://127.0.0.1:7101", 1700000000123};

}  // namespace

TEST_SUITE("beacon") {
  TEST_CASE("an unsigned beacon decodes to what was encoded") {
    const bytes datagram = encode_beacon(k_sample, std::nullopt);
    CHECK(datagram.size() < k_max_beacon_bytes);
    beacon out;
    REQUIRE(decode(datagram, std::nullopt, out) == beacon_error::none);
    CHECK(out.name == "host-a");
    CHECK(out.gossip == "tcp://127.0.0.1:7101");
    CHECK(out.ts_ms == 1700000000123);
  }

  TEST_CASE("a beacon is a msgpack map with v name gossip and ts") {
    const bytes datagram = encode_beacon(k_sample, std::nullopt);
    const auto handle =
        msgpack::unpack(reinterpret_cast<const char*>(datagram.data()), datagram.size());
    const auto map = handle.get().as<std::map<std::string, msgpack::object>>();
    CHECK(map.size() == 4);
    CHECK(map.at("v").as<int>() == 1);
    CHECK(map.at("name").as<std::string>() == "host-a");
    CHECK(map.at("gossip").as<std::string>() == "tcp://127.0.0.1:7101");
    CHECK(map.at("ts").as<int64_t>() == 1700000000123);
  }

  TEST_CASE(
      "a signed beacon is the map followed by a 32 byte tag and decodes with the same secret") {
    const auto key = make_beacon_key("s1");
    const bytes plain = encode_beacon(k_sample, std::nullopt);
    const bytes signed_ = encode_beacon(k_sample, key);
    REQUIRE(signed_.size() == plain.size() + k_beacon_tag_bytes);
    CHECK(std::equal(plain.begin(), plain.end(), signed_.begin()));
    beacon out;
    REQUIRE(decode(signed_, key, out) == beacon_error::none);
    CHECK(out.gossip == k_sample.gossip);
  }

  TEST_CASE("signed and unsigned beacons are refused across secrets") {
    const auto s1 = make_beacon_key("s1");
    const auto s2 = make_beacon_key("s2");
    CHECK_FALSE(make_beacon_key("").has_value());
    CHECK(decode(encode_beacon(k_sample, s2), s1) == beacon_error::unauthenticated);
    CHECK(decode(encode_beacon(k_sample, std::nullopt), s1) == beacon_error::unauthenticated);
    CHECK(decode(encode_beacon(k_sample, s1), std::nullopt) == beacon_error::unexpected_tag);
  }

  TEST_CASE("flipping any bit of a signed beacon makes it unauthenticated") {
    const auto key = make_beacon_key("s1");
    const bytes good = encode_beacon(k_sample, key);
    for (std::size_t i = 0; i < good.size(); ++i) {
      bytes bad = good;
      bad[i] ^= 0x01;
      CAPTURE(i);
      CHECK(decode(bad, key) == beacon_error::unauthenticated);
    }
    CHECK(decode(bytes(good.begin(), good.end() - 1), key) == beacon_error::unauthenticated);
    CHECK(decode(bytes(good.begin(), good.begin() + 10), key) == beacon_error::unauthenticated);
  }

  TEST_CASE("hostile msgpack is malformed and never allocates what it claims") {
    const std::vector<bytes> hostile{
        {},
        {0xc1},                                // never-used byte
        {0xdb, 0xff, 0xff, 0xff, 0xff},        // str32 claiming 4 GiB
        {0xc6, 0xff, 0xff, 0xff, 0xff},        // bin32 claiming 4 GiB
        {0xdf, 0xff, 0xff, 0xff, 0xff},        // map32 claiming 4 billion pairs
        {0xdd, 0xff, 0xff, 0xff, 0xff},        // array32 claiming 4 billion items
        {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01},  // ext32
        {0x81, 0x91, 0x91, 0x91, 0x91, 0x91},  // nested arrays
        {0x81, 0xa1, 'v'},                     // truncated
        {0xc0},                                // nil
        {0x01},                                // a lone integer
        {0xa3, 'a', 'b', 'c'},                 // a lone string
    };
    for (const auto& datagram : hostile) {
      CAPTURE(datagram.size());
      CHECK(decode(datagram) == beacon_error::malformed);
      // With a secret the tag is checked first: nothing unsigned reaches the msgpack decoder.
      CHECK(decode(datagram, make_beacon_key("s1")) ==
            (datagram.empty() ? beacon_error::malformed : beacon_error::unauthenticated));
    }
    bytes deep(600, 0x81);  // maps nested 600 deep
    CHECK(decode(deep) == beacon_error::malformed);
    CHECK(decode(bytes(k_max_beacon_bytes + 1, 0x80)) == beacon_error::malformed);
  }

  TEST_CASE("a beacon with missing wrong or duplicated fields is malformed") {
    const auto str = [](auto& p, const std::string& s) { p.pack(s); };
    // Missing "ts".
    CHECK(decode(packed_map(3, [&](auto& p) {
            str(p, "v"), p.pack(1), str(p, "name"), str(p, "a");
            str(p, "gossip"), str(p, "tcp://127.0.0.1:1");
          })) == beacon_error::malformed);
    // "name" is not a string.
    CHECK(decode(packed_map(4, [&](auto& p) {
            str(p, "v"), p.pack(1), str(p, "name"), p.pack(7);
            str(p, "gossip"), str(p, "tcp://127.0.0.1:1"), str(p, "ts"), p.pack(1);
          })) == beacon_error::malformed);
    // Empty name.
    CHECK(decode(packed_map(4, [&](auto& p) {
            str(p, "v"), p.pack(1), str(p, "name"), str(p, "");
            str(p, "gossip"), str(p, "tcp://127.0.0.1:1"), str(p, "ts"), p.pack(1);
          })) == beacon_error::malformed);
    // Endpoint that is not tcp://host:port.
    CHECK(decode(packed_map(4, [&](auto& p) {
            str(p, "v"), p.pack(1), str(p, "name"), str(p, "a");
            str(p, "gossip"), str(p, "ipc:///tmp/x"), str(p, "ts"), p.pack(1);
          })) == beacon_error::malformed);
    // The unspecified address: a peer connecting there would reach itself.
    CHECK(decode(packed_map(4, [&](auto& p) {
            str(p, "v"), p.pack(1), str(p, "name"), str(p, "a");
            str(p, "gossip"), str(p, "tcp://0.0.0.0:7101"), str(p, "ts"), p.pack(1);
          })) == beacon_error::malformed);
    // Duplicate "gossip".
    CHECK(decode(packed_map(5, [&](auto& p) {
            str(p, "v"), p.pack(1), str(p, "name"), str(p, "a");
            str(p, "gossip"), str(p, "tcp://127.0.0.1:1"), str(p, "ts"), p.pack(1);
            str(p, "gossip"), str(p, "tcp://127.0.0.1:2");
          })) == beacon_error::malformed);
    // A key that is not a string.
    CHECK(decode(packed_map(1, [&](auto& p) { p.pack(1), p.pack(1); })) == beacon_error::malformed);
    // Trailing bytes after the map that are not a tag.
    bytes trailing = encode_beacon(k_sample, std::nullopt);
    trailing.push_back(0x00);
    CHECK(decode(trailing) == beacon_error::malformed);
  }

  TEST_CASE("a beacon of another version is refused but unknown fields are ignored") {
    const auto str = [](auto& p, const std::string& s) { p.pack(s); };
    CHECK(decode(packed_map(4, [&](auto& p) {
            str(p, "v"), p.pack(2), str(p, "name"), str(p, "a");
            str(p, "gossip"), str(p, "tcp://127.0.0.1:1"), str(p, "ts"), p.pack(1);
          })) == beacon_error::unsupported_version);
    beacon out;
    CHECK(decode(packed_map(5,
                            [&](auto& p) {
                              str(p, "v"), p.pack(1), str(p, "zone"), str(p, "eu-1");
                              str(p, "name"), str(p, "a"), str(p, "gossip");
                              str(p, "tcp://127.0.0.1:1"), str(p, "ts"), p.pack(1);
                            }),
                 std::nullopt, out) == beacon_error::none);
    CHECK(out.gossip == "tcp://127.0.0.1:1");
  }

  TEST_CASE("random and mutated datagrams never crash the decoder") {
    std::mt19937 random(12345);
    const auto key = make_beacon_key("s1");
    const bytes valid = encode_beacon(k_sample, std::nullopt);
    int accepted_random = 0;
    for (int round = 0; round < 20000; ++round) {
      bytes datagram;
      if (round % 2 == 0) {
        datagram.resize(random() % 1100);
        for (auto& b : datagram) b = static_cast<uint8_t>(random());
      } else {
        datagram = valid;
        const int flips = 1 + static_cast<int>(random() % 4);
        for (int f = 0; f < flips; ++f) {
          datagram[random() % datagram.size()] = static_cast<uint8_t>(random());
        }
        if (random() % 4 == 0) datagram.resize(random() % (datagram.size() + 1));
      }
      beacon out;
      if (decode(datagram, std::nullopt, out) == beacon_error::none && round % 2 == 0) {
        ++accepted_random;
      }
      const bool size_ok = !datagram.empty() && datagram.size() <= k_max_beacon_bytes;
      CHECK(decode(datagram, key) ==
            (size_ok ? beacon_error::unauthenticated : beacon_error::malformed));
    }
    CHECK(accepted_random == 0);
  }

  TEST_CASE("the encoder refuses fields a peer would reject") {
    CHECK_THROWS_AS(encode_beacon({"", "tcp://127.0.0.1:1", 1}, std::nullopt),
                    std::invalid_argument);
    CHECK_THROWS_AS(encode_beacon({std::string(256, 'a'), "tcp://127.0.0.1:1", 1}, std::nullopt),
                    std::invalid_argument);
    CHECK_THROWS_AS(encode_beacon({"a", "127.0.0.1:1", 1}, std::nullopt), std::invalid_argument);
    // The longest fields still fit in one datagram, signed.
    const std::string host(63, 'h');
    const std::string endpoint =
        "tcp://" + host + "." + host + "." + host + "." + host.substr(0, 51) + ":65535";
    REQUIRE(endpoint.size() <= k_max_beacon_field);
    const bytes longest =
        encode_beacon({std::string(255, 'n'), endpoint, INT64_MAX}, make_beacon_key("s"));
    CHECK(longest.size() <= k_max_beacon_bytes);
    CHECK(decode(longest, make_beacon_key("s")) == beacon_error::none);
  }
}

TEST_SUITE("heard peers") {
  TEST_CASE("a peer is kept while it keeps sending and forgotten once it goes quiet") {
    heard_peers peers(450ms, 16);
    const auto t0 = heard_peers::clock::time_point{} + 1h;
    CHECK(peers.heard("tcp://10.0.0.2:1", t0));
    CHECK(peers.heard("tcp://10.0.0.3:1", t0));
    CHECK(peers.fresh(t0 + 400ms) ==
          std::vector<std::string>{"tcp://10.0.0.2:1", "tcp://10.0.0.3:1"});
    CHECK(peers.heard("tcp://10.0.0.2:1", t0 + 400ms));
    CHECK(peers.fresh(t0 + 450ms).size() == 2);
    CHECK(peers.fresh(t0 + 451ms) == std::vector<std::string>{"tcp://10.0.0.2:1"});
    CHECK(peers.fresh(t0 + 851ms).empty());
  }

  TEST_CASE("a full table refuses new peers until old ones expire") {
    heard_peers peers(1s, 2);
    const auto t0 = heard_peers::clock::time_point{} + 1h;
    CHECK(peers.heard("tcp://a:1", t0));
    CHECK(peers.heard("tcp://b:1", t0));
    CHECK_FALSE(peers.heard("tcp://c:1", t0 + 500ms));
    CHECK(peers.heard("tcp://a:1", t0 + 500ms));   // known peers are still refreshed
    CHECK(peers.heard("tcp://c:1", t0 + 1200ms));  // b expired and made room
    CHECK(peers.fresh(t0 + 1200ms) == std::vector<std::string>{"tcp://a:1", "tcp://c:1"});
  }
}
