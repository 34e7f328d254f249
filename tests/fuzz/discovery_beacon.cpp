// Fuzz target: multicast discovery beacons. The input is tried as a whole datagram without a
// cluster secret and with one, and (since a fuzzer cannot forge an HMAC) also as the map part of
// a datagram this target signs itself, so the keyed decoder's parsing is reached too.
// Properties: decode_beacon never crashes, throws or leaks; an accepted beacon is what the
// encoder would send (encode_beacon accepts it) and decodes back to the same beacon.
#include <stdexcept>
#include <tuple>
#include <vector>

#include <sodium.h>

#include "beacon.hpp"
#include "fuzz_target.hpp"

namespace mesh::fuzz {
namespace {

constexpr const char* k_target = "discovery_beacon";

auto fields(const discovery::beacon& b) { return std::tie(b.name, b.gossip, b.ts_ms); }

void round_trip(const discovery::beacon& b, const discovery::beacon_key& key) {
  std::vector<uint8_t> datagram;
  try {
    datagram = discovery::encode_beacon(b, key);
  } catch (const std::invalid_argument& e) {
    fail(k_target, std::string("decode_beacon accepted a beacon encode_beacon refuses: ") + e.what());
  }
  MESH_FUZZ_CHECK(k_target, datagram.size() <= discovery::k_max_beacon_bytes);
  discovery::beacon again;
  MESH_FUZZ_CHECK(k_target, discovery::decode_beacon(datagram.data(), datagram.size(), key,
                                                     again) == discovery::beacon_error::none);
  MESH_FUZZ_CHECK(k_target, fields(again) == fields(b));
}

void check(const uint8_t* data, size_t size, const discovery::beacon_key& key) {
  discovery::beacon b;
  if (discovery::decode_beacon(data, size, key, b) == discovery::beacon_error::none)
    round_trip(b, key);
}

}  // namespace

int discovery_beacon(const uint8_t* data, size_t size) {
  static const discovery::beacon_key key = discovery::make_beacon_key("fuzz secret");
  check(data, size, std::nullopt);
  check(data, size, key);
  // The input as the map of a correctly signed datagram.
  std::vector<uint8_t> signed_(data, data + size);
  signed_.resize(size + discovery::k_beacon_tag_bytes);
  crypto_auth_hmacsha256(signed_.data() + size, data, size, key->data());
  check(signed_.data(), signed_.size(), key);
  return 0;
}

}  // namespace mesh::fuzz
