// mesh::client: the C++ client library for Mesh clusters (docs/PROTOCOL.md).
//
// A client holds one DEALER socket per host it talks to and keeps many requests in flight from
// one thread. It learns the membership and the placement strategy from the cluster (the
// `members` operation) and sends each actor request straight to the host that owns the key,
// saving the forwarding hop; when the view moves under it it refreshes and sends the same frame
// (same request id) again within the request's deadline.
//
//   mesh::client::client c({"tcp://127.0.0.1:7100"});
//   auto r = c.call("game", "GameActor", "player_1", mesh::client::json_to_msgpack(
//                       {{"action", "move"}, {"x", 1}, {"y", 2}}));
//   if (r) std::cout << mesh::client::json_from_msgpack(r->reply)->dump() << '\n';
//
// Asynchronous form: call_async() / cast_async() / request_async() return at once; their
// handlers run inside poll() (or inside any synchronous call, which polls too), on the thread
// that drives the client. A client is not thread-safe: use one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include <mesh/wire/envelope.hpp>
#include <mesh/wire/shard.hpp>

namespace mesh::client {

/// Encoded MessagePack bytes (one object, unless said otherwise).
using bytes = std::vector<uint8_t>;
/// JSON as the client reads and writes it: objects keep their keys in MessagePack map order.
using json = nlohmann::ordered_json;
using std::chrono::milliseconds;

/// Who produced an error: the host (an error reply) or this client (no usable reply).
enum class error_origin : uint8_t { host, client };

/// A failed request. Host errors carry the wire code (mesh::wire::error_code names, or a code
/// from a newer host this client does not know). Client errors use these codes:
/// "timeout" (no reply before the deadline), "transport" (ZeroMQ failed), "protocol_error"
/// (the reply could not be decoded or lacks a field the operation promises), "bad_argument"
/// (the request was refused before sending: empty module, unknown endpoint, ...).
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

/// The result of a call, owned.
struct call_result {
  bytes reply;  ///< the handler's reply: one MessagePack object
  actor_info actor;
};

/// A successful reply envelope ("ok": true) as the async layer hands it over. The views point
/// into the reply frame and are valid only while the handler runs; copy what you keep.
struct reply_view {
  const wire::reply& decoded;  ///< rid, body, actor (no envelope tree: decode `frame` for more)
  wire::bytes_view frame;      ///< the whole encoded reply map
};

/// What an actor request carries. Views: the client encodes the request before call_async()
/// returns, so they need not outlive the call.
struct actor_request {
  std::string_view capability;
  std::string_view module;
  std::string_view id;
  wire::bytes_view payload;               ///< one MessagePack object; empty sends nil
  std::optional<wire::bytes_view> init;   ///< used only if this request activates the actor
  milliseconds timeout{0};                ///< 0: options::timeout. Enforced by the host too
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
  std::vector<std::string> capabilities;          ///< served by this host, sorted
  std::vector<std::string> cluster_capabilities;  ///< served by some host of its view, sorted
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

/// One host as the asked host sees it (the members operation).
struct member_info {
  std::string name;
  std::string endpoint;  ///< request endpoint
  std::string gossip;    ///< gossip endpoint ("" for a single host)
  std::vector<std::string> capabilities;
  std::string status;  ///< "alive", "suspect", "dead" or "leaving"
  uint64_t incarnation = 0;
  uint64_t version = 0;
  bool self = false;  ///< the host that answered
  uint64_t last_heard_ms = 0;
  /// Whether requests may be routed to it (alive or suspect: what hosts route by).
  bool routable() const noexcept { return status == "alive" || status == "suspect"; }
};

/// The members operation's answer.
struct members_info {
  uint64_t epoch = 0;
  std::string strategy;  ///< placement strategy name ("" from a host that does not say)
  uint32_t shards = 0;   ///< 0 from a host that does not say
  std::vector<member_info> members;  ///< sorted by name
};

/// The owner operation's answer.
struct owner_info {
  uint32_t shard = 0;
  uint32_t shards = 0;
  std::string owner;     ///< host name
  std::string endpoint;  ///< its request endpoint
};

/// How long operations without a timeout of their own wait for a reply by default.
inline constexpr milliseconds default_wait{5000};
/// How long a call waits beyond its own timeout for the host's timeout reply before it gives
/// up on its side: the host answers "timeout" itself, and that answer is more informative.
inline constexpr milliseconds reply_margin{1000};

/// How a client routes and retries.
struct options {
  /// Deadline of calls that do not set one; the wait of other requests.
  milliseconds timeout{wire::default_timeout_ms};
  /// Send actor requests to the owner computed from the cluster's view (true), or to the given
  /// hosts in turn and let them forward (false, what meshctl does to show routing).
  bool direct = true;
  /// How often the view is refreshed while requests are in flight (and on demand when a reply
  /// shows it is stale).
  milliseconds refresh_interval{1000};
  /// How long one membership query may take before another host is asked.
  milliseconds refresh_timeout{500};
  /// Requests a socket may queue (ZMQ_SNDHWM / ZMQ_RCVHWM).
  int high_water_mark = 100'000;
  /// CURVE, for a cluster started with keys (docs/SECURITY.md): the cluster's public key and
  /// this client's key pair, 40-character Z85 each (<mesh/security/curve_keys.hpp> reads them
  /// from the files `meshctl keygen` writes). All three or none; none talks plain ZeroMQ.
  std::string curve_server_key;
  std::string curve_public_key;
  std::string curve_secret_key;
};

/// Counters of one client (for benchmarks and tests).
struct client_stats {
  uint64_t sent = 0;          ///< frames sent, retries included
  uint64_t retries = 0;       ///< frames sent after an earlier attempt (same request id)
  uint64_t direct = 0;        ///< actor requests sent to the owner of the current view
  uint64_t via_any = 0;       ///< actor requests sent to some host to be forwarded
  uint64_t stale_owner = 0;   ///< calls answered by a host other than the expected owner
  uint64_t refreshes = 0;     ///< membership views applied
  uint64_t late_replies = 0;  ///< replies to requests already completed or abandoned
};

using call_handler = std::function<void(tl::expected<call_result, error>)>;
using cast_handler = std::function<void(tl::expected<void, error>)>;
/// Gets the reply view (valid during the call only) or the error.
using reply_handler = std::function<void(tl::expected<reply_view, error>)>;

class client {
 public:
  /// `endpoints`: one or more hosts of the cluster (ZeroMQ endpoints such as
  /// "tcp://127.0.0.1:7100"); the rest of the cluster is learnt from them. Throws
  /// std::invalid_argument for an empty list or incomplete or malformed CURVE keys, and
  /// zmq::error_t for an endpoint ZeroMQ refuses.
  explicit client(std::vector<std::string> endpoints, options opts = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // --- Asynchronous: return at once; the handler runs inside poll() exactly once. ---

  /// Calls an actor. Routed to the owner (options::direct); re-sent with the same request id
  /// when the reply says it was not run (shutting_down, overloaded, wrong_owner) or when the
  /// host it went to leaves the view, while the deadline allows.
  void call_async(const actor_request& req, call_handler done);
  /// Like call_async, but hands over the reply without copying it.
  void call_async_view(const actor_request& req, reply_handler done);
  /// One-way message; the handler runs once the host has accepted it.
  void cast_async(const actor_request& req, cast_handler done);
  /// Any request (queries, control operations) to `endpoint`, or to any known host when
  /// `endpoint` is empty. `req.rid` is ignored (the client numbers requests).
  void request_async(const wire::request& req, reply_handler done, std::string_view endpoint = {},
                     milliseconds wait = default_wait);

  /// Receives replies and runs their handlers, fails requests whose deadline passed, re-sends
  /// what must be re-sent. Waits up to `wait` for the first event; returns how many requests
  /// completed.
  size_t poll(milliseconds wait);
  /// Polls until no request is in flight or `limit` passed; returns whether none is left.
  bool drain(milliseconds limit);
  /// Requests whose handler has not run yet.
  size_t in_flight() const noexcept;

  // --- Synchronous: each polls (running other requests' handlers) until its answer. ---

  tl::expected<call_result, error> call(std::string_view capability, std::string_view module,
                                        std::string_view id, const bytes& payload,
                                        const std::optional<bytes>& init = std::nullopt,
                                        milliseconds timeout = milliseconds{0});
  tl::expected<void, error> cast(std::string_view capability, std::string_view module,
                                 std::string_view id, const bytes& payload,
                                 const std::optional<bytes>& init = std::nullopt);

  /// The whole reply envelope (MessagePack) of any request, to `endpoint` or any host.
  tl::expected<bytes, error> request(const wire::request& req, std::string_view endpoint = {},
                                     milliseconds wait = default_wait);

  tl::expected<members_info, error> members(std::string_view endpoint = {});
  tl::expected<std::vector<std::string>, error> nodes_for(std::string_view capability,
                                                          std::string_view endpoint = {});
  tl::expected<owner_info, error> owner(std::string_view id, std::string_view capability,
                                        std::string_view endpoint = {});
  tl::expected<capabilities_info, error> capabilities(std::string_view endpoint = {});
  /// Adds `names` to the capabilities `endpoint` (or the first host) serves; returns its full
  /// served set afterwards.
  tl::expected<std::vector<std::string>, error> register_capabilities(
      const std::vector<std::string>& names, std::string_view endpoint = {});
  tl::expected<ping_info, error> ping(std::string_view endpoint = {});
  /// The shard of `id` under the host's shard count, asked of the host.
  tl::expected<shard_info, error> remote_shard(std::string_view id,
                                               std::string_view endpoint = {});
  /// The shard of `id`, computed here with the documented hash and the cluster's shard count
  /// (4096 until a view is known).
  uint32_t shard_for(std::string_view id) const noexcept;

  /// Fetches the membership now and routes by it (also done automatically).
  tl::expected<void, error> refresh();
  /// The view the client routes by (empty members before the first refresh).
  const members_info& view() const noexcept;
  /// The host name that owns `id` of `capability` in the current view, if the client can
  /// compute it (a known built-in strategy and a host with the capability).
  std::optional<std::string> owner_in_view(std::string_view id,
                                           std::string_view capability) const;

  const client_stats& stats() const noexcept;
  const options& settings() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
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

/// Views of owned bytes and strings, for actor_request.
inline wire::bytes_view view_of(const bytes& b) noexcept { return {b.data(), b.size()}; }
inline wire::bytes_view view_of(std::string_view s) noexcept {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace mesh::client
