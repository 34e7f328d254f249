#include "client/client.hpp"

#include <algorithm>
#include <utility>

namespace mesh::client {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

/// Limits for reply envelopes: the defaults, with room for long capability and module lists.
mesh::wire::decode_limits reply_limits() {
  mesh::wire::decode_limits limits;
  limits.max_array = 64 * 1024;
  return limits;
}

/// Nesting allowed in payloads and replies converted to JSON (the host's own bound).
constexpr size_t max_value_depth = 64;

tl::unexpected<error> client_error(std::string code, std::string message) {
  return tl::unexpected(error{std::move(code), std::move(message), error_origin::client});
}

tl::unexpected<error> missing_field(std::string_view op, std::string_view field) {
  return client_error("protocol_error", "the " + std::string(op) + " reply has no valid \"" +
                                            std::string(field) + "\"");
}

mesh::wire::bytes_view view_of(const bytes& b) { return {b.data(), b.size()}; }

mesh::wire::bytes_view view_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string_view str_of(const msgpack::object& o) { return {o.via.str.ptr, o.via.str.size}; }

/// The value under `key` in map `map`, or nullptr.
const msgpack::object* find(const msgpack::object& map, std::string_view key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && str_of(kv.key) == key) return &kv.val;
  }
  return nullptr;
}

std::optional<std::string> find_str(const msgpack::object& map, std::string_view key) {
  const auto* v = find(map, key);
  if (v == nullptr || v->type != msgpack::type::STR) return std::nullopt;
  return std::string(str_of(*v));
}

std::optional<uint32_t> find_u32(const msgpack::object& map, std::string_view key) {
  const auto* v = find(map, key);
  if (v == nullptr || v->type != msgpack::type::POSITIVE_INTEGER || v->via.u64 > UINT32_MAX)
    return std::nullopt;
  return static_cast<uint32_t>(v->via.u64);
}

std::optional<std::vector<std::string>> find_str_array(const msgpack::object& map,
                                                       std::string_view key) {
  const auto* v = find(map, key);
  if (v == nullptr || v->type != msgpack::type::ARRAY) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(v->via.array.size);
  for (uint32_t i = 0; i < v->via.array.size; ++i) {
    const auto& item = v->via.array.ptr[i];
    if (item.type != msgpack::type::STR) return std::nullopt;
    out.emplace_back(str_of(item));
  }
  return out;
}

/// Decodes a response's stored envelope again to read op-specific fields; `zone` owns the tree.
const msgpack::object* envelope_of(const response& r, msgpack::zone& zone) {
  auto decoded =
      mesh::wire::decode_reply(r.envelope.data(), r.envelope.size(), zone, reply_limits());
  return decoded ? decoded->envelope : nullptr;
}

mesh::wire::request actor_request(mesh::wire::op kind, std::string_view capability,
                                  std::string_view module, std::string_view id,
                                  const bytes& payload, const std::optional<bytes>& init) {
  mesh::wire::request req;
  req.kind = kind;
  req.capability = capability;
  req.module = module;
  req.id = view_of(id);
  req.payload = view_of(payload);
  if (init) req.init_arg = view_of(*init);
  return req;
}

json to_json(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return nullptr;
    case msgpack::type::BOOLEAN:
      return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
      return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    case msgpack::type::STR:
      return std::string(str_of(o));
    case msgpack::type::BIN: {
      const auto* p = reinterpret_cast<const uint8_t*>(o.via.bin.ptr);
      return json::binary(json::binary_t::container_type(p, p + o.via.bin.size));
    }
    case msgpack::type::EXT: {
      const auto* p = reinterpret_cast<const uint8_t*>(o.via.ext.data());
      return json::binary(json::binary_t::container_type(p, p + o.via.ext.size),
                          static_cast<std::uint8_t>(o.via.ext.type()));
    }
    case msgpack::type::ARRAY: {
      json out = json::array();
      for (uint32_t i = 0; i < o.via.array.size; ++i) out.push_back(to_json(o.via.array.ptr[i]));
      return out;
    }
    case msgpack::type::MAP: {
      json out = json::object();
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        std::string key =
            kv.key.type == msgpack::type::STR
                ? std::string(str_of(kv.key))
                : to_json(kv.key).dump(-1, ' ', false, json::error_handler_t::replace);
        out[std::move(key)] = to_json(kv.val);
      }
      return out;
    }
  }
  return nullptr;
}

}  // namespace

