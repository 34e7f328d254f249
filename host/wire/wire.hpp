// The Mesh wire protocol: request and reply envelopes (MessagePack maps), error codes and the
// shard hash. docs/PROTOCOL.md is the normative description; this file implements it for the
// host and the C++ tools.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace mesh::wire {

/// Protocol major version carried in every envelope as "v".
inline constexpr uint32_t protocol_version = 1;
/// Shard count when none is configured.
inline constexpr uint32_t default_shards = 4096;
/// Call timeout when the request names none, and the largest one accepted.
inline constexpr uint32_t default_timeout_ms = 5000;
inline constexpr uint32_t max_timeout_ms = 3'600'000;

/// What a request asks for.
enum class op : uint8_t {
  call,
  cast,
  register_capabilities,
  capabilities,
  shard,
  ping,
  members,    ///< the membership as this host sees it
  nodes_for,  ///< hosts that have a capability (like Mesh.nodes_for)
  owner,      ///< shard and owner host of an id in a capability
  stats,      ///< the host's counters (docs/PROTOCOL.md, docs/OPERATIONS.md)
  actors,     ///< the live activations on this host, paged
};

/// Number of ops in `op` (for tables indexed by op).
inline constexpr size_t op_count = static_cast<size_t>(op::actors) + 1;
/// Number of error codes in `error_code` (for tables indexed by code).
inline constexpr size_t error_code_count = 17;
/// `actors`: page size when the request names none, and the largest one accepted.
inline constexpr uint32_t default_actors_limit = 100;
inline constexpr uint32_t max_actors_limit = 1000;

/// Every error a host can answer with. The string forms are the wire contract.
enum class error_code : uint8_t {
  bad_request,            ///< not a well-formed envelope (bad MessagePack, missing field, type)
  unsupported_version,    ///< "v" is not a protocol version this host speaks
  too_large,              ///< the frame exceeds the host's frame limit
  unknown_op,             ///< "op" names no operation
  unknown_capability,     ///< no module on this host declares the capability
  capability_not_served,  ///< modules exist for it but this host does not serve the capability
  unknown_module,         ///< no module of that name is loaded
  capability_mismatch,    ///< the module belongs to another capability
  activation_failed,      ///< the actor's constructor failed
  actor_error,            ///< the handler failed; the activation was discarded
  rejected,               ///< the handler rejected the request; the activation was kept
  bad_reply,              ///< the handler returned bytes that are not one MessagePack object
  timeout,                ///< the call's deadline passed before it completed
  overloaded,             ///< the host's queue limit is reached; retry later
  shutting_down,          ///< the host is stopping
  internal,               ///< a bug in the host; the message says more
  wrong_owner,            ///< (between hosts) the callee does not own the key in its view
};

/// The wire name of `code`, e.g. "unknown_module".
std::string_view to_string(error_code code) noexcept;
/// Parses a wire name; nullopt for a name this version does not know.
std::optional<error_code> error_code_from_string(std::string_view name) noexcept;
std::string_view to_string(op kind) noexcept;

/// An error with its code and a message for people.
struct error {
  error_code code;
  std::string message;
};

/// A byte range inside a frame.
struct bytes_view {
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool empty() const noexcept { return size == 0; }
  std::string_view as_string() const noexcept {
    return {reinterpret_cast<const char*>(data), size};
  }
};

/// A decoded request. Every view points into the frame it was decoded from (or into the zone
/// passed to decode_request) and lives as long as both.
struct request {
  op kind = op::call;
  uint64_t rid = 0;
  std::string_view capability;
  std::string_view module;
  bytes_view id;
  bytes_view payload;  ///< one MessagePack object, empty = nil
  bytes_view init_arg; ///< one MessagePack object, empty = none given
  uint32_t timeout_ms = default_timeout_ms;
  /// call and cast: the rid is unique to this request (not only on its connection), so the
  /// owner may run it at most once and answer a repeat with the same reply.
  bool once = false;
  /// With once: this is a re-send. The encoder packs it as the map's last entry, so the frame's
  /// final byte is its value (0xc2 false, 0xc3 true).
  bool retry = false;
  /// With once: the incarnation of the host the sender addressed this request to (0: any
  /// host). Another incarnation of that host (a restart on the same endpoint) refuses it
  /// unrun, so that a sender may safely re-send what it addressed to an incarnation that died.
  /// Packed fixed-width just before "retry", so that address_request() can change it in place.
  uint64_t to_incarnation = 0;
  std::vector<std::string_view> capabilities;  ///< register_capabilities only
  uint32_t limit = default_actors_limit;       ///< actors only: page size
  bytes_view after;  ///< actors only: the cursor of the previous page (empty = first page)
};

