// Request and reply envelopes (MessagePack maps): decoding under limits, and encoding.
// docs/PROTOCOL.md is the normative description; this file implements it for the host and the
// C++ clients.
#pragma once

#include <mesh/wire/buffer.hpp>
#include <mesh/wire/error_code.hpp>
#include <mesh/wire/protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace mesh::wire {

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
  /// call and cast from an actor: the actors whose calls led here, oldest first, as the
  /// MessagePack strings ("Module/id") of the envelope's "chain" array, without its header:
  /// `chain_len` of them in `chain`. Empty for a client's request.
  bytes_view chain;
  uint32_t chain_len = 0;
  std::vector<std::string_view> capabilities;  ///< register_capabilities only
  uint32_t limit = default_actors_limit;       ///< actors only: page size
  bytes_view after;  ///< actors only: the cursor of the previous page (empty = first page)
};

/// The longest call chain an actor's call may carry (hops), and the longest hop ("Module/id").
inline constexpr uint32_t max_call_chain = 16;
inline constexpr size_t max_chain_hop = 256;

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
/// The `rid` of a request that decode_request refused, so that the refusal can echo it: the
/// frame must be one MessagePack map (under `limits`) whose "rid" is an unsigned integer;
/// otherwise nullopt (the reply then carries rid 0). For the error path only.
std::optional<uint64_t> read_rid(const uint8_t* data, size_t size,
                                 const decode_limits& limits = {}) noexcept;

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

}  // namespace mesh::wire
