#include "beacon.hpp"

#include <sodium.h>

#include <msgpack.hpp>
#include <stdexcept>

#include "gossip_endpoint.hpp"

namespace mesh::discovery {
namespace {

static_assert(crypto_auth_hmacsha256_BYTES == k_beacon_tag_bytes);
static_assert(crypto_auth_hmacsha256_KEYBYTES == 32);
static_assert(crypto_hash_sha256_BYTES == 32);

// Explicit limits: a beacon is one flat map of a handful of short fields.
const msgpack::unpack_limit k_limits(/*array=*/0, /*map=*/16, /*str=*/k_max_beacon_field,
                                     /*bin=*/0, /*ext=*/0, /*depth=*/2);

bool as_string(const msgpack::object& o, std::string& out) {
  if (o.type != msgpack::type::STR) return false;
  out.assign(o.via.str.ptr, o.via.str.size);
  return true;
}

bool as_int(const msgpack::object& o, int64_t& out) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) return false;
    out = static_cast<int64_t>(o.via.u64);
    return true;
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    out = o.via.i64;
    return true;
  }
  return false;
}

// Decodes the map part (exactly `size` bytes, nothing may follow it).
beacon_error decode_map(const uint8_t* data, std::size_t size, beacon& out) {
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    handle = msgpack::unpack(reinterpret_cast<const char*>(data), size, offset, nullptr, nullptr,
                             k_limits);
  } catch (const std::exception&) {
    return beacon_error::malformed;
  }
  if (offset != size) return beacon_error::malformed;
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::MAP) return beacon_error::malformed;

  bool have_v = false, have_name = false, have_gossip = false, have_ts = false;
  int64_t version = 0;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const msgpack::object_kv& kv = root.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) return beacon_error::malformed;
    const std::string_view key(kv.key.via.str.ptr, kv.key.via.str.size);
    bool ok = true;
    bool* seen = nullptr;
    if (key == "v") {
      seen = &have_v;
      ok = as_int(kv.val, version);
    } else if (key == "name") {
      seen = &have_name;
      ok = as_string(kv.val, out.name);
    } else if (key == "gossip") {
      seen = &have_gossip;
      ok = as_string(kv.val, out.gossip);
    } else if (key == "ts") {
      seen = &have_ts;
      ok = as_int(kv.val, out.ts_ms);
    }  // unknown keys are ignored: later versions may add fields
    if (!ok) return beacon_error::malformed;
    if (seen != nullptr) {
      if (*seen) return beacon_error::malformed;  // duplicate key
      *seen = true;
    }
  }
  if (!have_v) return beacon_error::malformed;
  if (version != 1) return beacon_error::unsupported_version;
  if (!have_name || !have_gossip || !have_ts) return beacon_error::malformed;
  if (out.name.empty() || !is_gossip_endpoint(out.gossip) || is_unspecified_endpoint(out.gossip)) {
    return beacon_error::malformed;
  }
  return beacon_error::none;
}

}  // namespace

beacon_key make_beacon_key(std::string_view secret) {
  if (secret.empty()) return std::nullopt;
  std::array<uint8_t, 32> key{};
  crypto_hash_sha256(key.data(), reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size());
  return key;
}

std::vector<uint8_t> encode_beacon(const beacon& b, const beacon_key& key) {
  if (b.name.empty() || b.name.size() > k_max_beacon_field) {
    throw std::invalid_argument("beacon host name must be 1-" + std::to_string(k_max_beacon_field) +
                                " bytes");
  }
  if (b.gossip.size() > k_max_beacon_field) {
    throw std::invalid_argument("beacon gossip endpoint longer than " +
                                std::to_string(k_max_beacon_field) + " bytes");
  }
  require_gossip_endpoint(b.gossip, "multicast gossip endpoint");
  if (is_unspecified_endpoint(b.gossip)) {
    throw std::invalid_argument("multicast gossip endpoint '" + b.gossip +
                                "' is the unspecified address, which peers cannot reach");
  }

  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(4);
  packer.pack("v");
  packer.pack(1);
  packer.pack("name");
  packer.pack(b.name);
  packer.pack("gossip");
  packer.pack(b.gossip);
  packer.pack("ts");
  packer.pack(b.ts_ms);

  std::vector<uint8_t> out(buffer.data(), buffer.data() + buffer.size());
  if (key) {
    std::array<uint8_t, k_beacon_tag_bytes> tag{};
    crypto_auth_hmacsha256(tag.data(), out.data(), out.size(), key->data());
    out.insert(out.end(), tag.begin(), tag.end());
  }
  return out;
}

beacon_error decode_beacon(const uint8_t* data, std::size_t size, const beacon_key& key,
                           beacon& out) noexcept {
  try {
    if (data == nullptr || size == 0 || size > k_max_beacon_bytes) return beacon_error::malformed;
    if (key) {
      // Authenticate before parsing: an unkeyed sender never reaches the msgpack decoder.
      if (size <= k_beacon_tag_bytes) return beacon_error::unauthenticated;
      const std::size_t body = size - k_beacon_tag_bytes;
      if (crypto_auth_hmacsha256_verify(data + body, data, body, key->data()) != 0) {
        return beacon_error::unauthenticated;
      }
      return decode_map(data, body, out);
    }
    // No secret: the map must fill the datagram. Exactly one tag's worth of trailing bytes after
    // a valid map means a signed beacon from a host that has a secret.
    const beacon_error plain = decode_map(data, size, out);
    if (plain != beacon_error::malformed || size <= k_beacon_tag_bytes) return plain;
    const beacon_error signed_ = decode_map(data, size - k_beacon_tag_bytes, out);
    return signed_ == beacon_error::none ? beacon_error::unexpected_tag : beacon_error::malformed;
  } catch (...) {
    return beacon_error::malformed;
  }
}

}  // namespace mesh::discovery