/// Sets the incarnation a frame that encode_request() packed with `once` is addressed to (see
/// request::to_incarnation), in place. Returns false, changing nothing, if `frame` does not end
/// the way such a frame does.
bool address_request(char* frame, size_t size, uint64_t incarnation) noexcept;

/// Bounds applied while decoding network input.
struct decode_limits {
  size_t max_string = 64 * 1024;     ///< module, capability, id, names
  size_t max_array = 1024;           ///< e.g. capability lists
  size_t max_map = 64;               ///< envelope keys
  size_t max_depth = 8;              ///< envelope nesting
};

/// Decodes a request envelope from `data`. Strings and binaries are referenced in place, never
/// copied; nothing is allocated unless the request lists capabilities or is refused.
tl::expected<request, error> decode_request(const uint8_t* data, size_t size,
                                            const decode_limits& limits = {});

/// A growable byte buffer usable as a msgpack-c stream. An encoder writes an envelope in a
/// couple of dozen small pieces, so write() is a bounds check and a memcpy; the storage only
/// grows (doubling) and clear() keeps it for the next envelope.
class buffer {
 public:
  void write(const char* data, size_t size) {
    if (size == 0) return;
    if (size > bytes_.size() - size_) grow(size);
    std::memcpy(bytes_.data() + size_, data, size);
    size_ += size;
  }
  /// Appends `size` bytes for the caller to fill in, and returns where they start.
  char* extend(size_t size) {
    if (size > bytes_.size() - size_) grow(size);
    char* at = bytes_.data() + size_;
    size_ += size;
    return at;
  }
  const char* data() const noexcept { return bytes_.data(); }
  size_t size() const noexcept { return size_; }
  void clear() noexcept { size_ = 0; }

 private:
  void grow(size_t more) { bytes_.resize(std::max(bytes_.size() * 2, std::max<size_t>(256, size_ + more))); }

  std::vector<char> bytes_;  ///< capacity in use; bytes past size_ are scratch
  size_t size_ = 0;
};

/// Which activation served a call.
struct actor_ref {
  std::string_view host;
  std::string_view module;
  bytes_view id;
  uint64_t activation = 0;
};

/// Encodes a request envelope (client side).
void encode_request(buffer& out, const request& req);
/// A successful call: the actor's reply (one MessagePack object) and its reference.
void encode_call_reply(buffer& out, uint64_t rid, const actor_ref& actor, bytes_view reply);
/// A success with no body (cast accepted, capabilities registered); `extra` adds fields.
void encode_ok(buffer& out, uint64_t rid);
/// An error reply; `owner` (with wrong_owner) names the owner the host believes in.
void encode_error(buffer& out, uint64_t rid, error_code code, std::string_view message,
                  std::string_view owner = {});

/// The header frame that precedes a request forwarded between hosts, and its reply.
struct forward_header {
  uint64_t fseq = 0;       ///< the forwarding host's sequence number, echoed in the reply
  std::string from;        ///< name of the forwarding host
  uint64_t epoch = 0;      ///< the forwarding host's membership epoch
  uint32_t hops = 0;       ///< how often this request was routed before
  uint64_t to_incarnation = 0;  ///< (request) the callee incarnation it is meant for; 0: any
  bool retry = false;      ///< (reply) wrong owner: route again
  std::string owner;       ///< (reply, retry) the owner the callee believes in
};
void encode_forward_header(buffer& out, const forward_header& h);
/// Decodes a forward header; nullopt when the bytes are not one.
std::optional<forward_header> decode_forward_header(const uint8_t* data, size_t size);

/// Starts a success reply map with `extra_fields` more entries after "v", "rid" and "ok"; the
/// caller packs exactly that many key/value pairs into `out`.
void begin_ok(buffer& out, uint64_t rid, uint32_t extra_fields);