connection::connection(const std::string& endpoint)
    : context_(1), socket_(context_, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.connect(endpoint);
}

tl::expected<response, error> connection::request(const mesh::wire::request& req,
                                                  milliseconds wait) {
  mesh::wire::request numbered = req;
  numbered.rid = next_rid_++;
  mesh::wire::buffer out;
  mesh::wire::encode_request(out, numbered);
  try {
    if (!socket_.send(zmq::const_buffer(out.data(), out.size()), zmq::send_flags::dontwait))
      return client_error("transport", "the request could not be queued for sending");
    const auto deadline = steady_clock::now() + wait;
    for (;;) {
      const auto now = steady_clock::now();
      if (now >= deadline)
        return client_error("timeout", "no reply within " + std::to_string(wait.count()) + " ms");
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::ceil<milliseconds>(deadline - now));
      if ((item.revents & ZMQ_POLLIN) == 0) continue;
      // A reply is one frame, after an empty delimiter only if the request had one.
      zmq::message_t frame;
      if (!socket_.recv(frame, zmq::recv_flags::dontwait)) continue;
      while (frame.more()) (void)socket_.recv(frame);
      msgpack::zone zone;
      auto decoded = mesh::wire::decode_reply(static_cast<const uint8_t*>(frame.data()),
                                              frame.size(), zone, reply_limits());
      if (!decoded)
        return client_error("protocol_error",
                            "the host's reply could not be decoded: " + decoded.error().message);
      // rid 0 answers a request whose rid the host could not read; with one request in flight
      // it is ours. Any other rid belongs to a request this connection already gave up on.
      const bool ours = decoded->rid == numbered.rid || (decoded->rid == 0 && !decoded->ok);
      if (!ours) continue;
      if (!decoded->ok) {
        std::string code = decoded->error_code.empty() ? "internal" : decoded->error_code;
        return tl::unexpected(error{std::move(code), decoded->error_message, error_origin::host});
      }
      response r;
      r.rid = decoded->rid;
      const auto& body = decoded->body;
      r.reply.assign(body.data, body.data + body.size);
      if (decoded->has_actor) {
        const auto& a = decoded->actor;
        r.actor = actor_info{std::string(a.host), std::string(a.module),
                             std::string(a.id.as_string()), a.activation};
      }
      const auto* f = static_cast<const uint8_t*>(frame.data());
      r.envelope.assign(f, f + frame.size());
      return r;
    }
  } catch (const zmq::error_t& e) {
    return client_error("transport", e.what());
  }
}

tl::expected<call_result, error> connection::call(std::string_view capability,
                                                  std::string_view module, std::string_view id,
                                                  const bytes& payload,
                                                  const std::optional<bytes>& init,
                                                  milliseconds timeout) {
  auto req = actor_request(mesh::wire::op::call, capability, module, id, payload, init);
  req.timeout_ms = static_cast<uint32_t>(
      std::clamp<milliseconds::rep>(timeout.count(), 1, mesh::wire::max_timeout_ms));
  auto r = request(req, milliseconds{req.timeout_ms} + reply_margin);
  if (!r) return tl::unexpected(std::move(r.error()));
  if (!r->actor) return missing_field("call", "actor");
  if (r->reply.empty()) return missing_field("call", "reply");
  return call_result{std::move(r->reply), std::move(*r->actor)};
}

tl::expected<void, error> connection::cast(std::string_view capability, std::string_view module,
                                           std::string_view id, const bytes& payload,
                                           const std::optional<bytes>& init, milliseconds wait) {
  auto r =
      request(actor_request(mesh::wire::op::cast, capability, module, id, payload, init), wait);
  if (!r) return tl::unexpected(std::move(r.error()));
  return {};
}

