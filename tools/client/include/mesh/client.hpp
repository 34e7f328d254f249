// mesh::client: a small synchronous client for one Mesh host (docs/PROTOCOL.md).
//
// One connection owns a ZeroMQ context and a DEALER socket and sends one request at a time. Every
// result is owned (copied out of the reply frame), so it outlives the ZeroMQ message it came in.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>
#include <zmq.hpp>

#include "wire/wire.hpp"

namespace mesh::client {

/// Encoded MessagePack bytes (one object, unless said otherwise).
using bytes = std::vector<uint8_t>;
/// JSON as the client reads and writes it: objects keep their keys in MessagePack map order.
using json = nlohmann::ordered_json;

/// Who produced an error: the host (an error reply) or this client (no usable reply).
enum class error_origin : uint8_t { host, client };

/// A failed request. Host errors carry the wire code (mesh::wire::error_code names, or a code
/// from a newer host this client does not know). Client errors use these codes:
/// "timeout" (no reply before the wait ended), "transport" (ZeroMQ failed), "protocol_error"
/// (the reply could not be decoded or lacks a field the operation promises).
struct error {
  std::string code;
  std::string message;
  error_origin origin = error_origin::client;
};

/// Which activation of which actor served a call.
struct actor_info {
  std::string host;
  std::string module;
  std::string id;           ///< the actor id as the host echoed it (raw bytes)
  uint64_t activation = 0;  ///< changes whenever the actor is re-created
};

/// A successful reply ("ok": true), copied out of its frame.
struct response {
  uint64_t rid = 0;
  bytes reply;                      ///< "reply" of a call (one MessagePack object), else empty
  std::optional<actor_info> actor;  ///< "actor" of a call
  bytes envelope;                   ///< the whole reply map, for op-specific fields
};

/// The result of a call.
struct call_result {
  bytes reply;  ///< the handler's reply: one MessagePack object
  actor_info actor;
};

/// One loaded actor module, as listed by the capabilities operation.
struct module_info {
  std::string module;
  std::string capability;
  std::string plugin;  ///< file name of the plugin that provides it
};

/// The host's answer to the capabilities operation.
struct capabilities_info {
  std::string host;
  std::vector<std::string> capabilities;  ///< served capabilities, sorted
  std::vector<module_info> modules;
};

/// The host's answer to the shard operation.
struct shard_info {
  uint32_t shard = 0;
  uint32_t shards = 0;
};

/// The host's answer to the ping operation.
struct ping_info {
  std::string host;
  uint32_t shards = 0;
};

/// How long a call waits beyond its own timeout_ms for the host's timeout reply before it gives
/// up on its side: the host answers "timeout" itself, and that answer is more informative.
inline constexpr std::chrono::milliseconds reply_margin{1000};
/// How long the operations without a timeout of their own wait for a reply by default.
inline constexpr std::chrono::milliseconds default_wait{5000};

/// A connection to one host. Not thread-safe: use it from one thread, one request at a time.
class connection {
 public:
  /// Connects a DEALER socket (linger 0) to `endpoint`, e.g. "tcp://127.0.0.1:7100". ZeroMQ
  /// connects in the background; throws zmq::error_t only for an endpoint it cannot use.
  explicit connection(const std::string& endpoint);

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Sends `req` with a fresh request id (req.rid is ignored) and waits up to `wait` for the
  /// reply carrying that id; replies with other ids (late answers to requests this connection
  /// gave up on) are dropped, except an error with rid 0, which the host sends when it could not
  /// decode a request and which is taken as this request's answer. An "ok": false reply becomes
  /// an error with origin host.
  tl::expected<response, error> request(const mesh::wire::request& req,
                                        std::chrono::milliseconds wait);

  /// Calls actor (`module`, `id`) of `capability` with `payload` (one MessagePack object; empty
  /// sends nil). `init` is used only if this call activates the actor. The host enforces
  /// `timeout`; this client waits `timeout` + reply_margin.
  tl::expected<call_result, error> call(
      std::string_view capability, std::string_view module, std::string_view id,
      const bytes& payload, const std::optional<bytes>& init = std::nullopt,
      std::chrono::milliseconds timeout = std::chrono::milliseconds{
          mesh::wire::default_timeout_ms});

  /// Sends a one-way message; succeeds once the host has accepted it (before the handler runs).
  tl::expected<void, error> cast(std::string_view capability, std::string_view module,
                                 std::string_view id, const bytes& payload,
                                 const std::optional<bytes>& init = std::nullopt,
                                 std::chrono::milliseconds wait = default_wait);

  /// Asks the host which shard `id` falls in under its shard count.
  tl::expected<shard_info, error> shard(std::string_view id,
                                        std::chrono::milliseconds wait = default_wait);

  /// Lists the capabilities the host serves and the modules it has loaded.
  tl::expected<capabilities_info, error> capabilities(
      std::chrono::milliseconds wait = default_wait);

  /// Adds `names` to the served capabilities; returns the full served set afterwards.
  tl::expected<std::vector<std::string>, error> register_capabilities(
      const std::vector<std::string>& names, std::chrono::milliseconds wait = default_wait);

  /// Checks that the host answers; returns its name and shard count.
  tl::expected<ping_info, error> ping(std::chrono::milliseconds wait = default_wait);

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  uint64_t next_rid_ = 1;
};

/// Encodes JSON as one MessagePack object. JSON binary values become bin (or ext when they carry
/// a subtype).
bytes json_to_msgpack(const json& value);

/// Decodes one MessagePack object into JSON, with decode limits. bin becomes a JSON binary
/// value, ext a binary value whose subtype is the ext type; map keys that are not strings become
/// their compact JSON text (1 -> "1"). Fails for anything but exactly one well-formed object.
tl::expected<json, error> json_from_msgpack(const uint8_t* data, size_t size);
inline tl::expected<json, error> json_from_msgpack(const bytes& data) {
  return json_from_msgpack(data.data(), data.size());
}

}  // namespace mesh::client