/// A decoded reply (client side). Views point into the frame (and the zone, for `envelope`).
struct reply {
  uint64_t rid = 0;
  bool ok = false;
  bytes_view body;        ///< "reply" of a call
  bool has_actor = false;
  actor_ref actor;
  std::string error_code; ///< wire name, when !ok
  std::string error_message;
  std::string owner_hint;  ///< with wrong_owner: the owner the callee believes in
  /// The whole map as an object tree, for op-specific fields: only from the zone overload.
  const msgpack::object* envelope = nullptr;
};

/// Decodes a reply envelope: checks every byte under `limits` and reads the fields above in
/// place, building no tree (the client's path, once per call).
tl::expected<reply, error> decode_reply(const uint8_t* data, size_t size,
                                        const decode_limits& limits = {});
/// The same, and builds the whole map in `zone` as `envelope`. Accepts and refuses the same
/// frames, with the same fields.
tl::expected<reply, error> decode_reply(const uint8_t* data, size_t size, msgpack::zone& zone,
                                        const decode_limits& limits = {});

/// The MurmurHash3 fmix64 finalizer (part of id_hash and of the rendezvous weight).
constexpr uint64_t fmix64(uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/// Packs `s` as a MessagePack str through msgpack-c (replies that are not on the hot path).
template <class Stream>
void pack_string(msgpack::packer<Stream>& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

// The envelopes every call encodes (the request, the call reply, the forward header) write
// their keys and strings with the three helpers below instead: msgpack-c's pack_str and
// pack_str_body check the room twice and call memcpy twice per string, ~60-95 instructions a
// key, and a request has a dozen. The bytes are the same as msgpack-c's (the wire tests
// compare them at every length boundary).

/// Packs a map key known at compile time, a fixstr of 1 to 31 bytes, as one small store.
template <size_t N>
[[gnu::always_inline]] inline void pack_key(buffer& out, const char (&key)[N]) {
  static_assert(N >= 2 && N <= 32, "a key is a fixstr: 1 to 31 bytes");
  char* at = out.extend(N);
  at[0] = static_cast<char>(0xa0 | (N - 1));
  std::memcpy(at + 1, key, N - 1);
}

namespace detail {
/// Writes a str or bin header of the smallest form msgpack-c picks (fixstr only for str),
/// and the body, with one check of the room left.
[[gnu::always_inline]] inline void pack_sized(buffer& out, const void* data, size_t n, bool str) {
  const size_t head = str && n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
  auto* at = reinterpret_cast<uint8_t*>(out.extend(head + n));
  const uint8_t base = str ? 0xd9 : 0xc4;  // str8/bin8; 16 and 32 follow
  switch (head) {
    case 1: at[0] = static_cast<uint8_t>(0xa0 | n); break;
    case 2: at[0] = base; at[1] = static_cast<uint8_t>(n); break;
    case 3: at[0] = base + 1; at[1] = static_cast<uint8_t>(n >> 8); at[2] = static_cast<uint8_t>(n); break;
    default:
      at[0] = base + 2;
      for (int i = 0; i < 4; ++i) at[1 + i] = static_cast<uint8_t>(n >> (24 - 8 * i));
  }
  if (n > 0) std::memcpy(at + head, data, n);
}
}  // namespace detail

/// Packs `s` as a str, as msgpack-c would.
inline void pack_str(buffer& out, std::string_view s) {
  detail::pack_sized(out, s.data(), s.size(), true);
}
/// Packs `b` as a bin, as msgpack-c would.
inline void pack_bin(buffer& out, bytes_view b) { detail::pack_sized(out, b.data, b.size, false); }

/// 64-bit hash of an actor id: FNV-1a over the bytes, then the MurmurHash3 fmix64 finalizer.
uint64_t id_hash(bytes_view id) noexcept;
/// The shard of an actor id: id_hash(id) % shards. Part of the wire contract.
uint32_t shard_for(bytes_view id, uint32_t shards = default_shards) noexcept;
inline uint32_t shard_for(std::string_view id, uint32_t shards = default_shards) noexcept {
  return shard_for(bytes_view{reinterpret_cast<const uint8_t*>(id.data()), id.size()}, shards);
}

/// Checks that `data` is exactly one MessagePack object within `max_depth` nesting (at most 64)
/// whose declared container sizes fit in the bytes. Cheap: walks without building anything.
bool is_single_object(const uint8_t* data, size_t size, size_t max_depth = 64) noexcept;

}  // namespace mesh::wire