tl::expected<shard_info, error> connection::shard(std::string_view id, milliseconds wait) {
  mesh::wire::request req;
  req.kind = mesh::wire::op::shard;
  req.id = view_of(id);
  auto r = request(req, wait);
  if (!r) return tl::unexpected(std::move(r.error()));
  msgpack::zone zone;
  const auto* env = envelope_of(*r, zone);
  if (env == nullptr) return missing_field("shard", "shard");
  auto shard = find_u32(*env, "shard");
  auto shards = find_u32(*env, "shards");
  if (!shard) return missing_field("shard", "shard");
  if (!shards) return missing_field("shard", "shards");
  return shard_info{*shard, *shards};
}

tl::expected<capabilities_info, error> connection::capabilities(milliseconds wait) {
  mesh::wire::request req;
  req.kind = mesh::wire::op::capabilities;
  auto r = request(req, wait);
  if (!r) return tl::unexpected(std::move(r.error()));
  msgpack::zone zone;
  const auto* env = envelope_of(*r, zone);
  if (env == nullptr) return missing_field("capabilities", "caps");
  capabilities_info info;
  auto caps = find_str_array(*env, "caps");
  if (!caps) return missing_field("capabilities", "caps");
  info.capabilities = std::move(*caps);
  info.host = find_str(*env, "host").value_or("");
  const auto* modules = find(*env, "modules");
  if (modules == nullptr || modules->type != msgpack::type::ARRAY)
    return missing_field("capabilities", "modules");
  for (uint32_t i = 0; i < modules->via.array.size; ++i) {
    const auto& m = modules->via.array.ptr[i];
    info.modules.push_back(module_info{find_str(m, "mod").value_or(""),
                                       find_str(m, "cap").value_or(""),
                                       find_str(m, "plugin").value_or("")});
  }
  return info;
}

tl::expected<std::vector<std::string>, error> connection::register_capabilities(
    const std::vector<std::string>& names, milliseconds wait) {
  mesh::wire::request req;
  req.kind = mesh::wire::op::register_capabilities;
  req.capabilities.assign(names.begin(), names.end());
  auto r = request(req, wait);
  if (!r) return tl::unexpected(std::move(r.error()));
  msgpack::zone zone;
  const auto* env = envelope_of(*r, zone);
  if (env == nullptr) return missing_field("register_capabilities", "caps");
  auto caps = find_str_array(*env, "caps");
  if (!caps) return missing_field("register_capabilities", "caps");
  return std::move(*caps);
}

tl::expected<ping_info, error> connection::ping(milliseconds wait) {
  mesh::wire::request req;
  req.kind = mesh::wire::op::ping;
  auto r = request(req, wait);
  if (!r) return tl::unexpected(std::move(r.error()));
  msgpack::zone zone;
  const auto* env = envelope_of(*r, zone);
  if (env == nullptr) return missing_field("ping", "host");
  auto shards = find_u32(*env, "shards");
  if (!shards) return missing_field("ping", "shards");
  return ping_info{find_str(*env, "host").value_or(""), *shards};
}

bytes json_to_msgpack(const json& value) { return json::to_msgpack(value); }

tl::expected<json, error> json_from_msgpack(const uint8_t* data, size_t size) {
  // Walk first: checks for exactly one object, bounded depth, and container sizes that fit in
  // the bytes, so unpacking below cannot be asked for more memory than the input justifies.
  if (!mesh::wire::is_single_object(data, size, max_value_depth))
    return client_error("protocol_error", "not exactly one well-formed MessagePack object");
  const msgpack::unpack_limit limit(size, size, size, size, size, max_value_depth);
  msgpack::zone zone;
  std::size_t offset = 0;
  try {
    const msgpack::object root = msgpack::unpack(zone, reinterpret_cast<const char*>(data), size,
                                                 offset, nullptr, nullptr, limit);
    return to_json(root);
  } catch (const std::exception& e) {
    return client_error("protocol_error", std::string("bad MessagePack: ") + e.what());
  }
}

}  // namespace mesh::client
