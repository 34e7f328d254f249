// The multicast beacon: what a host announces, how it is signed, and a decoder that treats every
// datagram as hostile (size cap, msgpack limits, HMAC checked before anything is parsed).
//
// Wire format (one UDP datagram, at most k_max_beacon_bytes):
//   msgpack map {"v": 1, "name": str, "gossip": "tcp://host:port", "ts": unix ms}
//   followed, when the cluster has a secret, by 32 bytes of HMAC-SHA-256 over the map bytes,
//   keyed with SHA-256(secret).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::discovery {

/// Largest datagram we send or accept; anything longer is malformed.
inline constexpr std::size_t k_max_beacon_bytes = 1024;
/// Longest host name or gossip endpoint a beacon may carry.
inline constexpr std::size_t k_max_beacon_field = 255;
/// Length of the HMAC-SHA-256 tag appended to signed beacons.
inline constexpr std::size_t k_beacon_tag_bytes = 32;

/// One host's announcement.
struct beacon {
  std::string name;
  std::string gossip;
  int64_t ts_ms = 0;  ///< sender's wall clock, unix milliseconds
};

/// HMAC key derived from a cluster secret: SHA-256(secret). Empty secret means no key.
using beacon_key = std::optional<std::array<uint8_t, 32>>;
beacon_key make_beacon_key(std::string_view secret);

/// Why a datagram was not accepted.
enum class beacon_error {
  none,
  malformed,  ///< empty or too long, not msgpack, not the expected map, bad or unspecified endpoint
  unsupported_version,  ///< a well-formed beacon with "v" other than 1
  unauthenticated,      ///< we have a secret and the tag is missing or wrong
  unexpected_tag,       ///< we have no secret and the beacon is signed
};

/// The datagram for `b`, signed when `key` is set. Throws std::invalid_argument when a field
/// is too long or the endpoint is not tcp://host:port, or is on 0.0.0.0 or [::].
std::vector<uint8_t> encode_beacon(const beacon& b, const beacon_key& key);

/// Decodes one datagram into `out`. Never throws, never allocates more than a small multiple of
/// `size`; `out` is only meaningful when the result is beacon_error::none.
beacon_error decode_beacon(const uint8_t* data, std::size_t size, const beacon_key& key,
                           beacon& out) noexcept;

}  // namespace mesh::discovery
